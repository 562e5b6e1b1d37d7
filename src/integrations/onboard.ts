import { KomboStreamError } from '../errors.ts';
import type { RateLimiter } from '../fetcher/rate-limit.ts';
import { KomboApiError, type KomboClient } from '../kombo/client.ts';
import type { IntegrationInfo } from '../kombo/integration-info.ts';
import { endpointsOfCategory } from '../planner/plan.ts';
import { enqueueTasks } from '../planner/trigger.ts';
import type { Producer } from '../topics/kafka.ts';
import { type LifecycleDeps, type LifecycleState, lifecycleState, refreshIntegration } from './lifecycle.ts';

/** Kombo knows none of these ids: nothing was added. */
export class UnknownKomboIntegrationsError extends KomboStreamError {
  readonly ids: readonly string[];
  constructor(ids: readonly string[]) {
    super(
      'KS_ERR_UNKNOWN_KOMBO_INTEGRATION',
      `Kombo knows no integration ${ids.join(', ')} (for this API key and region): nothing was added`,
    );
    this.ids = ids;
  }
}

export interface Added {
  integration_id: string;
  tool: string;
  category: string;
  /** Known to the connector before: only its lifecycle was read again. */
  already_known: boolean;
  state: LifecycleState;
  /** Why it is held, when it is. */
  hold?: string;
  mirrored: number;
  queued: number;
}

export interface OnboardDeps extends LifecycleDeps {
  client: KomboClient;
  limiter: RateLimiter;
  producer: Producer;
}

/**
 * Onboarding integrations that exist at Kombo already (`kombo-stream integrations add`, POST
 * /admin/integrations): every id is looked up first, and one Kombo does not know adds none of
 * them, so a file of ids with a typo changes nothing. Then each is registered with its tool and
 * category, its lifecycle read, and its first full fetches queued (unless Kombo says its first sync
 * is pending or it needs attention: its release queues them). Adding an id already known refreshes
 * its lifecycle and queues nothing more.
 */
export async function addIntegrations(deps: OnboardDeps, ids: readonly string[]): Promise<Added[]> {
  const unique = [...new Set(ids.map((i) => i.trim()).filter(Boolean))];
  const infos = new Map<string, IntegrationInfo>();
  const unknown: string[] = [];
  for (const id of unique) {
    try {
      await deps.limiter.acquire(id);
      infos.set(id, await deps.client.getIntegration(id));
    } catch (err) {
      if (err instanceof KomboApiError && (err.komboCode === 'PLATFORM.INTEGRATION_NOT_FOUND' || err.status === 404))
        unknown.push(id);
      else throw err;
    }
  }
  if (unknown.length) throw new UnknownKomboIntegrationsError(unknown);
  const out: Added[] = [];
  for (const [id, info] of infos) {
    const before = await deps.store.getIntegration(id);
    const already = Boolean(before && !before.deleted_at);
    const r = await refreshIntegration(deps, id, info);
    await enqueueTasks(deps.producer, deps.config.kafka.topicPrefix, r.tasks);
    const row = await deps.store.getIntegration(id);
    out.push({
      integration_id: id,
      tool: info.tool.id,
      category: info.category,
      already_known: already,
      state: row ? lifecycleState(row, await deps.lifecycle.get(id)) : 'active',
      ...(r.hold ? { hold: `${r.hold.code}: ${r.hold.message}` } : {}),
      mirrored: endpointsOfCategory(info.category, deps.config.kombo.endpoints).length,
      queued: r.tasks.length,
    });
  }
  return out;
}
