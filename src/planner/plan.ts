import type { EndpointName } from '../kombo/endpoints.ts';
import { endpointsForModels, unknownModels } from '../kombo/models.ts';
import { isKnownEvent, type KomboEvent } from '../kombo/webhooks.ts';
import { type FetchTask, newTask } from './task.ts';

export interface IntegrationUpdate {
  integration_id: string;
  tool?: string;
  category?: string;
  /** The integration sends webhooks: the scheduler's delta polling stops for it. */
  webhook?: boolean;
  deleted?: boolean;
}

export interface Plan {
  tasks: FetchTask[];
  integration?: IntegrationUpdate;
  /** data-changed model names the model map does not know: they planned nothing. */
  unknownModels?: string[];
}

/** The mirrored endpoints of an integration's category (HRIS or ATS; others have none here). */
export function endpointsOfCategory(category: string | undefined, mirrored: readonly EndpointName[]): EndpointName[] {
  const prefix = `${(category ?? '').toLowerCase()}/`;
  return mirrored.filter((e) => e.startsWith(prefix));
}

/**
 * What a webhook asks for: data-changed -> deltas of the endpoints its models touch; sync-finished
 * (legacy) -> deltas of every endpoint; integration-created -> a first full fetch; integration-deleted
 * -> purges; integration-state-changed -> the integration is known (its lifecycle is read from Kombo).
 * Anything else is stored but plans nothing. `now` (Postgres's clock) stamps the tasks.
 */
export function planEvent(event: KomboEvent, mirrored: readonly EndpointName[], now: Date): Plan {
  const reason = `webhook:${event.type}:${event.id}`;
  const requested_at = now.toISOString();
  if (!isKnownEvent(event)) return { tasks: [] };
  const tasks = (integration_id: string, endpoints: EndpointName[], mode: FetchTask['mode']) =>
    endpoints.map((endpoint) => newTask({ integration_id, endpoint, mode, reason, requested_at }));
  switch (event.type) {
    case 'data-changed': {
      const d = event.data;
      const names = d.changed_models.map((m) => m.name);
      const endpoints = endpointsForModels(names, endpointsOfCategory(d.integration_category, mirrored));
      return {
        tasks: tasks(d.integration_id, endpoints, 'delta'),
        unknownModels: unknownModels(names),
        integration: {
          integration_id: d.integration_id,
          tool: d.integration_tool,
          category: d.integration_category,
          webhook: true,
        },
      };
    }
    case 'sync-finished': {
      const d = event.data;
      return {
        tasks: tasks(d.integration_id, endpointsOfCategory(d.integration_category, mirrored), 'delta'),
        integration: {
          integration_id: d.integration_id,
          tool: d.integration_tool,
          category: d.integration_category,
          webhook: true,
        },
      };
    }
    case 'integration-created': {
      const d = event.data;
      return {
        tasks: tasks(d.id, endpointsOfCategory(d.category, mirrored), 'full'),
        integration: { integration_id: d.id, tool: d.tool, category: d.category },
      };
    }
    case 'integration-deleted': {
      const d = event.data;
      return {
        tasks: tasks(d.id, endpointsOfCategory(d.category, mirrored), 'purge'),
        integration: { integration_id: d.id, tool: d.tool, category: d.category, deleted: true },
      };
    }
    case 'integration-state-changed': {
      // Plans nothing itself: the integration is read from Kombo, which decides (src/integrations).
      const d = event.data;
      return {
        tasks: [],
        integration: { integration_id: d.integration_id, tool: d.integration_tool, category: d.integration_category },
      };
    }
    default:
      return { tasks: [] };
  }
}

/** One task per (integration, endpoint, mode) within a batch: the earliest request stands for all. */
export function coalesce(tasks: readonly FetchTask[]): FetchTask[] {
  const seen = new Map<string, FetchTask>();
  for (const t of tasks) {
    const k = `${t.integration_id}\u0000${t.endpoint}\u0000${t.mode}`;
    if (!seen.has(k)) seen.set(k, t);
  }
  return [...seen.values()];
}
