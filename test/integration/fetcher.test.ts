import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import { KomboClient } from '../../src/kombo/client.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { type FetchTask, newTask } from '../../src/planner/task.ts';
import { enqueueTasks } from '../../src/planner/trigger.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { StateStore } from '../../src/state/store.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { dlqTopic, recordTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let fetcher: RunningRole;
let producer: Producer;
let store: StateStore;
let HRIS: string;
let ATS: string;
let BIG: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({
    seed: 9,
    integrations: [
      { category: 'HRIS', size: 30 },
      { category: 'ATS', size: 20 },
      { category: 'HRIS', size: 300 },
    ],
  });
  [HRIS, ATS, BIG] = sim.core.integrations().map((i) => i.id) as [string, string, string];
  deps = await testDeps(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_RATE_LIMIT: 500,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 200,
    FETCH_PAGE_SIZE: 25,
    FETCH_MAX_PAGES_PER_TURN: 2,
    FETCH_OVERLAP: '2s',
    FETCH_MAX_ATTEMPTS: 8,
    FETCH_RETRY_BASE: '20ms',
    FETCH_RETRY_MAX: '200ms',
    FETCH_CONCURRENCY: 3,
  });
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  for (const i of sim.core.integrations())
    await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: i.category });
  producer = ctx.kafka.producer();
  fetcher = await startFetcher(deps, { maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  await fetcher?.stop();
  await producer?.close();
  await sim?.stop();
  await ctx?.close();
});

const prefix = () => deps.config.kafka.topicPrefix;
async function run(integration: string, endpoint: EndpointName, mode: 'delta' | 'full'): Promise<FetchTask> {
  const t = newTask({ integration_id: integration, endpoint, mode, reason: 'test', requested_at: new Date() });
  await enqueueTasks(producer, prefix(), [t]);
  await eventually(
    () =>
      ctx.pool.query(
        `SELECT 1 FROM ${store.schema}.fetch_runs WHERE integration_id = $1 AND endpoint = $2 AND status IN ('done', 'failed') AND started_at >= $3`,
        [integration, endpoint, t.requested_at],
      ),
    (r) => (r.rowCount ?? 0) > 0,
    60_000,
  );
  return t;
}
const records = async (endpoint: EndpointName) => readTopic(ctx.kafka, recordTopic(prefix(), endpoint));
/** Records produced since `before` was read (partitions interleave, so compare positions, not counts). */
const since = async (endpoint: EndpointName, before: Awaited<ReturnType<typeof records>>) => {
  const seen = new Set(before.map((r) => `${r.partition}:${r.offset}`));
  return (await records(endpoint)).filter((r) => !seen.has(`${r.partition}:${r.offset}`));
};
/** The compacted view of a topic for one integration: last value per key, tombstoned keys gone. */
async function view(endpoint: EndpointName, integration: string): Promise<Map<string, unknown>> {
  const m = new Map<string, unknown>();
  for (const r of await records(endpoint)) {
    const key = JSON.parse(r.key?.toString() ?? '{}');
    if (key.integration_id !== integration) continue;
    if (r.value === null) m.delete(key.id);
    else m.set(key.id, JSON.parse(r.value.toString()));
  }
  return m;
}
const liveTruth = (integration: string, endpoint: EndpointName) =>
  new Map(sim.core.truth(integration, endpoint, { includeDeleted: false }).map((r) => [r.id as string, r]));

describe('fetching into compacted topics', () => {
  it('a full fetch puts every record, exactly as Kombo returned it, on the topic', async () => {
    for (const ep of ['hris/employees', 'hris/absences', 'hris/time-off-balances'] as const) {
      await run(HRIS, ep, 'full');
      expect(await view(ep, HRIS)).toEqual(liveTruth(HRIS, ep));
    }
    await run(ATS, 'ats/applications', 'full');
    expect(await view('ats/applications', ATS)).toEqual(liveTruth(ATS, 'ats/applications'));
    const rec = (await records('hris/employees'))[0];
    expect(JSON.parse(rec?.key?.toString() ?? '')).toEqual({ integration_id: HRIS, id: expect.any(String) });
    expect(rec?.headers).toMatchObject({
      'kombo-integration-id': HRIS,
      'kombo-endpoint': 'hris/employees',
      'kombo-op': 'upsert',
    });
    const state = await store.endpointState(HRIS, 'hris/employees');
    expect(state?.status).toBe('ok');
    expect(state?.watermark?.getTime()).toBe(state?.last_fetch_started_at?.getTime());
    // The scheduler counts a delta of a never-fetched endpoint as bulk: only fetched ones have a watermark.
    const known = await store.withWatermark([
      { integration_id: HRIS, endpoint: 'hris/employees' },
      { integration_id: HRIS, endpoint: 'hris/groups' },
    ]);
    expect([...known]).toEqual([`${HRIS}\0hris/employees`]);
  });

  it('a delta emits only the changes; the overlap re-fetch and a full re-fetch emit nothing', async () => {
    const before = await records('hris/employees');
    const truthBefore = liveTruth(HRIS, 'hris/employees');
    const targets = [...truthBefore.keys()].slice(0, 3);
    await sim.core.change(
      HRIS,
      targets.map((id) => ({ op: 'update' as const, endpoint: 'hris/employees' as const, id })),
    );
    // The three, plus their reports: a manager's change shows in the nested `manager` (§2.4).
    const changed = [...liveTruth(HRIS, 'hris/employees')]
      .filter(([id, r]) => JSON.stringify(r) !== JSON.stringify(truthBefore.get(id)))
      .map(([id]) => id);
    await run(HRIS, 'hris/employees', 'delta');
    const after = await records('hris/employees');
    expect((await since('hris/employees', before)).map((r) => JSON.parse(r.key?.toString() ?? '').id).sort()).toEqual(
      changed.sort(),
    );
    expect(changed).toEqual(expect.arrayContaining(targets));
    await run(HRIS, 'hris/employees', 'delta');
    await run(HRIS, 'hris/employees', 'full');
    expect((await records('hris/employees')).length).toBe(after.length);
  });

  it('fetches a parent whose nested data changed (employment -> employee)', async () => {
    const emp = (sim.core.truth(HRIS, 'hris/employees', { includeDeleted: false }) as any[]).find(
      (e) => e.employments.length,
    );
    const before = await records('hris/employees');
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/employments', id: emp.employments[0].id }]);
    await run(HRIS, 'hris/employees', 'delta');
    const added = await since('hris/employees', before);
    expect(added.map((r) => JSON.parse(r.key?.toString() ?? '').id)).toEqual([emp.id]);
  });

  it('a deletion is the record with remote_deleted_at, then a tombstone', async () => {
    const victim = (sim.core.truth(HRIS, 'hris/absences', { includeDeleted: false }) as any[])[0];
    const before = await records('hris/absences');
    // A full sync at Kombo: the only kind that marks deletions.
    await sim.core.change(HRIS, [{ op: 'delete', endpoint: 'hris/absences', id: victim.id }], 'FULL');
    await run(HRIS, 'hris/absences', 'delta');
    const added = await since('hris/absences', before);
    expect(added).toHaveLength(2);
    expect(JSON.parse(added[0]?.value?.toString() ?? '').remote_deleted_at).toEqual(expect.any(String));
    expect(added[0]?.headers['kombo-op']).toBe('delete');
    expect(added[1]?.value).toBeNull();
    expect(added[1]?.key?.toString()).toBe(added[0]?.key?.toString());
    expect((await view('hris/absences', HRIS)).has(victim.id)).toBe(false);
  });

  it('survives 429 storms, 5xx, connection resets and truncated bodies', async () => {
    sim.core.setApiFaults({ rate429: 0.2, retryAfterSec: 0, error5xxRate: 0.15, resetRate: 0.1, truncateRate: 0.15 });
    try {
      await run(ATS, 'ats/candidates', 'full');
    } finally {
      sim.core.clearFaults();
    }
    expect(await view('ats/candidates', ATS)).toEqual(liveTruth(ATS, 'ats/candidates'));
    const m = await deps.metrics.getSingleMetricAsString('kombo_stream_fetcher_retries_total');
    expect(m).toMatch(/KS_ERR_KOMBO_(RATE_LIMITED|SERVER|TRANSPORT)/);
  });

  it('a failing fetch leaves the watermark; the task is dead-lettered and the status shows it; the next fetch repeats', async () => {
    const before = await store.endpointState(HRIS, 'hris/timesheets');
    await run(HRIS, 'hris/timesheets', 'full');
    const ok = await store.endpointState(HRIS, 'hris/timesheets');
    await sim.core.change(HRIS, [{ op: 'create', endpoint: 'hris/timesheets' }]);
    sim.core.setApiFaults({ error5xxRate: 1 });
    const dlqBefore = (await readTopic(ctx.kafka, dlqTopic(prefix()))).length;
    try {
      await run(HRIS, 'hris/timesheets', 'delta');
    } finally {
      sim.core.clearFaults();
    }
    const failed = await eventually(
      () => store.endpointState(HRIS, 'hris/timesheets'),
      (x) => x?.status === 'failed',
    );
    expect(failed?.status).toBe('failed');
    expect(failed?.last_error_code).toBe('KS_ERR_KOMBO_SERVER');
    expect(failed?.watermark?.getTime()).toBe(ok?.watermark?.getTime());
    const dlq = await eventually(
      () => readTopic(ctx.kafka, dlqTopic(prefix())),
      (r) => r.length > dlqBefore,
    );
    expect(dlq.at(-1)?.headers['kombo-error-code']).toBe('KS_ERR_KOMBO_SERVER');
    await run(HRIS, 'hris/timesheets', 'delta');
    expect(await view('hris/timesheets', HRIS)).toEqual(liveTruth(HRIS, 'hris/timesheets'));
    expect((await store.endpointState(HRIS, 'hris/timesheets'))?.status).toBe('ok');
    void before;
  });

  it('misses nothing a non-atomic sync streams in during a fetch, nor a change committed with lag', async () => {
    await run(ATS, 'ats/tags', 'full');
    sim.core.syncDurationMs = 600;
    const sync = sim.core.change(
      ATS,
      Array.from({ length: 6 }, () => ({ op: 'create' as const, endpoint: 'ats/tags' as const })),
    );
    await new Promise((r) => setTimeout(r, 200));
    await run(ATS, 'ats/tags', 'delta'); // sees part of the sync
    await sync;
    sim.core.syncDurationMs = 0;
    sim.core.commitLagMs = 1_500; // visible now, but dated 1.5 s ago: before the last fetch started
    await sim.core.change(ATS, [{ op: 'create', endpoint: 'ats/tags' }]);
    sim.core.commitLagMs = 0;
    await run(ATS, 'ats/tags', 'delta');
    expect(await view('ats/tags', ATS)).toEqual(liveTruth(ATS, 'ats/tags'));
  });

  it('a long full fetch yields; a later delta of a small integration and of the same one finish first', async () => {
    // Both endpoints were fetched before, so both deltas are deltas from a watermark.
    await run(BIG, 'hris/employments', 'full');
    await run(HRIS, 'hris/employments', 'full');
    // The full fetch's first turn (2 pages) passes, then its pages are held: it is mid-run, and stays
    // so until released, whatever the machine's speed. Both deltas are requested meanwhile.
    const hold = sim.core.hold(BIG, 'hris/employments', { after: 2 });
    const full = newTask({
      integration_id: BIG,
      endpoint: 'hris/employments',
      mode: 'full',
      reason: 'big-full',
      requested_at: new Date(),
    });
    await enqueueTasks(producer, prefix(), [full]);
    await eventually(
      async () => hold.waiting,
      (n) => n > 0,
      30_000,
    );
    await sim.core.change(BIG, [{ op: 'update', endpoint: 'hris/employments' }]);
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/employments' }]);
    const small = newTask({
      integration_id: HRIS,
      endpoint: 'hris/employments',
      mode: 'delta',
      reason: 'small-delta',
      requested_at: new Date(),
    });
    const same = newTask({
      integration_id: BIG,
      endpoint: 'hris/employments',
      mode: 'delta',
      reason: 'big-delta',
      requested_at: new Date(),
    });
    await enqueueTasks(producer, prefix(), [small, same]);
    const q = `SELECT mode, status, updated_at, integration_id, pages FROM ${store.schema}.fetch_runs WHERE endpoint = 'hris/employments' AND started_at >= $1 ORDER BY updated_at`;
    const done = async () => (await ctx.pool.query(q, [full.requested_at])).rows.filter((x) => x.status === 'done');
    // Another integration is not held up by the big one's full fetch.
    const whileHeld = await eventually(done, (rows) => rows.some((x) => x.integration_id === HRIS), 60_000);
    expect(whileHeld.map((x) => `${x.integration_id === HRIS ? 'small' : 'big'} ${x.mode}`)).toEqual(['small delta']);
    hold.release();
    const rows = await eventually(done, (r) => r.length >= 3, 90_000);
    const bigFull = rows.find((x) => x.integration_id === BIG && x.mode === 'full');
    const bigDelta = rows.find((x) => x.integration_id === BIG && x.mode === 'delta');
    expect(bigFull.pages).toBeGreaterThan(4);
    // The same integration's delta goes ahead of the rest of its running full fetch.
    expect(bigDelta.updated_at.getTime()).toBeLessThan(bigFull.updated_at.getTime());
    expect(await view('hris/employments', BIG)).toEqual(liveTruth(BIG, 'hris/employments'));
  });

  it('skips a task requested before a fetch that has since finished (coalescing)', async () => {
    const stale = newTask({
      integration_id: HRIS,
      endpoint: 'hris/legal-entities',
      mode: 'delta',
      reason: 'stale',
      requested_at: new Date(Date.now() - 60_000).toISOString(),
    });
    await run(HRIS, 'hris/legal-entities', 'delta');
    const runsBefore = (
      await ctx.pool.query(
        `SELECT count(*)::int AS n FROM ${store.schema}.fetch_runs WHERE endpoint = 'hris/legal-entities'`,
      )
    ).rows[0].n;
    await enqueueTasks(producer, prefix(), [stale]);
    await run(HRIS, 'hris/locations', 'delta'); // a marker: tasks are processed in order per integration
    const runsAfter = (
      await ctx.pool.query(
        `SELECT count(*)::int AS n FROM ${store.schema}.fetch_runs WHERE endpoint = 'hris/legal-entities'`,
      )
    ).rows[0].n;
    expect(runsAfter).toBe(runsBefore);
  });

  it('a delta without a watermark reads everything in turns, checkpointed, like a full fetch', async () => {
    const t = await run(BIG, 'hris/employees', 'delta');
    const [r] = (
      await ctx.pool.query(
        `SELECT * FROM ${store.schema}.fetch_runs WHERE integration_id = $1 AND endpoint = 'hris/employees' AND mode = 'delta' AND started_at >= $2`,
        [BIG, t.requested_at],
      )
    ).rows;
    // 300 employees in pages of 25, two pages a turn.
    expect(r).toMatchObject({ status: 'done', pages: 12, turns: 5, updated_after: null });
    expect((await store.endpointState(BIG, 'hris/employees'))?.watermark?.getTime()).toBe(r.started_at.getTime());
    expect(await view('hris/employees', BIG)).toEqual(liveTruth(BIG, 'hris/employees'));
  });

  it('a cursor that leads back to an earlier page fails the task with a clear error instead of running forever', async () => {
    sim.core.setApiFaults({ cursorLoops: [HRIS] });
    try {
      await run(HRIS, 'hris/employees', 'full');
    } finally {
      sim.core.clearFaults();
    }
    const s = await store.endpointState(HRIS, 'hris/employees');
    expect(s).toMatchObject({ status: 'failed', last_error_code: 'KS_ERR_KOMBO_CURSOR_LOOP' });
    const dlq = (await readTopic(ctx.kafka, dlqTopic(prefix()))).at(-1);
    expect(dlq?.headers['kombo-error-code']).toBe('KS_ERR_KOMBO_CURSOR_LOOP');
  });

  it('refuses an answer larger than the configured limit without reading it', async () => {
    const client = new KomboClient({ apiUrl: sim.url, apiKey: sim.apiKey, maxResponseBytes: 4_096 });
    try {
      await expect(
        client.listPage(BIG, 'hris/employees', { pageSize: 25, includeDeleted: true }),
      ).rejects.toMatchObject({ code: 'KS_ERR_KOMBO_RESPONSE_TOO_LARGE' });
      const small = await client.listPage(BIG, 'hris/absence-types', { pageSize: 1, includeDeleted: true });
      expect(small.results).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('a damaged page: the bad record is dead-lettered, the rest go on, and the endpoint and its watermark move', async () => {
    // An endpoint no other test here fetched: every record of its first page is new to the index.
    const ep: EndpointName = 'ats/interviews';
    const before = await records(ep);
    sim.core.setApiFaults({ damagedPages: [ATS] });
    try {
      await run(ATS, ep, 'full');
      const added = (await since(ep, before)).filter((r) => r.value);
      const truth = sim.core.truth(ATS, ep).slice(0, 4) as { id: string }[];
      const ids = added.map((r) => JSON.parse(r.key?.toString() ?? '{}').id as string);
      const [nul, badDate, twice, huge] = truth as [
        (typeof truth)[0],
        (typeof truth)[0],
        (typeof truth)[0],
        (typeof truth)[0],
      ];
      // NUL dropped (Postgres could not store it), an unreadable changed_at kept as Kombo sent it, a
      // repeated record emitted once, the oversized one not at all.
      const value = (id: string) =>
        JSON.parse(added.find((r) => JSON.parse(r.key?.toString() ?? '{}').id === id)?.value?.toString() ?? '{}');
      const strings = Object.entries(nul).filter(([k, v]) => k !== 'id' && typeof v === 'string');
      expect(strings.length).toBeGreaterThan(0);
      for (const [k, v] of strings) expect(value(nul.id)[k]).toBe(`${v}x`);
      expect(value(badDate.id).changed_at).toBe('sometime last week');
      expect(ids.filter((id) => id === twice.id)).toHaveLength(1);
      expect(ids).not.toContain(huge.id);
      const dlq = (await readTopic(ctx.kafka, dlqTopic(prefix()))).filter(
        (r) => r.headers['kombo-error-code'] === 'KS_ERR_RECORD_TOO_LARGE',
      );
      expect(dlq.map((r) => JSON.parse(r.key?.toString() ?? '{}').id)).toContain(huge.id);
      const state = await store.endpointState(ATS, ep);
      expect(state).toMatchObject({ status: 'ok', last_rejected_code: 'KS_ERR_RECORD_TOO_LARGE' });
      expect(state?.watermark?.getTime()).toBe(state?.last_fetch_started_at?.getTime());
      expect(state?.rejected_records).toBeGreaterThanOrEqual(1);
      expect(await deps.metrics.getSingleMetricAsString('kombo_stream_fetcher_rejected_records_total')).toMatch(
        /code="KS_ERR_RECORD_TOO_LARGE"} [1-9]/,
      );
    } finally {
      sim.core.clearFaults();
    }
    // Once the upstream sends it whole, the next full fetch emits it.
    await run(ATS, ep, 'full');
    expect(await view(ep, ATS)).toEqual(liveTruth(ATS, ep));
  });
});
