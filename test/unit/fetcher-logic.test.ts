import { describe, expect, it } from 'vitest';
import { diffPage, scrub, toRecordsIsolating, uniqueById, withoutNul } from '../../src/fetcher/emit.ts';
import { decideRetry, type RetryPolicy } from '../../src/fetcher/policy.ts';
import { sleep } from '../../src/fetcher/rate-limit.ts';
import { offsetsToCommit, type QueuedTask, type RunResult, TaskRunner } from '../../src/fetcher/runner.ts';
import { KomboApiError, KomboTransportError, retryAfterMs } from '../../src/kombo/client.ts';
import { newTask } from '../../src/planner/task.ts';
import { SchemaRegistryError } from '../../src/topics/avro.ts';
import { canonicalJson, contentHash } from '../../src/topics/content-hash.ts';
import { jsonSerde, SerdeError } from '../../src/topics/serde.ts';

const policy: RetryPolicy = {
  maxAttempts: 4,
  baseMs: 100,
  maxMs: 1_000,
};
const half = () => 0.5;

describe('retry policy', () => {
  it('honours Retry-After and ratelimit-reset on 429', () => {
    expect(retryAfterMs({ 'retry-after': '7' })).toBe(7_000);
    expect(retryAfterMs({ 'ratelimit-reset': '3' })).toBe(3_000);
    expect(retryAfterMs({ 'retry-after': new Date(Date.now() + 5_000).toUTCString() })).toBeGreaterThan(3_000);
    const d = decideRetry(new KomboApiError(429, 'PLATFORM.RATE_LIMIT_EXCEEDED', 'slow down', 7_000), 1, policy, half);
    expect(d).toEqual({ retry: true, delayMs: 7_125 });
  });
  it('backs off exponentially with jitter on 5xx, network errors and truncated bodies, up to maxAttempts', () => {
    const e5 = new KomboApiError(503, 'PLATFORM.UNKNOWN_ERROR', 'x', undefined);
    const d1 = decideRetry(e5, 1, policy, half);
    const d3 = decideRetry(e5, 3, policy, half);
    expect(d1.retry && d3.retry && d3.delayMs > d1.delayMs).toBe(true);
    expect(decideRetry(new KomboTransportError('reset'), 2, policy, half).retry).toBe(true);
    expect(decideRetry(e5, 4, policy, half)).toEqual({ retry: false });
  });
  it('never retries other 4xx', () => {
    expect(decideRetry(new KomboApiError(400, 'PLATFORM.INPUT_INVALID', 'bad cursor', undefined), 1, policy)).toEqual({
      retry: false,
    });
    expect(decideRetry(new KomboApiError(401, 'PLATFORM.AUTHENTICATION_INVALID', 'key', undefined), 1, policy)).toEqual(
      { retry: false },
    );
  });
  it('clamps huge waits and reads a ratelimit-reset sent as a Unix time as one', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const max = 15 * 60_000;
    expect(retryAfterMs({ 'retry-after': '999999999999' }, now, max)).toBe(max);
    expect(retryAfterMs({ 'retry-after': '3600' }, now, max)).toBe(max);
    expect(retryAfterMs({ 'ratelimit-reset': String(now / 1000 + 30) }, now, max)).toBe(30_000);
    expect(retryAfterMs({ 'ratelimit-reset': String(now / 1000 + 30) }, now)).toBe(30_000);
  });
  it("tells an integration's own rate limit (REMOTE.*) from Kombo's", () => {
    expect(new KomboApiError(429, 'REMOTE.RATE_LIMIT_EXCEEDED', 'slow', 1_000).scope).toBe('integration');
    expect(new KomboApiError(429, 'PLATFORM.RATE_LIMIT_EXCEEDED', 'slow', 1_000).scope).toBe('global');
  });
  it('leaves setup-sync-pending to the lifecycle, as a 409 and as the 503 Kombo sent before', () => {
    // Polled page by page, a first sync of hours held a fetch slot for hours (kombo-2026-update §4).
    for (const status of [409, 503])
      expect(
        decideRetry(new KomboApiError(status, 'INTEGRATION.SETUP_SYNC_PENDING', 'wait', undefined), 1, policy),
      ).toEqual({
        retry: false,
      });
  });
});

describe('abortable waits', () => {
  it('waits longer than a timer can hold without spinning, and a stop ends the wait at once', async () => {
    const stop = new AbortController();
    let ticks = 0;
    const spin = setInterval(() => ticks++, 10);
    const waiting = sleep(30 * 86_400_000, stop.signal);
    await new Promise((r) => setTimeout(r, 100));
    stop.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    clearInterval(spin);
    // A wait clamped to 1 ms would have run the event loop hot; this one let the interval tick freely.
    expect(ticks).toBeGreaterThan(5);
  });
});

describe('record index hashing and diff', () => {
  it('hashes content independent of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}',
    );
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: 2 }));
  });
  it('suppresses unchanged records and marks deletions', () => {
    const a = { id: 'a', changed_at: '2026-01-01T00:00:00.000Z', remote_deleted_at: null, x: 1 };
    const b = { id: 'b', changed_at: '2026-01-01T00:00:00.000Z', remote_deleted_at: '2026-01-02T00:00:00.000Z' };
    const d = diffPage([a, b], new Map([['a', { hash: contentHash(a), deleted: false }]]));
    expect(d.unchanged).toEqual(['a']);
    expect(d.changed.map((c) => [c.id, c.deleted])).toEqual([['b', true]]);
  });
  it('drops excluded fields before anything else sees them', () => {
    expect(scrub({ id: 'a', ssn: '1', name: 'n' }, ['ssn'])).toEqual({ id: 'a', name: 'n' });
    const employee = { id: 'e', employments: [{ id: 'x', pay_rate: 1, job_title: 't' }], manager: null };
    expect(scrub(employee, ['employments.pay_rate', 'manager.ssn'])).toEqual({
      id: 'e',
      employments: [{ id: 'x', job_title: 't' }],
      manager: null,
    });
  });
});

describe('bad records', () => {
  const meta = { integrationId: 'i', endpoint: 'ats/tags' as const, fetchedAt: '2026-01-01T00:00:00Z', syncId: 's' };
  const change = (id: string, value: Record<string, unknown> = { id }) => ({
    id,
    hash: id,
    deleted: false,
    changedAt: null,
    value,
  });
  it('sets aside a record its schema does not fit and one too large for a topic; the rest go on', async () => {
    const serde = {
      ...jsonSerde,
      encodeValue: async (_e: string, r: Record<string, unknown>) => {
        if (r.id === 'misfit') throw new SerdeError('record misfit does not fit the ats/tags schema');
        return jsonSerde.encodeValue('ats/tags', r as never);
      },
    } as typeof jsonSerde;
    const got = await toRecordsIsolating(
      serde,
      meta,
      [change('a'), change('misfit'), change('huge', { id: 'huge', blob: 'x'.repeat(5_000) }), change('b')],
      2_000,
    );
    expect(got.emitted.map((c) => c.id)).toEqual(['a', 'b']);
    expect(got.out).toHaveLength(2);
    expect(got.rejected.map((r) => [r.id, r.code])).toEqual([
      ['misfit', 'KS_ERR_RECORD_UNENCODABLE'],
      ['huge', 'KS_ERR_RECORD_TOO_LARGE'],
    ]);
  });
  it('does not blame a record for the registry being down: the page fails, to be retried', async () => {
    const serde = {
      ...jsonSerde,
      encodeValue: async () => {
        throw new SchemaRegistryError('registry unreachable', new Error('ECONNREFUSED'));
      },
    } as typeof jsonSerde;
    await expect(toRecordsIsolating(serde, meta, [change('a')], 2_000)).rejects.toMatchObject({ retriable: true });
  });
  it('drops NULs everywhere and keeps one record per id', () => {
    expect(withoutNul({ 'k\u0000': ['a\u0000b', { c: '\u0000' }], n: 1 })).toEqual({ k: ['ab', { c: '' }], n: 1 });
    expect(uniqueById([{ id: 1, v: 'old' }, { id: 2 }, { id: 1, v: 'new' }])).toEqual({
      records: [{ id: 1, v: 'new' }, { id: 2 }],
      repeated: 1,
    });
  });
});

describe('offsets to commit', () => {
  it('never moves the group back: a position at or below what is stored is not sent', () => {
    // The new owner starts at 296; the old one committed 297 while the partition moved.
    const stored = new Map([[2, 297n]]);
    expect(offsetsToCommit(new Map([[2, 296n]]), new Map(), (p) => stored.get(p))).toEqual([]);
    expect(offsetsToCommit(new Map([[2, 298n]]), new Map(), (p) => stored.get(p))).toEqual([[2, 298n]]);
    // Unchanged since the last commit, or nothing stored yet.
    expect(offsetsToCommit(new Map([[2, 298n]]), new Map([[2, 298n]]), () => 250n)).toEqual([]);
    expect(offsetsToCommit(new Map([[0, 0n]]), new Map(), () => undefined)).toEqual([[0, 0n]]);
  });
});

describe('task runner', () => {
  const task = (integration: string, mode: 'delta' | 'full', reason = '') =>
    newTask({
      integration_id: integration,
      endpoint: 'hris/employees',
      mode,
      reason: reason || mode,
      requested_at: new Date(),
    });

  it('runs one task per integration, several integrations at once, deltas first', async () => {
    const order: string[] = [];
    const running = new Map<string, number>();
    let maxPerIntegration = 0;
    const gates: (() => void)[] = [];
    const runner = new TaskRunner({
      concurrency: 2,
      run: async (q: QueuedTask) => {
        const id = q.task.integration_id;
        running.set(id, (running.get(id) ?? 0) + 1);
        maxPerIntegration = Math.max(maxPerIntegration, running.get(id) ?? 0);
        order.push(`${id}:${q.task.reason}`);
        await new Promise<void>((r) => gates.push(r));
        running.set(id, (running.get(id) ?? 1) - 1);
        return 'done';
      },
    });
    runner.add(0, 0n, task('big', 'full', 'full-1'));
    runner.add(0, 1n, task('big', 'full', 'full-2'));
    runner.add(0, 2n, task('big', 'delta', 'delta-1'));
    runner.add(1, 0n, task('small', 'delta', 'small-1'));
    while (gates.length || runner.running || runner.queued) {
      await new Promise((r) => setTimeout(r, 5));
      gates.shift()?.();
    }
    expect(maxPerIntegration).toBe(1);
    expect(order.filter((o) => o.startsWith('big'))).toEqual(['big:full-1', 'big:delta-1', 'big:full-2']);
    expect(order.indexOf('small:small-1')).toBeLessThan(2);
    expect(runner.committable()).toEqual(
      new Map([
        [0, 3n],
        [1, 1n],
      ]),
    );
  });

  it('keeps slots for deltas while a backfill of many integrations fills the others', async () => {
    const started: string[] = [];
    const runner = new TaskRunner({
      concurrency: 4,
      run: (q) => {
        started.push(q.task.integration_id);
        return new Promise(() => {});
      },
    });
    for (let k = 0; k < 6; k++) runner.add(0, BigInt(k), task(`big-${k}`, 'full'));
    runner.add(1, 0n, task('new-1', 'delta'), true);
    runner.add(1, 1n, task('small-1', 'delta'));
    runner.add(1, 2n, task('small-2', 'delta'));
    await new Promise((r) => setTimeout(r, 10));
    expect(started.filter((id) => id.startsWith('big'))).toHaveLength(3);
    // A delta that reads everything (no watermark yet) waits for a bulk slot like a full fetch.
    expect(started).not.toContain('new-1');
    expect(started).toContain('small-1');
    expect(runner.running).toBe(4);
  });

  it('commits only up to the lowest unfinished task, and re-queues failures', async () => {
    const seen: string[] = [];
    let fail = true;
    let release: () => void = () => {};
    const runner = new TaskRunner({
      concurrency: 4,
      run: async (q) => {
        seen.push(q.task.reason);
        if (q.task.reason === 'slow') await new Promise<void>((r) => (release = r));
        if (q.task.reason === 'flaky' && fail) {
          fail = false;
          return { retryInMs: 10 };
        }
        return 'done';
      },
    });
    runner.add(0, 10n, task('a', 'delta', 'slow'));
    runner.add(0, 11n, task('b', 'delta', 'quick'));
    runner.add(0, 12n, task('c', 'delta', 'flaky'));
    await new Promise((r) => setTimeout(r, 50));
    expect(runner.committable().get(0)).toBe(10n);
    release();
    await new Promise((r) => setTimeout(r, 50));
    expect(runner.committable().get(0)).toBe(13n);
    expect(seen.filter((s) => s === 'flaky')).toHaveLength(2);
  });

  it('drops queued tasks of partitions it no longer owns, and never commits or retries their running ones', async () => {
    const finish = new Map<string, (r: RunResult) => void>();
    const runs: string[] = [];
    const runner = new TaskRunner({
      concurrency: 2,
      run: (q) => {
        runs.push(q.task.reason);
        return new Promise<RunResult>((resolve) => finish.set(q.task.reason, resolve));
      },
    });
    runner.add(0, 0n, task('a', 'delta', 'a'));
    runner.add(1, 0n, task('b', 'delta', 'b'));
    runner.add(1, 1n, task('c', 'delta', 'c'));
    expect(runs).toEqual(['a', 'b']);
    // Partition 1 moves to another process while b runs; c, queued, goes with it.
    runner.retainPartitions(new Set([0]));
    expect(runner.queued).toBe(0);
    expect([...runner.committable().keys()]).toEqual([0]);
    // b finishes after the revocation: its offset is not committed here, whatever it returns...
    finish.get('b')?.('done');
    finish.get('a')?.('done');
    await new Promise((r) => setImmediate(r));
    expect([...runner.committable()]).toEqual([[0, 1n]]);
    // ...and a revoked task that asks to be retried is not queued again.
    runner.add(2, 0n, task('d', 'delta', 'd'));
    runner.retainPartitions(new Set([0]));
    finish.get('d')?.({ retryInMs: 0 });
    await new Promise((r) => setTimeout(r, 20));
    expect(runner.queued).toBe(0);
    expect(runs).toEqual(['a', 'b', 'd']);
    // The partition comes back: new tasks of it commit as usual.
    runner.retainPartitions(new Set([0, 1]));
    runner.add(1, 5n, task('e', 'delta', 'e'));
    finish.get('e')?.('done');
    await new Promise((r) => setImmediate(r));
    expect(runner.committable().get(1)).toBe(6n);
  });
});
