import type { Config } from '../config/config.ts';
import { KomboStreamError } from '../errors.ts';
import { catchUpTasks, mirroredEndpoints } from '../integrations/lifecycle.ts';
import { LifecycleStore } from '../integrations/store.ts';
import { type EndpointName, isEndpointName } from '../kombo/endpoints.ts';
import { dbNow } from '../state/clock.ts';
import { FetchRuns } from '../state/fetch-runs.ts';
import type { StateStore } from '../state/store.ts';
import type { Producer } from '../topics/kafka.ts';
import { tasksTopic } from '../topics/names.ts';
import { endpointsOfCategory } from './plan.ts';
import { cronPeriodMs } from './schedule.ts';
import { Schedules } from './schedules.ts';
import { type FetchTask, newTask } from './task.ts';

export class UnknownIntegrationError extends KomboStreamError {
  constructor(id: string) {
    super('KS_ERR_UNKNOWN_INTEGRATION', `no integration ${id} is known to this connector`);
  }
}

export class BadTriggerError extends KomboStreamError {
  constructor(message: string) {
    super('KS_ERR_BAD_TRIGGER', message);
  }
}

export interface TriggerDeps {
  config: Config;
  store: StateStore;
  producer: Producer;
}

/** Produces fetch tasks keyed by integration; resolves when Kafka acknowledged them. */
export async function enqueueTasks(producer: Producer, prefix: string, tasks: readonly FetchTask[]): Promise<void> {
  await producer.send(
    tasksTopic(prefix),
    tasks.map((t) => ({ key: t.integration_id, value: JSON.stringify(t) })),
  );
}

/**
 * A manual sync (admin API and `kombo-stream sync`): enqueues delta or full fetches of some or all of
 * an integration's mirrored endpoints. A manual full sync moves the next scheduled full sync to now
 * plus the schedule's period, as Kombo does.
 */
export async function triggerSync(
  deps: TriggerDeps,
  integrationId: string,
  opts: { mode: 'delta' | 'full'; endpoints?: readonly string[]; reason?: string },
): Promise<FetchTask[]> {
  const integration = await deps.store.getIntegration(integrationId);
  if (!integration || integration.deleted_at) throw new UnknownIntegrationError(integrationId);
  const lifecycle = new LifecycleStore(deps.store.pool, deps.store.stateSchema);
  const available = await mirroredEndpoints({ config: deps.config, lifecycle }, integrationId, integration.category);
  const wanted = opts.endpoints?.length ? opts.endpoints : available;
  const bad = wanted.filter((e) => !isEndpointName(e) || !available.includes(e));
  if (bad.length)
    throw new BadTriggerError(
      `not mirrored for ${integrationId}: ${bad.join(', ')} (mirrored: ${available.join(', ')})`,
    );
  const requested_at = await dbNow(deps.store.pool);
  const tasks = (wanted as EndpointName[]).map((endpoint) =>
    newTask({
      integration_id: integrationId,
      endpoint,
      mode: opts.mode,
      reason: opts.reason ?? `manual:${opts.mode}`,
      requested_at,
    }),
  );
  await enqueueTasks(deps.producer, deps.config.kafka.topicPrefix, tasks);
  if (opts.mode === 'full') {
    const { fullSyncCron, fullSyncTimezone } = deps.config.planner;
    const period = cronPeriodMs(fullSyncCron, fullSyncTimezone, new Date());
    await new Schedules(deps.store.pool, deps.store.stateSchema).deferFull(integrationId, wanted, period);
  }
  return tasks;
}

/**
 * After a pause: per endpoint, a catch-up delta from its unchanged watermark, or a full fetch where
 * none finished (one a pause cut off, or none ever).
 */
export async function resumeSyncs(deps: TriggerDeps, integrationId: string): Promise<FetchTask[]> {
  const lifecycle = new LifecycleStore(deps.store.pool, deps.store.stateSchema);
  const tasks = await catchUpTasks({ ...deps, lifecycle }, integrationId, 'admin:resume');
  await enqueueTasks(deps.producer, deps.config.kafka.topicPrefix, tasks);
  return tasks;
}

/**
 * The full fetches in flight for these endpoints: a manual full sync of one joins it (coalescing)
 * rather than starting a second, so operators are told so.
 */
export async function fullsInFlight(
  deps: TriggerDeps,
  integrationId: string,
  endpoints: readonly EndpointName[],
): Promise<{ endpoint: EndpointName; run_id: string; started_at: Date; turns: number }[]> {
  const runs = new FetchRuns(deps.store.pool, deps.store.stateSchema, {
    staleAfterMs: deps.config.fetcher.runStaleAfterMs,
  });
  const out = [];
  for (const endpoint of endpoints) {
    const r = await runs.inFlight(integrationId, endpoint);
    if (r) out.push({ endpoint, run_id: r.runId, started_at: r.startedAt, turns: r.turns });
  }
  return out;
}

/**
 * Offboarding (admin API; Kombo's integration-deleted webhook plans the same): the integration is
 * marked deleted (nothing more is scheduled or fetched for it) and one purge task per mirrored
 * endpoint tombstones its records everywhere and removes its state.
 */
export async function offboard(deps: TriggerDeps, integrationId: string): Promise<FetchTask[]> {
  const integration = await deps.store.getIntegration(integrationId);
  if (!integration) throw new UnknownIntegrationError(integrationId);
  await deps.store.applyIntegrationUpdate({ integration_id: integrationId, deleted: true });
  const requested_at = await dbNow(deps.store.pool);
  const tasks = endpointsOfCategory(integration.category ?? undefined, deps.config.kombo.endpoints).map((endpoint) =>
    newTask({ integration_id: integrationId, endpoint, mode: 'purge', reason: 'admin:offboard', requested_at }),
  );
  await enqueueTasks(deps.producer, deps.config.kafka.topicPrefix, tasks);
  return tasks;
}
