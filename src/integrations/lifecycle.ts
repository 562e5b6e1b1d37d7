import type { Config } from '../config/config.ts';
import { KomboApiError, type KomboClient } from '../kombo/client.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { availableEndpoints, type IntegrationInfo, unavailableEndpoints } from '../kombo/integration-info.ts';
import { endpointsOfCategory } from '../planner/plan.ts';
import { type FetchTask, newTask } from '../planner/task.ts';
import { dbNow } from '../state/clock.ts';
import { FetchRuns } from '../state/fetch-runs.ts';
import type { StateStore } from '../state/store.ts';
import type { Hold, LifecycleRow, LifecycleStore } from './store.ts';

/** What each Kombo code says to do, for the operator reading the status. */
const GUIDANCE: Record<string, string> = {
  'INTEGRATION.SETUP_SYNC_PENDING': 'the first sync is still running at Kombo; the mirror starts when it is done',
  'INTEGRATION.SETUP_INCOMPLETE': 'the customer has not finished the setup in the connection flow',
  'INTEGRATION.QA_FAILED': "Kombo's quality check of the first sync failed; see the integration in the Kombo dashboard",
  'INTEGRATION.INACTIVE': 'the integration was set inactive; enable it again in the Kombo dashboard',
  'INTEGRATION.AUTHENTICATION_INVALID': "the customer's credentials are invalid; ask them to reconnect (relink)",
  'INTEGRATION.PERMISSION_MISSING': "the customer's account lacks a permission Kombo needs; ask them to grant it",
};

const PARKING = new Set(['INTEGRATION.SETUP_SYNC_PENDING']);

function holdOf(code: string, detail?: string): Hold {
  const why = GUIDANCE[code] ?? 'see the integration in the Kombo dashboard';
  return {
    kind: PARKING.has(code) ? 'setup_pending' : 'attention',
    code,
    message: detail ? `${why} (${detail})` : why,
  };
}

/**
 * What an error of a fetch says about the integration, decided by Kombo's code as Kombo advises
 * (never by HTTP status): a hold of the whole integration, or an endpoint it does not have.
 */
export type FetchProblem = { hold: Hold } | { unavailable: string };

export function fetchProblem(err: unknown): FetchProblem | undefined {
  if (!(err instanceof KomboApiError) || !err.komboCode) return undefined;
  const code = err.komboCode;
  if (code === 'INTEGRATION.MODEL_NOT_AVAILABLE' || code === 'INTEGRATION.MODEL_DISABLED') return { unavailable: code };
  if (code in GUIDANCE) return { hold: holdOf(code) };
  return undefined;
}

/** The hold Kombo's own account of the integration implies, if any. */
export function holdFromInfo(
  info: Pick<IntegrationInfo, 'status' | 'setup_status'>,
  qaStatus?: string | null,
): Hold | null {
  if (info.status === 'INVALID') return holdOf('INTEGRATION.AUTHENTICATION_INVALID', 'status INVALID');
  if (info.status === 'INACTIVE') return holdOf('INTEGRATION.INACTIVE');
  if (info.status !== 'ACTIVE') return holdOf(`KOMBO.STATUS_${info.status}`, `status ${info.status}`);
  if (info.setup_status === 'INCOMPLETE') return holdOf('INTEGRATION.SETUP_INCOMPLETE');
  if (qaStatus === 'FAILED') return holdOf('INTEGRATION.QA_FAILED');
  if (info.setup_status !== 'COMPLETED') return holdOf('INTEGRATION.SETUP_SYNC_PENDING', info.setup_status);
  return null;
}

export type LifecycleState = 'active' | 'paused' | 'setup_pending' | 'needs_attention' | 'deleted';

/** One word for an integration's state, from the connector's rows. */
export function lifecycleState(
  i: { paused: boolean; deleted_at: Date | null },
  l: Pick<LifecycleRow, 'hold'> | undefined,
): LifecycleState {
  if (i.deleted_at) return 'deleted';
  if (i.paused) return 'paused';
  if (l?.hold === 'setup_pending') return 'setup_pending';
  if (l?.hold === 'attention') return 'needs_attention';
  return 'active';
}

export interface LifecycleDeps {
  config: Config;
  store: StateStore;
  lifecycle: LifecycleStore;
}

/**
 * The fetches that make up for a hold or a pause: per endpoint the integration has, a full fetch
 * where none ever finished (or the latest one did not), a delta from the watermark elsewhere. Tasks
 * skipped while held are thereby never lost: every release queues this.
 */
export async function catchUpTasks(deps: LifecycleDeps, integrationId: string, reason: string): Promise<FetchTask[]> {
  const integration = await deps.store.getIntegration(integrationId);
  if (!integration || integration.deleted_at) return [];
  const endpoints = await mirroredEndpoints(deps, integrationId, integration.category);
  const runs = new FetchRuns(deps.store.pool, deps.store.stateSchema, {
    staleAfterMs: deps.config.fetcher.runStaleAfterMs,
  });
  const unfinished = new Set(await runs.unfinishedFulls(integrationId));
  const states = new Map((await deps.store.endpointStates(integrationId)).map((s) => [s.endpoint, s]));
  const requested_at = await dbNow(deps.store.pool);
  return endpoints.map((endpoint) =>
    newTask({
      integration_id: integrationId,
      endpoint,
      mode: unfinished.has(endpoint) || !states.get(endpoint)?.last_full_finished_at ? 'full' : 'delta',
      reason,
      requested_at,
    }),
  );
}

/** The configured endpoints of the integration's category, minus those it does not have. */
export async function mirroredEndpoints(
  deps: Pick<LifecycleDeps, 'config' | 'lifecycle'>,
  integrationId: string,
  category: string | null | undefined,
): Promise<EndpointName[]> {
  const missing = (await deps.lifecycle.get(integrationId))?.unavailable ?? {};
  return endpointsOfCategory(category ?? undefined, deps.config.kombo.endpoints).filter((e) => !missing[e]);
}

export interface Refreshed {
  info: IntegrationInfo;
  hold: Hold | null;
  /** Tasks the change calls for, to be queued by the caller. */
  tasks: FetchTask[];
}

/**
 * Reads the integration from Kombo and keeps what it says: status, setup status, read models and
 * data_expired_at; holds or releases it accordingly. A release queues the catch-up; data that
 * expired (a scope-config change) and is valid again, and endpoints that became available, get
 * full fetches. A hold that Kombo's account cannot show (PERMISSION_MISSING found by a fetch) is
 * released here and found again by the next fetch if it persists: that is its re-check.
 */
export async function refreshIntegration(
  deps: LifecycleDeps & { client: KomboClient },
  integrationId: string,
  known?: IntegrationInfo,
): Promise<Refreshed> {
  const info = known ?? (await deps.client.getIntegration(integrationId));
  const before = await deps.lifecycle.get(integrationId);
  const hold = holdFromInfo(info, before?.qa_status);
  const category = endpointsOfCategory(info.category, deps.config.kombo.endpoints);
  // Kombo's account wins for the models it lists; a model error of a model it does not list stays.
  const listed = new Set([...availableEndpoints(info, category), ...unavailableEndpoints(info, category)]);
  const unavailable: Partial<Record<EndpointName, string>> = {};
  for (const [e, code] of Object.entries(before?.unavailable ?? {}))
    if (!listed.has(e as EndpointName)) unavailable[e as EndpointName] = code;
  for (const e of unavailableEndpoints(info, category)) unavailable[e] = 'READ_MODEL_UNAVAILABLE';
  const { refreshIntervalMs, recheckIntervalMs } = deps.config.planner;
  await deps.store.upsertIntegration({ integration_id: integrationId, tool: info.tool.id, category: info.category });
  await deps.lifecycle.observe(
    integrationId,
    {
      kombo_status: info.status,
      setup_status: info.setup_status,
      data_expired_at: info.data_expired_at ?? null,
      read_models: info.read_models.map((m) => ({ id: m.id, is_available: m.is_available })),
      unavailable,
      hold,
    },
    hold ? recheckIntervalMs : refreshIntervalMs,
  );
  if (hold) return { info, hold, tasks: [] };
  if (before?.hold) return { info, hold, tasks: await catchUpTasks(deps, integrationId, 'lifecycle:resumed') };
  // Known only now (onboarded, or named by a state webhook) and never fetched: its first fetches. An
  // integration-created webhook queued those itself, and its fetches have started or will cover these.
  if (!before?.refreshed_at && (await deps.store.endpointStates(integrationId)).length === 0)
    return { info, hold, tasks: await catchUpTasks(deps, integrationId, 'lifecycle:first-fetch') };
  const requested_at = await dbNow(deps.store.pool);
  const full = (endpoints: EndpointName[], reason: string) =>
    endpoints.map((endpoint) =>
      newTask({ integration_id: integrationId, endpoint, mode: 'full', reason, requested_at }),
    );
  const back = category.filter((e) => before?.unavailable[e] && !unavailable[e]);
  const revalidated = Boolean(before?.data_expired_at) && !info.data_expired_at;
  return {
    info,
    hold,
    tasks: revalidated
      ? full(
          category.filter((e) => !unavailable[e]),
          'lifecycle:data-revalidated',
        )
      : full(back, 'lifecycle:model-available'),
  };
}
