import { Counter, Histogram } from 'prom-client';
import type { DriftContext } from '../drift/context.ts';
import { errorCode, KomboStreamError, RunAbandonedError } from '../errors.ts';
import type { LifecycleStore } from '../integrations/store.ts';
import {
  KomboApiError,
  type KomboClient,
  KomboCursorLoopError,
  KomboUpstreamError,
  type Page,
} from '../kombo/client.ts';
import type { Registry } from '../observability/metrics.ts';
import { type FetchTask, newTask } from '../planner/task.ts';
import { dbNow } from '../state/clock.ts';
import type { FetchRun, FetchRuns, Joined } from '../state/fetch-runs.ts';
import { changesTopic, recordTopic } from '../topics/names.ts';
import { changeRecords, diffPage, type Rejected, scrub, toRecordsIsolating, uniqueById, withoutNul } from './emit.ts';
import { decideRetry } from './policy.ts';
import type { RateLimiter } from './rate-limit.ts';
import { sleep } from './rate-limit.ts';

/** The process is stopping: the task goes back unfinished (its offset stays uncommitted). */
export class HandBackError extends KomboStreamError {
  constructor() {
    super('KS_ERR_HANDED_BACK', 'stopping: task handed back', { retriable: true });
  }
}

export type { FetchRun };

export type FetchOutcome =
  | { kind: 'done'; run: FetchRun }
  | { kind: 'yielded'; run: FetchRun }
  | { kind: 'skipped'; reason: string };

/**
 * The task cannot succeed by retrying (the page policy already retried what it could): it goes to the
 * dead-letter topic and its run is ended. Anything else (Kafka, Postgres) is the infrastructure's
 * trouble, and the task is tried again later.
 */
export function failsForGood(err: unknown): boolean {
  return err instanceof KomboUpstreamError;
}

export interface FetchContext extends DriftContext {
  client: KomboClient;
  lifecycle: LifecycleStore;
  limiter: RateLimiter;
  runs: FetchRuns;
  metrics: FetchMetrics;
  /** Produces continuation tasks to the tasks topic. */
  enqueue: (tasks: FetchTask[]) => Promise<void>;
  /** Called after a full fetch read every page without error (drift sweep hook). */
  onFullFetchComplete?: (run: FetchRun) => Promise<void>;
  /** Called after each page (progress displays). */
  onPage?: (run: FetchRun) => void;
  /** Awaited before each page of a bulk read (full fetch or first fetch): backpressure. */
  beforeBulkPage?: () => Promise<void>;
  /** Aborts when the process stops: every wait ends and the task is handed back. */
  signal: AbortSignal;
  /** Records that cannot go to the topic: to the dead-letter topic, counted in the endpoint's status. */
  rejectRecords: (run: FetchRun, rejected: readonly Rejected[]) => Promise<void>;
}

export class FetchMetrics {
  readonly pages: Counter;
  readonly records: Counter;
  readonly retries: Counter;
  readonly repeatedIds: Counter;
  readonly duration: Histogram;
  constructor(registry: Registry) {
    this.pages = new Counter({
      name: 'kombo_stream_fetcher_pages_total',
      help: 'Pages read from Kombo',
      labelNames: ['endpoint'],
      registers: [registry],
    });
    this.records = new Counter({
      name: 'kombo_stream_fetcher_records_total',
      help: 'Records read, by outcome (emitted, unchanged, or rejected: dead-lettered, see the DLQ)',
      labelNames: ['endpoint', 'outcome'],
      registers: [registry],
    });
    this.retries = new Counter({
      name: 'kombo_stream_fetcher_retries_total',
      help: 'Retried page requests by error code (KS_ERR_KOMBO_RATE_LIMITED counts 429s)',
      labelNames: ['code'],
      registers: [registry],
    });
    this.repeatedIds = new Counter({
      name: 'kombo_stream_fetcher_repeated_ids_total',
      help: 'Records a page carried more than once (the last of each is kept)',
      labelNames: ['endpoint'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'kombo_stream_fetcher_fetch_seconds',
      help: 'Duration of fetch turns',
      labelNames: ['mode', 'outcome'],
      buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    });
  }
}

async function readPage(ctx: FetchContext, run: FetchRun, updatedAfter: string | undefined): Promise<Page> {
  const policy = ctx.config.fetcher.retry;
  let attempt = 1;
  try {
    for (;;) {
      await ctx.limiter.acquire(run.integrationId, ctx.signal);
      try {
        const page = await ctx.client.listPage(run.integrationId, run.endpoint, {
          pageSize: ctx.config.fetcher.pageSize,
          includeDeleted: true,
          ...(updatedAfter ? { updatedAfter } : {}),
          ...(run.cursor ? { cursor: run.cursor } : {}),
        });
        if (page.rateLimit.remaining === 0 && page.rateLimit.resetMs !== undefined)
          await ctx.limiter.pauseFor(page.rateLimit.resetMs);
        return page;
      } catch (err) {
        const d = decideRetry(err, attempt, policy);
        if (!d.retry) throw err;
        if (err instanceof KomboApiError && err.status === 429)
          await ctx.limiter.pauseFor(d.delayMs, err.scope === 'integration' ? run.integrationId : undefined);
        ctx.metrics.retries.inc({ code: errorCode(err) });
        ctx.logger.warn(
          {
            err: { code: errorCode(err), message: (err as Error).message },
            attempt,
            delayMs: d.delayMs,
            endpoint: run.endpoint,
          },
          'page request failed; retrying',
        );
        attempt++;
        await sleep(d.delayMs, ctx.signal);
      }
    }
  } catch (err) {
    // Stopping interrupts any wait (a rate limit, a backoff): the task goes back unfinished.
    if (ctx.signal.aborted) throw new HandBackError();
    throw err;
  }
}

/** Queues the requests that waited for a run (joined it) and that the run's end leaves to serve. */
async function requeue(ctx: FetchContext, run: FetchRun, joined: Joined): Promise<void> {
  const tasks = (['full', 'delta'] as const).flatMap((mode) => {
    const requested_at = joined[mode];
    return requested_at
      ? [
          newTask({
            integration_id: run.integrationId,
            endpoint: run.endpoint,
            mode,
            reason: `joined:${run.runId}`,
            requested_at,
          }),
        ]
      : [];
  });
  if (tasks.length) await ctx.enqueue(tasks);
}

/**
 * Runs one turn of a fetch task: pages through the endpoint with include_deleted and, for deltas,
 * updated_after = watermark - overlap (resent on every page). Each page's changes are produced and
 * acknowledged before the record index is updated, stamped with the time the page was read
 * (Postgres's clock), which orders versions downstream (invariant 3); the watermark moves to the
 * run's start time only after the last page (invariant 2). A fetch yields after maxPagesPerTurn
 * pages with a continuation task for its next turn (invariant 7). Whether there is a run to work on
 * at all (coalescing, replays, coverage) is the fetch runs' decision. `detached`: the task is not on
 * the tasks topic (`drift run` in its own process), so nothing redelivers it if the process dies.
 */
export async function executeFetch(
  ctx: FetchContext,
  task: FetchTask,
  opts: { detached?: boolean } = {},
): Promise<FetchOutcome> {
  if (task.mode === 'purge') throw new Error('purge tasks are not fetches');
  const integration = await ctx.store.getIntegration(task.integration_id);
  if (integration?.paused) {
    // A run cut off here is not continued later: resuming the integration queues its full fetch again.
    await ctx.runs.failFor(task, 'integration paused');
    return { kind: 'skipped', reason: 'integration paused' };
  }
  if (integration?.deleted_at) return { kind: 'skipped', reason: 'integration deleted' };
  // Held (setup pending, needs attention) or without this model: not asked, so Kombo is not sent
  // requests it refuses. The release queues the catch-up that makes up for what is skipped here.
  const life = await ctx.lifecycle.get(task.integration_id);
  if (life?.hold) {
    await ctx.runs.failFor(task, `integration held: ${life.hold_code}`);
    return { kind: 'skipped', reason: `integration held (${life.hold_code})` };
  }
  const missing = life?.unavailable[task.endpoint];
  if (missing)
    return { kind: 'skipped', reason: `${task.endpoint} is not available for this integration (${missing})` };
  // A new delta asks from its watermark; a run keeps the filter it began with on every turn (Kombo
  // refuses a cursor with other filters, and a watermark may move meanwhile).
  const watermark = (await ctx.store.endpointState(task.integration_id, task.endpoint))?.watermark;
  const begun = await ctx.runs.begin(task, {
    ...opts,
    updatedAfter:
      task.mode === 'delta' && watermark ? new Date(watermark.getTime() - ctx.config.fetcher.overlapMs) : null,
  });
  if (begun.kind === 'skip') return { kind: 'skipped', reason: begun.reason };
  const run = begun.run;
  if (run.pages === 0)
    await ctx.store.fetchStarted(run.integrationId, run.endpoint, run.startedAt, run.mode === 'full');
  const updatedAfter = run.updatedAfter?.toISOString();
  const topic = recordTopic(ctx.config.kafka.topicPrefix, run.endpoint);
  const changes = ctx.config.kafka.changeEvents.includes(run.endpoint)
    ? changesTopic(ctx.config.kafka.topicPrefix, run.endpoint)
    : undefined;
  const exclude = ctx.config.fetcher.excludeFields.get(run.endpoint);
  const timer = ctx.metrics.duration.startTimer({ mode: run.mode });
  let turnPages = 0;
  try {
    // Bulk reads (full fetches, and deltas without a watermark, which read everything) wait while the
    // sink is far behind, so a backfill cannot bury other integrations' deltas under a backlog. Every
    // read, bulk or not, yields after a bounded number of pages, checkpointed.
    const bulk = run.mode === 'full' || !updatedAfter;
    // Cursors this run has been at: one coming back means a cycle that would never end.
    const seen = new Set([...run.checkpoints, ...(run.cursor ? [run.cursor] : [])]);
    for (;;) {
      if (bulk) await ctx.beforeBulkPage?.();
      const page = await readPage(ctx, run, updatedAfter);
      if (page.next && seen.has(page.next)) throw new KomboCursorLoopError(run.endpoint, run.pages + 1);
      if (page.next) seen.add(page.next);
      const readAt = await dbNow(ctx.store.pool);
      const fresh = uniqueById(page.results.map((r) => withoutNul(scrub(r, exclude))));
      if (fresh.repeated) {
        ctx.metrics.repeatedIds.inc({ endpoint: run.endpoint }, fresh.repeated);
        ctx.logger.warn(
          { endpoint: run.endpoint, repeated: fresh.repeated },
          'a page repeated ids; kept the last of each',
        );
      }
      const known = await ctx.index.lookup(
        run.integrationId,
        run.endpoint,
        fresh.records.map((r) => String(r.id)),
      );
      const diff = diffPage(fresh.records, known);
      const { out, emitted, rejected } = await toRecordsIsolating(
        ctx.serde,
        {
          integrationId: run.integrationId,
          endpoint: run.endpoint,
          fetchedAt: readAt.toISOString(),
          syncId: run.runId,
          ...(run.generation ? { generation: run.generation } : {}),
        },
        diff.changed,
        ctx.config.kafka.maxRecordBytes,
      );
      await ctx.producer.send(topic, out);
      if (changes)
        await ctx.producer.send(
          changes,
          await changeRecords(
            ctx.serde,
            {
              integrationId: run.integrationId,
              endpoint: run.endpoint,
              readAt: readAt.toISOString(),
              runId: run.runId,
            },
            emitted,
            await ctx.index.lastValues(
              run.integrationId,
              run.endpoint,
              emitted.map((e) => e.id),
            ),
          ),
        );
      await ctx.index.write(run.integrationId, run.endpoint, emitted, readAt, run.generation);
      // A rejected record was read, so it is live: its last good version must not be swept.
      if (run.generation)
        await ctx.index.markSeen(
          run.integrationId,
          run.endpoint,
          [...diff.unchanged, ...rejected.map((r) => r.id)],
          run.generation,
        );
      if (rejected.length) await ctx.rejectRecords(run, rejected);
      run.pages++;
      turnPages++;
      run.emitted += emitted.length;
      run.unchanged += diff.unchanged.length;
      ctx.metrics.pages.inc({ endpoint: run.endpoint });
      ctx.onPage?.(run);
      ctx.metrics.records.inc({ endpoint: run.endpoint, outcome: 'emitted' }, emitted.length);
      ctx.metrics.records.inc({ endpoint: run.endpoint, outcome: 'rejected' }, rejected.length);
      ctx.metrics.records.inc({ endpoint: run.endpoint, outcome: 'unchanged' }, diff.unchanged.length);
      if (!page.next) break;
      if (turnPages >= ctx.config.fetcher.maxPagesPerTurn) {
        // Queued before the checkpoint: a crash between the two leaves this task uncommitted, so it is
        // redelivered and runs this turn again, and the early continuation finds its turn not yet
        // reached (a no-op). The integration lock keeps the continuation from running before the
        // checkpoint otherwise.
        const continuation = newTask({
          integration_id: run.integrationId,
          endpoint: run.endpoint,
          mode: run.mode,
          reason: `continuation:${run.runId}`,
          requested_at: readAt,
          cursor: page.next,
          run_id: run.runId,
          turn: run.turns + 1,
        });
        await ctx.enqueue([continuation]);
        await ctx.runs.checkpoint(run, page.next);
        timer({ outcome: 'yielded' });
        return { kind: 'yielded', run };
      }
      run.cursor = page.next;
      if (ctx.signal.aborted) throw new HandBackError();
    }
    // The drift pass and the watermark before the run is marked done: a crash in between repeats the
    // last turn and both (each idempotent) instead of skipping them.
    if (run.mode === 'full') await ctx.onFullFetchComplete?.(run);
    await ctx.store.fetchFinished(run.integrationId, run.endpoint, run.startedAt, run.mode === 'full');
    await requeue(ctx, run, await ctx.runs.finish(run));
    timer({ outcome: 'done' });
    return { kind: 'done', run };
  } catch (err) {
    timer({ outcome: 'error' });
    if (err instanceof RunAbandonedError) return { kind: 'skipped', reason: err.message };
    if (failsForGood(err)) {
      // Not caught: if Postgres cannot record the failure, the task is retried rather than the run left in flight.
      await requeue(ctx, run, await ctx.runs.fail(run.runId, (err as Error).message));
    }
    throw err;
  }
}
