import { Counter } from 'prom-client';
import type { RoleDeps, RunningRole } from '../app/role.ts';
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
        tasks.push(...plan.tasks);
        fresh.push({ id: e.id, type: e.type, integration: plan.integration?.integration_id ?? null });
        events.inc({ type: e.type, outcome: 'planned' });
      }
      await store.applyIntegrationUpdates(updates);
      const merged = coalesce(tasks);
      await enqueueTasks(producer, config.kafka.topicPrefix, merged);
      for (const t of merged) planned.inc({ source: 'webhook', mode: t.mode });
      await plannedEvents.record(fresh);
    },
  });
  const scheduler = opts.scheduler === false ? undefined : new Scheduler({ config, store, producer, logger: log });
  scheduler?.start();
  state = 'ok';
  return {
    role: 'planner',
    health: () => ({ state }),
    async stop() {
      await scheduler?.stop();
      await consumer.close();
      await producer.close();
    },
  };
}
