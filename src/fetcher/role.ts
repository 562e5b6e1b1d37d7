import { Counter, Gauge } from 'prom-client';
import type { RoleDeps, RunningRole } from '../app/role.ts';
import { errorCode } from '../errors.ts';
import { fetchProblem } from '../integrations/lifecycle.ts';
import { type FetchTask, taskSchema } from '../planner/task.ts';
import { type InRecord, withDeadline } from '../topics/kafka.ts';
import { groupId } from '../topics/names.ts';
import { deadLetterHeaders } from '../topics/records.ts';
import { topicSpecs } from '../topics/topology.ts';
import { createFetchContext } from './context.ts';
import { executeFetch, failsForGood, HandBackError } from './fetch.ts';
import { withIntegrationLock } from './lock.ts';
import { executePurge } from './purge.ts';
import { offsetsToCommit, type QueuedTask, type RunResult, TaskRunner } from './runner.ts';
import { SinkLagWatch } from './sink-lag.ts';

export interface FetcherOptions {
  maxWaitTimeInMs?: number;
}

/**
 * The fetcher role: fetch tasks in, Kombo records out to the compacted record topics. Failing tasks
 * are retried with backoff; upstream failures that outlast the retry policy go to the dead-letter
 * topic and show in the endpoint's status (invariant 8).
 */
export async function startFetcher(deps: RoleDeps, opts: FetcherOptions = {}): Promise<RunningRole> {
  const { config, logger } = deps;
  const log = logger.child({ role: 'fetcher' });
  const topics = topicSpecs(config);
  await deps.kafka.ensureTopics([topics.tasks, topics.dlq, ...topics.records.values(), ...topics.changes.values()]);
  const producer = deps.kafka.producer();
  const deadLetters = new Counter({
    name: 'kombo_stream_fetcher_dead_letters_total',
    help: 'Tasks dead-lettered',
    registers: [deps.metrics],
  });
  const stopper = new AbortController();
  const { ctx, close } = createFetchContext({ ...deps, logger: log }, producer, { signal: stopper.signal });
  const sinkLag = new SinkLagWatch(config, deps.kafka, ctx.sinkOffsets);
  ctx.beforeBulkPage = () => sinkLag.waitBelow(config.fetcher.maxSinkLag, stopper.signal);
  const store = ctx.store;

  const deadLetter = async (
    origin: InRecord | QueuedTask,
    error: { code: string; message: string },
    task?: FetchTask,
  ) => {
    const o =
      'task' in origin
        ? { partition: origin.partition, offset: origin.offset.toString(), value: JSON.stringify(origin.task) }
        : {
            partition: origin.partition,
            offset: origin.offset,
            value: origin.value,
          };
    await producer.send(topics.dlq.name, [
      {
        key: task?.integration_id ?? null,
        value: o.value,
        headers: deadLetterHeaders({
          ...error,
          role: 'fetcher',
          topic: topics.tasks.name,
          partition: o.partition,
          offset: String(o.offset),
        }),
      },
    ]);
    deadLetters.inc();
  };

  const run = async (q: QueuedTask): Promise<RunResult> => {
    const { task } = q;
    try {
      const result = await withIntegrationLock(deps.pool, task.integration_id, async () => {
        if (task.mode === 'purge') {
          const n = await executePurge(ctx, task);
          log.info({ integration: task.integration_id, endpoint: task.endpoint, purged: n }, 'purged');
          return 'done' as const;
        }
        const outcome = await executeFetch(ctx, task);
        log.debug(
          {
            task: task.task_id,
            outcome: outcome.kind,
            ...(outcome.kind === 'skipped' ? { reason: outcome.reason } : {}),
          },
          'task finished',
        );
        return 'done' as const;
      });
      return result === 'locked' ? { retryInMs: 1_000 } : result;
    } catch (err) {
      if (err instanceof HandBackError) return 'handed-back';
      const e = { code: errorCode(err), message: (err as Error).message };
      const problem = fetchProblem(err);
      if (problem) {
        // Kombo says the integration cannot be read now, or has no such model: not a failed task to
        // dead-letter and retry, but a state to keep (and show) until the refresher sees it end.
        if ('hold' in problem) {
          if (await ctx.lifecycle.hold(task.integration_id, problem.hold, config.planner.recheckIntervalMs))
            log.warn(
              { integration: task.integration_id, code: problem.hold.code },
              `integration held: ${problem.hold.message}`,
            );
        } else await ctx.lifecycle.markUnavailable(task.integration_id, task.endpoint, problem.unavailable);
        await store.fetchFailed(task.integration_id, task.endpoint, e, false);
        return 'done';
      }
      if (failsForGood(err)) {
        // The page policy already retried; this task is done for: dead-letter it, visibly.
        log.error({ err: e, task }, 'fetch failed permanently; dead-lettered');
        await store.fetchFailed(task.integration_id, task.endpoint, e, true).catch(() => {});
        await deadLetter(q, e, task);
        return 'done';
      }
      // Kafka or Postgres trouble: nothing is wrong with the task; try again later.
      log.warn(
        { err: e, task: task.task_id, attempts: q.attempts },
        'fetch interrupted by infrastructure error; retrying',
      );
      await store.fetchFailed(task.integration_id, task.endpoint, e, false).catch(() => {});
      return { retryInMs: Math.min(30_000, 1_000 * 2 ** q.attempts) };
    }
  };

  const runner = new TaskRunner({ concurrency: config.fetcher.concurrency, run });
  const queued = new Gauge({
    name: 'kombo_stream_fetcher_tasks_queued',
    help: 'Tasks waiting in this process',
    registers: [deps.metrics],
    collect() {
      this.set(runner.queued);
    },
  });
  void queued;
  const group = groupId(config.kafka.topicPrefix, 'fetcher');
  const consumer = deps.kafka.consumer({
    groupId: group,
    maxWaitTimeInMs: opts.maxWaitTimeInMs ?? 500,
  });
  let state: 'starting' | 'ok' | 'failed' = 'starting';
  consumer.onCrash((err, restarting) => {
    log.error({ err, restarting }, 'fetcher consumer crashed');
    if (!restarting) state = 'failed';
  });
  // Tasks are small; holding many lets the scheduler put a new delta ahead of a long backlog of
  // full fetches, which would otherwise wait in Kafka behind them.
  const maxQueued = 20_000;
  let paused = false;
  await consumer.run({
    topics: [topics.tasks.name],
    autoCommit: false,
    onAssign: (assignment) => runner.retainPartitions(new Set(assignment[topics.tasks.name] ?? [])),
    eachBatch: async (batch) => {
      const tasks: { offset: bigint; task: FetchTask }[] = [];
      for (const r of batch.records) {
        const offset = BigInt(r.offset);
        try {
          tasks.push({ offset, task: taskSchema.parse(JSON.parse(r.value?.toString() ?? '')) });
        } catch (err) {
          await deadLetter(r, { code: 'KS_ERR_BAD_TASK', message: `undecodable task: ${(err as Error).message}` });
          runner.complete(batch.partition, offset);
        }
      }
      // A delta of an endpoint that was never fetched reads everything: the scheduler treats it as
      // bulk. Without Postgres, the mode alone decides; the fetch itself will wait for Postgres.
      const deltas = tasks.filter((t) => t.task.mode === 'delta').map((t) => t.task);
      const fetched = await store.withWatermark(deltas).catch((err) => {
        log.warn({ err }, 'cannot tell which endpoints have a watermark; scheduling deltas as deltas');
        return undefined;
      });
      for (const { offset, task } of tasks) {
        const bulk =
          task.mode !== 'delta' || (fetched !== undefined && !fetched.has(`${task.integration_id}\0${task.endpoint}`));
        runner.add(batch.partition, offset, task, bulk);
      }
      // Backpressure: stop fetching tasks while enough are waiting here.
      if (!paused && runner.queued > maxQueued) {
        paused = true;
        consumer.pause(topics.tasks.name);
      }
    },
  });
  let lastCommitted = new Map<number, bigint>();
  const commit = async () => {
    const now = runner.committable();
    if ([...now].some(([p, o]) => lastCommitted.get(p) !== o)) {
      const stored = await deps.kafka.groupOffsets(group, [topics.tasks.name]);
      const send = offsetsToCommit(now, lastCommitted, (p) => stored.get(`${topics.tasks.name}:${p}`));
      if (send.length)
        await consumer.commit(send.map(([partition, offset]) => ({ topic: topics.tasks.name, partition, offset })));
      lastCommitted = now;
    }
    if (paused && runner.queued < maxQueued / 2) {
      paused = false;
      consumer.resume(topics.tasks.name);
    }
  };
  const committer = setInterval(
    () => commit().catch((err) => log.warn({ err }, 'offset commit failed; retrying')),
    1_000,
  );
  state = 'ok';
  return {
    role: 'fetcher',
    health: () => ({ state }),
    async stop() {
      stopper.abort();
      // Tasks hand back at their next page boundary; one stuck in a send to a broker that is down is
      // abandoned (its offset is not committed, so its partition's next owner runs it again).
      await withDeadline(runner.stop(), 6_000);
      clearInterval(committer);
      await withDeadline(
        commit().catch((err) => log.warn({ err }, 'final offset commit failed')),
        2_000,
      );
      await consumer.close();
      await producer.close();
      await close();
    },
  };
}
