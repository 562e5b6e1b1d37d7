import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import type { RawSettings } from '../../src/config/config.ts';
import { createDriftContext } from '../../src/drift/context.ts';
import { confirmSweep } from '../../src/drift/sweep.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { freePort } from '../../src/localstack/process.ts';
import { type FetchTask, newTask, taskSchema } from '../../src/planner/task.ts';
import { enqueueTasks, fullsInFlight, resumeSyncs } from '../../src/planner/trigger.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth } from '../../src/sim/verify.ts';
import { startSink } from '../../src/sink/role.ts';
import { dbNow } from '../../src/state/clock.ts';
import { StateStore } from '../../src/state/store.ts';
import type { OutRecord, Producer } from '../../src/topics/kafka.ts';
import { recordTopic, tasksTopic } from '../../src/topics/names.ts';
import { spawnNode } from '../helpers/child.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

// Every full fetch here spans several turns (pages of 10, one page per turn) with deltas, replays,
// second requests and operators acting between the turns; the simulator's holds force each
// interleaving, so none of it depends on timing.
const EMP: EndpointName = 'hris/employees';
let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let fetcher: RunningRole;
let sink: RunningRole;
let producer: Producer;
let store: StateStore;
let ids: Record<'replay' | 'coalesce' | 'order' | 'confirm' | 'heal' | 'behind' | 'clock' | 'pause', string>;
let openSinkGate: (() => void) | undefined;
let settings: RawSettings;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({
    seed: 21,
    integrations: [
      { category: 'HRIS', size: 60 },
      { category: 'HRIS', size: 60 },
      { category: 'HRIS', size: 60 },
      { category: 'HRIS', size: 40 },
      { category: 'HRIS', size: 30 },
      { category: 'HRIS', size: 30 },
      { category: 'HRIS', size: 30 },
      { category: 'HRIS', size: 30 },
    ],
  });
  const [replay, coalesce, order, confirm, heal, behind, clock, pause] = sim.core
    .integrations()
    .map((i) => i.id) as string[];
  ids = { replay, coalesce, order, confirm, heal, behind, clock, pause } as typeof ids;
  settings = {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_RATE_LIMIT: 1000,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 500,
    KOMBO_ENDPOINTS: 'hris/employees,hris/groups',
    FETCH_PAGE_SIZE: 10,
    FETCH_MAX_PAGES_PER_TURN: 1,
    FETCH_MAX_SINK_LAG: 0,
    FETCH_MAX_ATTEMPTS: 2,
    FETCH_RETRY_BASE: '10ms',
    FETCH_RETRY_MAX: '20ms',
    FETCH_CONCURRENCY: 3,
    DRIFT_GUARD_MIN_RECORDS: 5,
    DRIFT_SINK_GRACE: '60s',
  };
  deps = await testDeps(ctx, settings);
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  for (const i of sim.core.integrations())
    await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: i.category });
  producer = ctx.kafka.producer();
  sink = await startSink(deps, { maxWaitTimeInMs: 100 });
  fetcher = await startFetcher(deps, { maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  openSinkGate?.();
  await fetcher?.stop();
  await sink?.stop();
  await producer?.close();
  await sim?.stop();
  await ctx?.close();
});

const s = () => store.schema;
const task = async (
  integration: string,
  mode: 'delta' | 'full',
  reason = `test:${mode}`,
  endpoint: EndpointName = EMP,
) => newTask({ integration_id: integration, endpoint, mode, reason, requested_at: await dbNow(ctx.pool) });
const enqueue = (...tasks: FetchTask[]) => enqueueTasks(producer, deps.config.kafka.topicPrefix, tasks);
const runs = async (integration: string, since: string, endpoint: EndpointName = EMP) =>
  (
    await ctx.pool.query(
      `SELECT * FROM ${s()}.fetch_runs WHERE integration_id = $1 AND endpoint = $2 AND started_at >= $3 ORDER BY started_at`,
      [integration, endpoint, since],
    )
  ).rows;
const driftRuns = async (runId: string) =>
  (await ctx.pool.query(`SELECT * FROM ${s()}.drift_runs WHERE run_id = $1`, [runId])).rows;
/** Runs a task to its end (every turn) and returns its run. */
async function runToEnd(t: FetchTask) {
  await enqueue(t);
  const [run] = await eventually(
    () => runs(t.integration_id, t.requested_at, t.endpoint),
    (r) => r.length > 0 && r.every((x) => x.status === 'done' || x.status === 'failed'),
    60_000,
  );
  return run;
}
const matchesTruth = (integration: string, endpoints: EndpointName[] = [EMP]) =>
  eventually(
    () => compareWithTruth(ctx.pool, ctx.schema, sim.core, [integration], endpoints),
    (d) => d.length === 0,
    30_000,
  );
const continuations = async (runId: string) =>
  (await readTopic(ctx.kafka, tasksTopic(deps.config.kafka.topicPrefix)))
    .map((r) => taskSchema.parse(JSON.parse(r.value?.toString() ?? '{}')))
    .filter((t) => t.run_id === runId);
/** Tasks waiting in the fetcher (behind a running turn of their integration). */
const queued = async () =>
  (await deps.metrics.getSingleMetric('kombo_stream_fetcher_tasks_queued')?.get())?.values[0]?.value ?? 0;
const fullRequests = { match: (q: { updatedAfter: number | undefined }) => q.updatedAfter === undefined };

/** Starts a full fetch whose list requests wait once `after` of them passed; resolves when one waits. */
async function heldFull(id: string, after: number, reason: string, only?: typeof fullRequests) {
  const hold = sim.core.hold(id, EMP, { after, ...only });
  const t = await task(id, 'full', reason);
  await enqueue(t);
  await eventually(
    async () => hold.waiting,
    (n) => n > 0,
  );
  return { hold, task: t };
}

describe('full fetches over many turns', () => {
  it('a redelivered continuation is a no-op: one chain, one drift report, the run left as it was', async () => {
    const id = ids.replay;
    const { hold, task: first } = await heldFull(id, 2, 'test:full');
    const [run] = await runs(id, first.requested_at);
    const [turn1] = await continuations(run.run_id);
    // A rebalance hands back an offset below turn 1's continuation while the run is in turn 3.
    await enqueue(turn1 as FetchTask);
    await eventually(queued, (n) => n > 0);
    hold.release();
    const done = await eventually(
      () => runs(id, first.requested_at),
      (r) => r[0]?.status === 'done',
      60_000,
    );
    // ...and the last continuation and the first task come again after the run finished.
    const all = await continuations(run.run_id);
    await enqueue(all.at(-1) as FetchTask, first);
    await runToEnd(await task(id, 'full', 'marker', 'hris/groups'));
    const after = await runs(id, first.requested_at);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ status: 'done', pages: 6, turns: 5 });
    expect(after[0].updated_at).toEqual(done[0].updated_at);
    // Turns 1 to 5 once each, plus the two replays: no turn ran twice, so none queued a second chain.
    const chain = await continuations(run.run_id);
    expect(chain.map((c) => c.turn).sort()).toEqual([1, 1, 2, 3, 4, 5, 5]);
    expect(await driftRuns(run.run_id)).toHaveLength(1);
    expect(await store.endpointState(id, EMP)).toMatchObject({ status: 'ok', consecutive_failures: 0 });
    expect(await matchesTruth(id)).toEqual([]);
  });

  it('a second full fetch while one is in flight joins it (one follows it), whoever asks: nothing live is deleted', async () => {
    const id = ids.coalesce;
    await runToEnd(await task(id, 'full', 'initial'));
    expect(await matchesTruth(id)).toEqual([]);
    // The weekly full fetch is in its last turns (turn 5 of 6 waits)...
    const { hold, task: weekly } = await heldFull(id, 4, 'schedule:full');
    // ...when an operator asks for a full sync (and is told it joins the one in flight), and the weekly
    // task is replayed after a rebalance.
    const [weeklyRun] = await runs(id, weekly.requested_at);
    expect(await fullsInFlight({ config: deps.config, store, producer }, id, [EMP])).toMatchObject([
      { endpoint: EMP, run_id: weeklyRun.run_id },
    ]);
    await enqueue(await task(id, 'full', 'admin:full'), weekly);
    await eventually(queued, (n) => n >= 2);
    hold.release();
    // The weekly run finishes; the operator's request, which came after it began, gets one more full
    // fetch after it (the replay, which is the weekly task itself, gets none): never two at once.
    const [run, followUp, ...more] = await eventually(
      () => runs(id, weekly.requested_at),
      (r) => r.length >= 2 && r.every((x) => x.status === 'done'),
      60_000,
    );
    await runToEnd(await task(id, 'full', 'marker', 'hris/groups'));
    expect(more).toEqual([]);
    expect(followUp.started_at.getTime()).toBeGreaterThan(run.finished_at.getTime());
    expect((await runs(id, weekly.requested_at)).map((r) => r.run_id)).toEqual([run.run_id, followUp.run_id]);
    for (const r of [run, followUp])
      expect(await driftRuns(r.run_id)).toMatchObject([{ deleted: '0', outcome: 'clean', sink_checked: true }]);
    expect(await matchesTruth(id)).toEqual([]);
    const live = await ctx.pool.query(
      `SELECT count(*)::int AS n FROM "${ctx.schema}".hris_employees WHERE integration_id = $1 AND _kombo_deleted_at IS NULL`,
      [id],
    );
    expect(live.rows[0].n).toBe(60);
  });

  it('a version read later wins, even when its full fetch began before a delta that ran between its turns', async () => {
    const id = ids.order;
    await runToEnd(await task(id, 'full', 'initial'));
    const x = sim.core.truth(id, EMP)[55] as { id: string };
    // The full fetch reads page 1, then waits before page 2.
    const { hold: h1, task: full } = await heldFull(id, 1, 'test:full', fullRequests);
    // x changes (v2) and a delta is queued: it runs between the full fetch's turns 2 and 3.
    await sim.core.change(id, [{ op: 'update', endpoint: EMP, id: x.id }]);
    const delta = await task(id, 'delta');
    await enqueue(delta);
    await eventually(queued, (n) => n > 0);
    const h2 = sim.core.hold(id, EMP, { after: 0, ...fullRequests });
    h1.release();
    await eventually(
      () => runs(id, delta.requested_at),
      (r) => r.some((x) => x.mode === 'delta' && x.status === 'done'),
      30_000,
    );
    // x changes again (v3) before the full fetch reaches its page: the full fetch reads v3 last.
    await sim.core.change(id, [{ op: 'update', endpoint: EMP, id: x.id }]);
    h2.release();
    await eventually(
      () => runs(id, full.requested_at),
      (r) => r.find((x) => x.mode === 'full')?.status === 'done',
      60_000,
    );
    const v3 = sim.core.truth(id, EMP).find((r) => r.id === x.id);
    const onTopic = (await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, EMP)))
      .filter((r) => r.value && JSON.parse(r.key?.toString() ?? '{}').id === x.id)
      .at(-1);
    expect(JSON.parse(onTopic?.value?.toString() ?? '{}')).toEqual(v3);
    expect(await matchesTruth(id)).toEqual([]);
  });
  it('a fetcher host whose clock is an hour slow neither loses the version order nor sets the watermark', async () => {
    const id = ids.clock;
    await runToEnd(await task(id, 'full', 'initial'));
    const x = sim.core.truth(id, EMP, { includeDeleted: false })[0] as { id: string };
    await sim.core.change(id, [{ op: 'update', endpoint: EMP, id: x.id }]);
    await runToEnd(await task(id, 'delta'));
    expect(await matchesTruth(id)).toEqual([]);
    const before = await store.endpointState(id, EMP);
    // The next fetch runs in another process on a host whose clock is an hour behind.
    await fetcher.stop();
    const env = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)]));
    const slow = spawnNode(['--import', './test/fixtures/skew-clock.ts', 'src/cli.ts', 'start', '--role', 'fetcher'], {
      ...env,
      CLOCK_SKEW_MS: String(-3_600_000),
      TOPIC_PREFIX: deps.config.kafka.topicPrefix,
      PG_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
      PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    });
    try {
      await sim.core.change(id, [{ op: 'update', endpoint: EMP, id: x.id }]);
      const run = await runToEnd(await task(id, 'delta'));
      expect(run.status).toBe('done');
      expect(await matchesTruth(id)).toEqual([]);
      const after = await store.endpointState(id, EMP);
      expect(after?.watermark?.getTime()).toBe(run.started_at.getTime());
      expect(after?.watermark?.getTime()).toBeGreaterThan(before?.watermark?.getTime() ?? 0);
    } finally {
      slow.proc.kill('SIGTERM');
      expect(await slow.exited, slow.output()).toBe(0);
      fetcher = await startFetcher(await testDeps(ctx, settings), { maxWaitTimeInMs: 100 });
    }
  }, 120_000);
});

describe('confirming a blocked sweep', () => {
  const live = async (id: string) =>
    (
      await ctx.pool.query(
        `SELECT count(*)::int AS n FROM "${ctx.schema}".hris_employees WHERE integration_id = $1 AND _kombo_deleted_at IS NULL`,
        [id],
      )
    ).rows[0].n as number;
  const alert = async (id: string) =>
    (await ctx.pool.query(`SELECT * FROM ${s()}.drift_alerts WHERE integration_id = $1 AND endpoint = $2`, [id, EMP]))
      .rows[0];
  const outage = async (id: string) => {
    sim.core.setApiFaults({ emptyLists: true });
    try {
      return await runToEnd(await task(id, 'full', 'outage'));
    } finally {
      sim.core.clearFaults();
    }
  };
  const driftCtx = (p: Producer = producer) => createDriftContext(deps, p);

  it('refuses, deleting nothing, once a later partial full fetch proved some of the records live', async () => {
    const id = ids.confirm;
    await runToEnd(await task(id, 'full', 'initial'));
    expect(await matchesTruth(id)).toEqual([]);
    const blocked = await outage(id);
    expect(await driftRuns(blocked.run_id)).toMatchObject([{ outcome: 'blocked', deleted: '0', blocked: '40' }]);
    // A later full fetch reads two pages, then fails for good (its task is dead-lettered).
    const { hold, task: partial } = await heldFull(id, 2, 'partial');
    sim.core.setApiFaults({ failIntegrations: [id] });
    hold.release();
    try {
      await eventually(
        () => runs(id, partial.requested_at),
        (r) => r[0]?.status === 'failed',
        30_000,
      );
    } finally {
      sim.core.clearFaults();
    }
    await expect(confirmSweep(driftCtx(), id, EMP)).rejects.toMatchObject({ code: 'KS_ERR_DRIFT_ALERT_CHANGED' });
    expect(await alert(id)).toMatchObject({ status: 'open' });
    expect(await live(id)).toBe(40);
  });

  it('deletes exactly the alert set; a failure midway leaves it open; a confirmed alert agrees to nothing later', async () => {
    const id = ids.confirm;
    // A clean full fetch resolves the stale alert; a new outage raises a fresh one.
    await runToEnd(await task(id, 'full', 'clean'));
    expect(await alert(id)).toMatchObject({ status: 'resolved' });
    await outage(id);
    expect(await alert(id)).toMatchObject({ status: 'open', vanished: '40' });
    // The producer fails while the deletions are emitted: nothing is confirmed, nothing leaves the index.
    const failing = {
      ...producer,
      send: async () => {
        throw new Error('broker gone');
      },
    } as unknown as Producer;
    await expect(confirmSweep(driftCtx(failing), id, EMP)).rejects.toThrow(/broker gone/);
    expect(await alert(id)).toMatchObject({ status: 'open' });
    expect(await live(id)).toBe(40);
    const confirmed = await confirmSweep(driftCtx(), id, EMP);
    expect(confirmed).toMatchObject({ deleted: 40 });
    expect(await alert(id)).toMatchObject({ status: 'confirmed' });
    expect(
      await eventually(
        () => live(id),
        (n) => n === 0,
      ),
    ).toBe(0);
    // The records were there all along: the next full fetch brings them back...
    await runToEnd(await task(id, 'full', 'recovered'));
    expect(await matchesTruth(id)).toEqual([]);
    // ...and months later a real outage trips the guard again: an old confirmation agrees to nothing.
    const again = await outage(id);
    expect(await driftRuns(again.run_id)).toMatchObject([{ outcome: 'blocked', deleted: '0' }]);
    expect(await live(id)).toBe(40);
  });

  it('deletions emitted by a confirmation that then failed are healed by the next drift pass', async () => {
    const id = ids.confirm;
    expect(await alert(id)).toMatchObject({ status: 'open' });
    // The tombstones reach Kafka, then the confirmation fails: the index keeps the records live.
    const sendsThenFails = {
      send: async (topic: string, records: OutRecord[]) => {
        await producer.send(topic, records);
        throw new Error('connection lost after the send');
      },
    } as unknown as Producer;
    await expect(confirmSweep(driftCtx(sendsThenFails), id, EMP)).rejects.toThrow(/connection lost/);
    expect(await alert(id)).toMatchObject({ status: 'open' });
    expect(
      await eventually(
        () => live(id),
        (n) => n === 0,
      ),
    ).toBe(0);
    // The records are there upstream: the next full fetch finds nothing changed, and its sink check
    // puts back what the sink deleted (stamped as of the check, so it wins over the deletions).
    const run = await runToEnd(await task(id, 'full', 'after-failed-confirm'));
    expect(await driftRuns(run.run_id)).toMatchObject([{ healed: '40', deleted: '0', sink_checked: true }]);
    expect(await matchesTruth(id)).toEqual([]);
    expect(await alert(id)).toMatchObject({ status: 'resolved' });
  });

  it('is refused while a full fetch of the endpoint is in flight, running or between turns', async () => {
    const id = ids.confirm;
    await outage(id);
    const { hold, task: full } = await heldFull(id, 1, 'in-flight');
    // Mid-turn, the fetch holds the integration: try again later.
    await expect(confirmSweep(driftCtx(), id, EMP)).rejects.toMatchObject({ code: 'KS_ERR_INTEGRATION_BUSY' });
    // Between turns (its fetcher stopped after the turn, the continuation waiting on the topic), the
    // run it would race is in flight: refused, nothing deleted.
    const stopped = fetcher.stop();
    hold.release();
    await stopped;
    expect((await runs(id, full.requested_at))[0]).toMatchObject({ status: 'yielded' });
    await expect(confirmSweep(driftCtx(), id, EMP)).rejects.toMatchObject({ code: 'KS_ERR_FULL_FETCH_IN_FLIGHT' });
    fetcher = await startFetcher(await testDeps(ctx, settings), { maxWaitTimeInMs: 100 });
    await eventually(
      () => runs(id, full.requested_at),
      (r) => r[0]?.status === 'done',
      60_000,
    );
    expect(await live(id)).toBe(40);
    expect(await alert(id)).toMatchObject({ status: 'resolved' });
  });
});

describe('pausing', () => {
  it('a pause cuts a full fetch off; resuming queues it again, and it finishes', async () => {
    const id = ids.pause;
    const { hold, task: full } = await heldFull(id, 1, 'before-pause');
    await store.setPaused(id, true);
    hold.release();
    const [cut] = await eventually(
      () => runs(id, full.requested_at),
      (r) => r[0]?.status === 'failed',
      30_000,
    );
    expect(cut.error).toMatch(/paused/);
    await store.setPaused(id, false);
    const since = (await dbNow(ctx.pool)).toISOString();
    const tasks = await resumeSyncs({ config: deps.config, store, producer }, id);
    // Employees' full fetch was cut off; groups never had one (only deltas ran there).
    expect(
      tasks
        .filter((t) => t.mode === 'full')
        .map((t) => t.endpoint)
        .sort(),
    ).toEqual([EMP, 'hris/groups']);
    await eventually(
      () => runs(id, since),
      (r) => r.some((x) => x.mode === 'full' && x.status === 'done'),
      60_000,
    );
    expect(await matchesTruth(id)).toEqual([]);
  });
});

describe('the sink check', () => {
  const sinkRow = (id: string) =>
    ctx.pool.query(`SELECT * FROM "${ctx.schema}".hris_employees WHERE id = $1`, [id]).then((r) => r.rows[0]);

  it('heals rows edited by hand, changed_at included (a later value, or NULL), until they equal the record', async () => {
    const id = ids.heal;
    await runToEnd(await task(id, 'full', 'initial'));
    expect(await matchesTruth(id)).toEqual([]);
    const [a, b, c, d] = sim.core.truth(id, EMP, { includeDeleted: false }) as { id: string }[];
    const t = `"${ctx.schema}".hris_employees`;
    await ctx.pool.query(`UPDATE ${t} SET changed_at = changed_at + interval '1 day' WHERE id = $1`, [a?.id]);
    await ctx.pool.query(`UPDATE ${t} SET changed_at = NULL WHERE id = $1`, [b?.id]);
    await ctx.pool.query(`UPDATE ${t} SET first_name = 'EDITED BY HAND' WHERE id = $1`, [c?.id]);
    await ctx.pool.query(`DELETE FROM ${t} WHERE id = $1`, [d?.id]);
    const run = await runToEnd(await task(id, 'full', 'drift'));
    expect(await driftRuns(run.run_id)).toMatchObject([
      { healed: '4', reemitted: '0', outcome: 'corrected', sink_checked: true },
    ]);
    expect(await matchesTruth(id)).toEqual([]);
    expect((await sinkRow(a?.id as string)).changed_at.toISOString()).toBe(
      sim.core.truth(id, EMP).find((r) => r.id === a?.id)?.changed_at,
    );
  });

  it('does not count rows the sink has not stored yet as healed: a run while the sink is behind reports the truth', async () => {
    const id = ids.behind;
    // A sink that stores its first batch and then stalls, and a fetcher whose sink check waits 2 s.
    await fetcher.stop();
    await sink.stop();
    const gate = new Promise<void>((r) => (openSinkGate = r));
    const impatient = await testDeps(ctx, { ...settings, DRIFT_SINK_GRACE: '2s' });
    sink = await startSink(await testDeps(ctx, settings), { maxWaitTimeInMs: 100, afterDbCommit: () => gate });
    fetcher = await startFetcher(impatient, { maxWaitTimeInMs: 100 });
    // The run takes longer than that grace, so a check that counted from the run's start would judge.
    const { hold, task: full } = await heldFull(id, 1, 'backfill');
    await new Promise((r) => setTimeout(r, 2_500));
    hold.release();
    const [run] = await eventually(
      () => runs(id, full.requested_at),
      (r) => r[0]?.status === 'done',
      60_000,
    );
    expect(await driftRuns(run.run_id)).toMatchObject([{ healed: '0', sink_checked: false }]);
    openSinkGate?.();
    expect(await matchesTruth(id)).toEqual([]);
  });
});
