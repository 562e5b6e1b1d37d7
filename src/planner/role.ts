import { Counter, Gauge } from 'prom-client';
import type { RoleDeps, RunningRole } from '../app/role.ts';
import { sharedLimiter } from '../fetcher/rate-limit.ts';
import { catchUpTasks, type LifecycleState } from '../integrations/lifecycle.ts';
import { integrationList } from '../integrations/list.ts';
import { Refresher } from '../integrations/refresher.ts';
import { LifecycleStore } from '../integrations/store.ts';
import { komboClient } from '../kombo/client.ts';
import { parseWebhook } from '../kombo/webhooks.ts';
import { dbNow } from '../state/clock.ts';
import { type IntegrationUpdate, StateStore } from '../state/store.ts';
import { groupId } from '../topics/names.ts';
import { topicSpecs } from '../topics/topology.ts';
import { PlannerEvents } from './events.ts';
import { coalesce, planEvent } from './plan.ts';
import { Scheduler } from './scheduler.ts';
import type { FetchTask } from './task.ts';
import { enqueueTasks } from './trigger.ts';

/**
 * The planner role: verified events -> fetch tasks, plus the scheduler. Offsets of the events topic
 * are committed only after the batch's tasks were acknowledged; event ids already planned are skipped,
 * so a webhook delivered twice is planned once.
 */
export async function startPlanner(
  deps: RoleDeps,
  opts: { scheduler?: boolean; maxWaitTimeInMs?: number } = {},
): Promise<RunningRole> {
  const { config, logger } = deps;
  const log = logger.child({ role: 'planner' });
  const store = new StateStore(deps.pool, config.postgres.stateSchema);
  const plannedEvents = new PlannerEvents(deps.pool, config.postgres.stateSchema);
  const lifecycle = new LifecycleStore(deps.pool, config.postgres.stateSchema);
  const topics = topicSpecs(config);
  await deps.kafka.ensureTopics([topics.events, topics.tasks, topics.dlq]);
  const producer = deps.kafka.producer();
  const planned = new Counter({
    name: 'kombo_stream_planner_tasks_total',
    help: 'Fetch tasks planned, by source and mode',
    labelNames: ['source', 'mode'],
    registers: [deps.metrics],
  });
  const events = new Counter({
    name: 'kombo_stream_planner_events_total',
    help: 'Events consumed, by type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [deps.metrics],
  });
  // Without an API key the planner cannot read integrations from Kombo: holds are then released only
  // by data (data-changed) or an operator's resume; doctor and the start log say so.
  const client = config.kombo.apiKey ? komboClient(config, 'to read integrations') : undefined;
  if (!client) log.warn('KOMBO_API_KEY is not set: integrations are not read from Kombo (lifecycle)');
  const refresher =
    client &&
    new Refresher({
      config,
      store,
      lifecycle,
      client,
      producer,
      limiter: sharedLimiter(config, deps.pool),
      logger: log.child({ part: 'refresher' }),
    });
  const STATES: LifecycleState[] = ['active', 'paused', 'setup_pending', 'needs_attention', 'deleted'];
  new Gauge({
    name: 'kombo_stream_integrations',
    help: 'Integrations by lifecycle state; needs_attention means someone must act (see status)',
    labelNames: ['state'],
    registers: [deps.metrics],
    async collect() {
      // Without Postgres the last counts stay: a scrape must not fail for it.
      const rows = await integrationList({ store, lifecycle }).catch(() => undefined);
      if (rows) for (const st of STATES) this.set({ state: st }, rows.filter((r) => r.state === st).length);
    },
  });
  const unknown = new Counter({
    name: 'kombo_stream_planner_unknown_models_total',
    help: 'Model names of data-changed webhooks that no endpoint is mapped to (nothing is fetched for them)',
    labelNames: ['model'],
    registers: [deps.metrics],
  });
  let state: 'starting' | 'ok' | 'failed' = 'starting';
  const consumer = deps.kafka.consumer({
    groupId: groupId(config.kafka.topicPrefix, 'planner'),
    maxWaitTimeInMs: opts.maxWaitTimeInMs ?? 500,
  });
  consumer.onCrash((err, restarting) => {
    log.error({ err, restarting }, 'planner consumer crashed');
    if (!restarting) state = 'failed';
  });
  await consumer.run({
    topics: [topics.events.name],
    eachBatch: async (batch) => {
      const parsed = batch.records.map((r) => ({ r, p: parseWebhook(r.value ?? Buffer.alloc(0)) }));
      const ids = parsed.flatMap(({ p }) => (p.ok ? [p.event.id] : []));
      const seen = await plannedEvents.planned(ids);
      const now = await dbNow(deps.pool);
      const tasks: FetchTask[] = [];
      const updates: IntegrationUpdate[] = [];
      const fresh: { id: string; type: string; integration: string | null }[] = [];
      // Lifecycle news: integrations to read from Kombo, QA results, first data, offboardings.
      const life = {
        refresh: [] as string[],
        changed: [] as string[],
        qa: new Map<string, string>(),
        gone: [] as string[],
      };
      for (const { r, p } of parsed) {
        if (!p.ok) {
          // Only verified, validated webhooks reach the topic; anything else was written by someone else.
          events.inc({ type: 'invalid', outcome: 'skipped' });
          log.error({ offset: r.offset, partition: r.partition, reason: p.reason }, 'unparseable event skipped');
          continue;
        }
        const e = p.event;
        if (seen.has(e.id) || fresh.some((f) => f.id === e.id)) {
          events.inc({ type: e.type, outcome: 'duplicate' });
          continue;
        }
        const plan = planEvent(e, config.kombo.endpoints, now);
        for (const model of plan.unknownModels ?? []) {
          unknown.inc({ model });
          log.warn(
            { model, event: e.id },
            'data-changed names a model the connector does not know; nothing fetched for it',
          );
        }
        if (plan.integration) updates.push(plan.integration);
        const id = plan.integration?.integration_id;
        if (id && e.type === 'integration-created') life.refresh.push(id);
        if (id && (e.type === 'data-changed' || e.type === 'sync-finished')) life.changed.push(id);
        if (id && e.type === 'integration-deleted') life.gone.push(id);
        if (id && e.type === 'integration-state-changed') {
          const qa = (e.data as { qa_status?: unknown }).qa_status;
          life.qa.set(id, typeof qa === 'string' ? qa : '');
        }
        tasks.push(...plan.tasks);
        fresh.push({ id: e.id, type: e.type, integration: plan.integration?.integration_id ?? null });
        events.inc({ type: e.type, outcome: 'planned' });
      }
      await store.applyIntegrationUpdates(updates);
      await lifecycle.requestRefresh(life.refresh);
      for (const [id, qa] of life.qa) await lifecycle.stateChanged(id, qa || undefined);
      for (const id of life.gone) await lifecycle.forget(id);
      // Data arrived for an integration parked for its first sync: that sync is done. The release
      // queues its catch-up (first full fetches), which make up for the tasks skipped while parked.
      for (const id of await lifecycle.releaseParked(life.changed))
        tasks.push(...(await catchUpTasks({ config, store, lifecycle }, id, 'lifecycle:first-data')));
      const merged = coalesce(tasks);
      await enqueueTasks(producer, config.kafka.topicPrefix, merged);
      for (const t of merged) planned.inc({ source: 'webhook', mode: t.mode });
      await plannedEvents.record(fresh);
      if (life.refresh.length || life.qa.size) refresher?.wake();
    },
  });
  const scheduler = opts.scheduler === false ? undefined : new Scheduler({ config, store, producer, logger: log });
  scheduler?.start();
  refresher?.start();
  state = 'ok';
  return {
    role: 'planner',
    health: () => ({ state }),
    async stop() {
      await Promise.all([scheduler?.stop(), refresher?.stop()]);
      await client?.close();
      await consumer.close();
      await producer.close();
    },
  };
}
