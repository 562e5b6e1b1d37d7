import { randomUUID } from 'node:crypto';
import { Counter, Histogram } from 'prom-client';
import type { Config } from '../config/config.ts';
import { errorCode, KomboStreamError } from '../errors.ts';
import { KomboApiError, type KomboClient, type Page } from '../kombo/client.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import type { Logger } from '../observability/log.ts';
import type { Registry } from '../observability/metrics.ts';
import { type FetchTask, newTask } from '../planner/task.ts';
import type { StateStore } from '../state/store.ts';
import type { Producer } from '../topics/kafka.ts';
import { recordTopic } from '../topics/names.ts';
import type { RecordSerde } from '../topics/serde.ts';
import { diffPage, scrub, toRecords } from './emit.ts';
import { decideRetry } from './policy.ts';
import type { RateLimiter } from './rate-limit.ts';
import { sleep } from './rate-limit.ts';
import type { RecordIndex } from './record-index.ts';

/** The process is stopping: the task goes back unfinished (its offset stays uncommitted). */
export class HandBackError extends KomboStreamError {
  constructor() {
    super('KS_ERR_HANDED_BACK', 'stopping: task handed back', { retriable: true });
  }
}

export interface FetchRun {
  runId: string;
  integrationId: string;
  endpoint: EndpointName;
  mode: 'delta' | 'full';
  startedAt: Date;
  /** Full fetches only: the drift sweep deletes records this generation did not see. */
  generation: string | null;
  cursor: string | null;
  pages: number;
  emitted: number;
  unchanged: number;
}

export type FetchOutcome =
  | { kind: 'done'; run: FetchRun }
  | { kind: 'yielded'; run: FetchRun; continuation: FetchTask }
  | { kind: 'skipped'; reason: string };

export interface FetchContext {
  config: Config;
  logger: Logger;
  client: KomboClient;
  limiter: RateLimiter;
  store: StateStore;
  index: RecordIndex;
  producer: Producer;
  serde: RecordSerde;
  metrics: FetchMetrics;
  /** Produces continuation tasks to the tasks topic. */
  enqueue: (tasks: FetchTask[]) => Promise<void>;
  /** Called after a full fetch read every page without error (drift sweep hook). */
  onFullFetchComplete?: (run: FetchRun) => Promise<void>;
  /** Called after each page (progress displays). */
  onPage?: (run: FetchRun) => void;
  /** Awaited before each page of a bulk read (full fetch or first fetch): backpressure. */
  beforeBulkPage?: () => Promise<void>;
  isStopping: () => boolean;
}

export class FetchMetrics {
  readonly pages: Counter;
  readonly records: Counter;
  readonly retries: Counter;
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
      help: 'Records read, by outcome (emitted or unchanged)',
      labelNames: ['endpoint', 'outcome'],
      registers: [registry],
    });
    this.retries = new Counter({
      name: 'kombo_stream_fetcher_retries_total',
      help: 'Retried page requests by error code (KS_ERR_KOMBO_RATE_LIMITED counts 429s)',
      labelNames: ['code'],
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

async function loadRun(ctx: FetchContext, task: FetchTask): Promise<FetchRun | undefined> {
  const s = ctx.store.schema;
  const r = await ctx.store.pool.query(`SELECT * FROM ${s}.fetch_runs WHERE run_id = $1`, [task.run_id]);
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    runId: row.run_id,
    integrationId: row.integration_id,
    endpoint: row.endpoint,
    mode: row.mode,
    startedAt: row.started_at,
    generation: row.generation,
    cursor: task.cursor ?? row.cursor,
    pages: row.pages,
    emitted: Number(row.emitted),
    unchanged: Number(row.unchanged),
  };
}

async function saveRun(
  ctx: FetchContext,
  run: FetchRun,
  status: 'running' | 'yielded' | 'done' | 'failed',
): Promise<void> {
  await ctx.store.pool.query(
    `INSERT INTO ${ctx.store.schema}.fetch_runs (run_id, integration_id, endpoint, mode, started_at, generation, cursor, pages, emitted, unchanged, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (run_id) DO UPDATE SET cursor = $7, pages = $8, emitted = $9, unchanged = $10, status = $11, updated_at = now()`,
    [
      run.runId,
      run.integrationId,
      run.endpoint,
      run.mode,
      run.startedAt,
      run.generation,
      run.cursor,
      run.pages,
      run.emitted,
      run.unchanged,
      status,
    ],
  );
}

/**
 * True when a fetch that started after the task was requested has since finished: that fetch saw
 * everything the task asks for, so the task is skipped (coalescing).
 */
export function coveredBy(task: FetchTask, state: Awaited<ReturnType<StateStore['endpointState']>>): boolean {
  if (!state || task.run_id || state.status !== 'ok') return false;
  const requested = Date.parse(task.requested_at);
  if (task.mode === 'full') {
    const { last_full_started_at: s, last_full_finished_at: f } = state;
    return Boolean(s && f && f >= s && s.getTime() > requested);
  }
  const { last_fetch_started_at: s, last_fetch_finished_at: f } = state;
  return Boolean(s && f && f >= s && s.getTime() > requested);
}

async function readPage(ctx: FetchContext, run: FetchRun, updatedAfter: string | undefined): Promise<Page> {
  const policy = ctx.config.fetcher.retry;
  let attempt = 1;
  let pendingWaited = 0;
  for (;;) {
    if (ctx.isStopping()) throw new HandBackError();
    await ctx.limiter.acquire(run.integrationId);
    try {
      const page = await ctx.client.listPage(run.integrationId, run.endpoint, {
        pageSize: ctx.config.fetcher.pageSize,
        includeDeleted: true,
        ...(updatedAfter ? { updatedAfter } : {}),
        ...(run.cursor ? { cursor: run.cursor } : {}),
      });
      if (page.rateLimit.remaining === 0 && page.rateLimit.resetMs !== undefined)
        ctx.limiter.pauseFor(page.rateLimit.resetMs);
      return page;
    } catch (err) {
      const d = decideRetry(err, attempt, policy);
      if (!d.retry) throw err;
      if (!d.countsAsAttempt && (pendingWaited += d.delayMs) > policy.setupPendingMaxMs) throw err;
      if (err instanceof KomboApiError && err.status === 429) ctx.limiter.pauseFor(d.delayMs);
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
      if (d.countsAsAttempt) attempt++;
      await sleep(d.delayMs);
    }
  }
}

/**
 * Runs one turn of a fetch task: pages through the endpoint with include_deleted and, for deltas,
 * updated_after = watermark - overlap (resent on every page). Each page's changes are produced and
 * acknowledged before the record index is updated; the watermark moves to the fetch's start time
 * only after the last page (invariant 2). A full fetch yields after maxPagesPerTurn pages, leaving a
 * continuation task with its cursor (invariant 7).
 */
export async function executeFetch(ctx: FetchContext, task: FetchTask): Promise<FetchOutcome> {
  if (task.mode === 'purge') throw new Error('purge tasks are not fetches');
  const integration = await ctx.store.getIntegration(task.integration_id);
  if (integration?.paused) return { kind: 'skipped', reason: 'integration paused' };
  if (integration?.deleted_at) return { kind: 'skipped', reason: 'integration deleted' };
  const state = await ctx.store.endpointState(task.integration_id, task.endpoint);
  if (coveredBy(task, state)) return { kind: 'skipped', reason: 'covered by a later fetch' };

  let run = task.run_id ? await loadRun(ctx, task) : undefined;
  if (!run) {
    const full = task.mode === 'full';
    const gen = full
      ? String(
          (await ctx.store.pool.query('SELECT nextval($1::regclass) AS g', [`${ctx.store.schema}.fetch_generation`]))
            .rows[0].g,
        )
      : null;
    run = {
      runId: randomUUID(),
      integrationId: task.integration_id,
      endpoint: task.endpoint,
      mode: task.mode,
      startedAt: new Date(),
      generation: gen,
      cursor: null,
      pages: 0,
      emitted: 0,
      unchanged: 0,
    };
    await ctx.store.fetchStarted(run.integrationId, run.endpoint, run.startedAt, full);
  }
  const watermark = state?.watermark;
  const updatedAfter =
    run.mode === 'delta' && watermark
      ? new Date(watermark.getTime() - ctx.config.fetcher.overlapMs).toISOString()
      : undefined;
  const topic = recordTopic(ctx.config.kafka.topicPrefix, run.endpoint);
  const exclude = ctx.config.fetcher.excludeFields.get(run.endpoint);
  const fetchedAt = run.startedAt.toISOString();
  const timer = ctx.metrics.duration.startTimer({ mode: run.mode });
  let turnPages = 0;
  await saveRun(ctx, run, 'running');
  try {
    // Bulk reads (full fetches, first fetches) wait while the sink is far behind: a backfill must not
    // bury the deltas of other integrations under a backlog the sink needs minutes to drain.
    const bulk = run.mode === 'full' || !updatedAfter;
    for (;;) {
      if (bulk) await ctx.beforeBulkPage?.();
      const page = await readPage(ctx, run, updatedAfter);
      const records = page.results.map((r) => scrub(r, exclude));
      const known = await ctx.index.lookup(
        run.integrationId,
        run.endpoint,
        records.map((r) => String(r.id)),
      );
      const diff = diffPage(records, known);
      const out = await toRecords(
        ctx.serde,
        {
          integrationId: run.integrationId,
          endpoint: run.endpoint,
          fetchedAt,
          syncId: run.runId,
          ...(run.generation ? { generation: run.generation } : {}),
        },
        diff.changed,
      );
      await ctx.producer.send(topic, out);
      await ctx.index.write(run.integrationId, run.endpoint, diff.changed, run.startedAt, run.generation);
      if (run.generation) await ctx.index.markSeen(run.integrationId, run.endpoint, diff.unchanged, run.generation);
      run.pages++;
      turnPages++;
      run.emitted += diff.changed.length;
      run.unchanged += diff.unchanged.length;
      run.cursor = page.next;
      ctx.metrics.pages.inc({ endpoint: run.endpoint });
      ctx.onPage?.(run);
      ctx.metrics.records.inc({ endpoint: run.endpoint, outcome: 'emitted' }, diff.changed.length);
      ctx.metrics.records.inc({ endpoint: run.endpoint, outcome: 'unchanged' }, diff.unchanged.length);
      if (!page.next) break;
      if (run.mode === 'full' && turnPages >= ctx.config.fetcher.maxPagesPerTurn) {
        await saveRun(ctx, run, 'yielded');
        const continuation = newTask({
          integration_id: run.integrationId,
          endpoint: run.endpoint,
          mode: 'full',
          reason: `continuation:${run.runId}`,
          cursor: page.next,
          run_id: run.runId,
        });
        await ctx.enqueue([continuation]);
        timer({ outcome: 'yielded' });
        return { kind: 'yielded', run, continuation };
      }
      if (ctx.isStopping()) throw new HandBackError();
    }
    await saveRun(ctx, run, 'done');
    await ctx.store.fetchFinished(run.integrationId, run.endpoint, run.startedAt, run.mode === 'full');
    if (run.mode === 'full') await ctx.onFullFetchComplete?.(run);
    timer({ outcome: 'done' });
    return { kind: 'done', run };
  } catch (err) {
    timer({ outcome: 'error' });
    if (!(err instanceof HandBackError)) await saveRun(ctx, run, 'failed').catch(() => {});
    throw err;
  }
}
