import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTask } from '../../src/planner/task.ts';
import { dbNow } from '../../src/state/clock.ts';
import { FetchRuns } from '../../src/state/fetch-runs.ts';
import { migrate } from '../../src/state/migrate.ts';
import { STATE_MIGRATIONS } from '../../src/state/migrations.ts';
import { RecordIndex } from '../../src/state/record-index.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';

// The rules the owner modules keep, against a real Postgres: which run a task works on, and which
// keys a sweep may judge.
let ctx: TestContext;
let runs: FetchRuns;
let index: RecordIndex;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  await migrate(ctx.pool, ctx.stateSchema, STATE_MIGRATIONS);
  runs = new FetchRuns(ctx.pool, ctx.stateSchema, { staleAfterMs: 3_600_000 });
  index = new RecordIndex(ctx.pool, ctx.stateSchema);
});
afterAll(async () => ctx?.close());

const task = async (integration: string, mode: 'delta' | 'full') =>
  newTask({
    integration_id: integration,
    endpoint: 'hris/employees',
    mode,
    reason: 'test',
    requested_at: await dbNow(ctx.pool),
  });
/** Begins a run for the task; deltas as deltas from a watermark. */
const started = async (t: Awaited<ReturnType<typeof task>>) => {
  const b = await runs.begin(t, { updatedAfter: t.mode === 'delta' ? new Date(0) : null });
  if (b.kind !== 'run') throw new Error(`expected a run, got: ${b.reason}`);
  return b.run;
};

describe('fetch runs', () => {
  it('a delta retried after a failure resumes its own run, even after a full run it did not see finished', async () => {
    const full = await started(await task('cover', 'full'));
    await runs.checkpoint(full, 'cursor-1');
    const delta = await task('cover', 'delta');
    const first = await started(delta);
    // The delta fails (Kafka or Postgres trouble: retried), and meanwhile the full fetch, which began
    // before the delta was requested, finishes its last turn.
    await runs.finish(full);
    expect(await runs.begin(delta)).toEqual({ kind: 'run', run: expect.objectContaining({ runId: first.runId }) });
    await runs.finish(first);
    // Once it has finished, a replay of it is covered by it; a later request is not.
    expect(await runs.begin(delta)).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/covered by run/) });
    expect((await runs.begin(await task('cover', 'delta'))).kind).toBe('run');
  });

  it('only a full run that began after a full request covers it; a delta never does', async () => {
    const request = await task('full-cover', 'full');
    const delta = await started(await task('full-cover', 'delta'));
    await runs.finish(delta);
    const b = await runs.begin(request);
    expect(b.kind).toBe('run');
    if (b.kind === 'run') await runs.finish(b.run);
    expect(await runs.begin(request)).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/covered by run/) });
  });

  it('a continuation runs only at the turn its run is at; later ones of a finished or failed run are no-ops', async () => {
    const run = await started(await task('turns', 'full'));
    await runs.checkpoint(run, 'c1');
    const cont = (turn: number) =>
      newTask({
        ...run,
        integration_id: 'turns',
        endpoint: 'hris/employees',
        mode: 'full',
        reason: 'c',
        requested_at: new Date(),
        cursor: 'c1',
        run_id: run.runId,
        turn,
      });
    expect((await runs.begin(cont(1))).kind).toBe('run');
    expect(await runs.begin(cont(2))).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/a replay/) });
    await runs.fail(run.runId, 'dead-lettered');
    expect(await runs.begin(cont(1))).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/has failed/) });
  });

  it('one full run per endpoint in flight: a second joins it; a stale or dead one is abandoned for a new one', async () => {
    const first = await started(await task('one', 'full'));
    expect(await runs.begin(await task('one', 'full'))).toMatchObject({
      kind: 'skip',
      reason: expect.stringMatching(/coalesced/),
    });
    await ctx.pool.query(
      `UPDATE "${ctx.stateSchema}".fetch_runs SET updated_at = now() - interval '2 hours' WHERE run_id = $1`,
      [first.runId],
    );
    const second = await started(await task('one', 'full'));
    expect(BigInt(second.generation ?? 0)).toBeGreaterThan(BigInt(first.generation ?? 0));
    // A drift run's own run (no task on Kafka) still marked running under the lock: its process died.
    await runs.fail(second.runId, 'x');
    const detached = await runs.begin(await task('one', 'full'), { detached: true });
    expect(detached.kind).toBe('run');
    expect((await runs.begin(await task('one', 'full'))).kind).toBe('run');
    const states = await ctx.pool.query(
      `SELECT status, count(*)::int AS n FROM "${ctx.stateSchema}".fetch_runs WHERE integration_id = 'one' GROUP BY 1 ORDER BY 1`,
    );
    expect(states.rows).toEqual([
      { status: 'failed', n: 3 },
      { status: 'running', n: 1 },
    ]);
  });
});

describe('fetch runs, when a run ends early', () => {
  it('a full request that joined a run is handed back when that run fails, so it is not lost', async () => {
    const run = await started(await task('joined', 'full'));
    const joining = await task('joined', 'full');
    expect((await runs.begin(joining)).kind).toBe('skip');
    expect((await runs.fail(run.runId, 'dead-lettered')).full?.toISOString()).toBe(joining.requested_at);
    // A run nobody joined hands back nothing.
    const lone = await started(await task('joined', 'full'));
    expect(await runs.fail(lone.runId, 'dead-lettered')).toEqual({});
  });

  it('a request in the same millisecond as a run began counts as after it: joined, never covered', async () => {
    // Tasks carry request times in milliseconds; a run's start has microseconds. A request stamped
    // with the millisecond a run began may have come after it began.
    const sameMs = async (run: { startedAt: Date }, mode: 'delta' | 'full') => ({
      ...(await task('same-ms', mode)),
      requested_at: run.startedAt.toISOString(),
    });
    const run = await started(await task('same-ms', 'full'));
    const joining = await sameMs(run, 'full');
    expect((await runs.begin(joining)).kind).toBe('skip');
    expect((await runs.finish(run)).full?.toISOString()).toBe(joining.requested_at);
    expect((await runs.begin(await sameMs(run, 'full'))).kind).toBe('run');
  });

  it('a delta without a watermark waits for the full fetch in flight, which hands it back when it ends', async () => {
    const full = await started(await task('first-delta', 'full'));
    const delta = await task('first-delta', 'delta');
    expect(await runs.begin(delta, { updatedAfter: null })).toMatchObject({
      kind: 'skip',
      reason: expect.stringMatching(/waits for the full fetch in flight/),
    });
    // A delta from a watermark does not wait: it is cheap, and goes ahead of the full fetch.
    expect((await runs.begin(await task('first-delta', 'delta'), { updatedAfter: new Date() })).kind).toBe('run');
    expect((await runs.finish(full)).delta?.toISOString()).toBe(delta.requested_at);
  });

  it('a run ended meanwhile is not brought back by the process that was still working on it', async () => {
    const run = await started(await task('ended', 'full'));
    await runs.fail(run.runId, 'abandoned');
    await expect(runs.checkpoint(run, 'c')).rejects.toMatchObject({ code: 'KS_ERR_RUN_ABANDONED' });
    await expect(runs.finish(run)).rejects.toMatchObject({ code: 'KS_ERR_RUN_ABANDONED' });
  });
});

describe('record index', () => {
  const rec = (id: string, hash = `h-${id}`) => ({ id, hash, deleted: false, changedAt: null, value: { id, hash } });
  const gen = async (g: string, startedAt: Date) => {
    const out: string[] = [];
    for await (const ids of index.unseenIds({
      integrationId: 'i',
      endpoint: 'hris/employees',
      generation: g,
      startedAt,
    }))
      out.push(...ids);
    return out;
  };

  it('generations only move forward, and a sweep judges only keys older than its own generation', async () => {
    const t0 = await dbNow(ctx.pool);
    await index.write('i', 'hris/employees', [rec('a'), rec('b'), rec('c')], t0, '1');
    const t1 = await dbNow(ctx.pool);
    // Generation 3 (a newer full fetch) sees a and b; then generation 2, older and still running, sees a.
    await index.markSeen('i', 'hris/employees', ['a', 'b'], '3');
    await index.markSeen('i', 'hris/employees', ['a'], '2');
    await index.write('i', 'hris/employees', [rec('b', 'h-b2')], await dbNow(ctx.pool), '2');
    // Generation 2's sweep may judge only c: b was seen by a newer generation, not taken back by 2.
    expect(await gen('2', t1)).toEqual(['c']);
    expect(await gen('3', t1)).toEqual(['c']);
    // b was read again after t1: a sweep of a generation that began at t1 may not judge it.
    expect(await gen('4', t1)).toEqual(['a', 'c']);
  });

  it('a version read earlier never overwrites one read later', async () => {
    const late = await dbNow(ctx.pool);
    const early = new Date(late.getTime() - 5);
    await index.write('v', 'hris/employees', [rec('x', 'late')], late, null);
    await index.write('v', 'hris/employees', [rec('x', 'early')], early, null);
    expect((await index.lookup('v', 'hris/employees', ['x'])).get('x')?.hash).toBe('late');
  });
});
