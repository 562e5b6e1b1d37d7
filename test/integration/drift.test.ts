import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { confirmSweep } from '../../src/drift/sweep.ts';
import { createFetchContext } from '../../src/fetcher/context.ts';
import { withIntegrationLock } from '../../src/fetcher/lock.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import { ENDPOINTS, type EndpointName } from '../../src/kombo/endpoints.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { startPlanner } from '../../src/planner/role.ts';
import { newTask } from '../../src/planner/task.ts';
import { enqueueTasks } from '../../src/planner/trigger.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth } from '../../src/sim/verify.ts';
import { startSink } from '../../src/sink/role.ts';
import { StateStore } from '../../src/state/store.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { eventsTopic, recordTopic } from '../../src/topics/names.ts';
import { spawnNode } from '../helpers/child.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let roles: RunningRole[] = [];
let producer: Producer;
let store: StateStore;
let HRIS: string;
let ATS: string;
let OTHER: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({
    seed: 13,
    integrations: [
      { category: 'HRIS', size: 40 },
      { category: 'ATS', size: 25 },
      { category: 'HRIS', size: 15 },
    ],
  });
  [HRIS, ATS, OTHER] = sim.core.integrations().map((i) => i.id) as [string, string, string];
  deps = await testDeps(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_RATE_LIMIT: 500,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 200,
    FETCH_PAGE_SIZE: 50,
    DRIFT_SINK_GRACE: '60s',
    DRIFT_GUARD_MIN_RECORDS: 5,
    FETCH_CONCURRENCY: 3,
  });
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  for (const i of sim.core.integrations())
    await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: i.category });
  producer = ctx.kafka.producer();
  roles = [
    await startSink(deps, { maxWaitTimeInMs: 100 }),
    await startFetcher(deps, { maxWaitTimeInMs: 100 }),
    await startPlanner(deps, { scheduler: false, maxWaitTimeInMs: 100 }),
  ];
});
afterAll(async () => {
  for (const r of roles.reverse()) await r.stop();
  await producer?.close();
  await sim?.stop();
  await ctx?.close();
});

const endpointsOf = (id: string) =>
  ENDPOINTS.filter((e) => e.category === sim.core.integration(id)?.category.toLowerCase()).map((e) => e.name);

/** A drift run: a full fetch of every endpoint of the integrations; resolves when all reported. */
async function drift(ids: string[]): Promise<any[]> {
  const since = new Date();
  const tasks = ids.flatMap((id) =>
    endpointsOf(id).map((endpoint) =>
      newTask({ integration_id: id, endpoint, mode: 'full', reason: 'test:drift', requested_at: new Date() }),
    ),
  );
  await enqueueTasks(producer, deps.config.kafka.topicPrefix, tasks);
  const q = () => ctx.pool.query(`SELECT * FROM ${store.schema}.drift_runs WHERE finished_at >= $1`, [since]);
  return (await eventually(q, (r) => r.rows.length >= tasks.length, 90_000)).rows;
}
const settled = (ids: string[]) =>
  eventually(
    () => compareWithTruth(ctx.pool, ctx.schema, sim.core, ids),
    (d) => d.length === 0,
    60_000,
  );

describe('drift compaction (webhooks lost: only full fetches find changes)', () => {
  it('corrects everything a drift run finds: changes and deletions; unchanged records are not emitted', async () => {
    await drift([HRIS, ATS]);
    expect(await settled([HRIS, ATS])).toEqual([]);
    await sim.core.change(
      HRIS,
      [
        { op: 'update', endpoint: 'hris/employees' },
        { op: 'update', endpoint: 'hris/employees' },
        { op: 'delete', endpoint: 'hris/timesheets' },
        { op: 'nested', relation: 'employee-groups' },
      ],
      'FULL',
    ); // a full sync at Kombo, which marks the deletion
    await sim.core.change(ATS, [{ op: 'create', endpoint: 'ats/candidates' }]);
    expect((await compareWithTruth(ctx.pool, ctx.schema, sim.core, [HRIS, ATS])).length).toBeGreaterThan(0);
    const runs = await drift([HRIS, ATS]);
    expect(await settled([HRIS, ATS])).toEqual([]);
    expect(runs.find((r) => r.integration_id === HRIS && r.endpoint === 'hris/locations')).toMatchObject({
      reemitted: '0',
      deleted: '0',
      outcome: 'clean',
    });
    expect(
      Number(runs.find((r) => r.integration_id === HRIS && r.endpoint === 'hris/employees').reemitted),
    ).toBeGreaterThanOrEqual(2);
  });

  it('tombstones records that vanished upstream without a trace', async () => {
    const victim = sim.core.truth(HRIS, 'hris/absences', { includeDeleted: false })[0] as { id: string };
    sim.core.purgeAfterMs = 0;
    // A full sync marks it deleted; the purge then removes it from Kombo altogether.
    await sim.core.change(HRIS, [{ op: 'delete', endpoint: 'hris/absences', id: victim.id }], 'FULL');
    sim.core.purgeAfterMs = Number.POSITIVE_INFINITY;
    expect(sim.core.truth(HRIS, 'hris/absences').some((r) => r.id === victim.id)).toBe(false);
    const runs = await drift([HRIS]);
    expect(runs.find((r) => r.endpoint === 'hris/absences')).toMatchObject({ deleted: '1', outcome: 'corrected' });
    const recs = (await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, 'hris/absences'))).filter(
      (r) => JSON.parse(r.key?.toString() ?? '').id === victim.id,
    );
    expect(recs.at(-2)?.headers['kombo-op']).toBe('delete');
    expect(JSON.parse(recs.at(-2)?.value?.toString() ?? '').remote_deleted_at).toEqual(expect.any(String));
    expect(recs.at(-1)?.value).toBeNull();
    const row = (
      await ctx.pool.query(`SELECT _kombo_deleted_at FROM "${ctx.schema}".hris_absences WHERE id = $1`, [victim.id])
    ).rows[0];
    expect(row._kombo_deleted_at).not.toBeNull();
  });

  it('heals sink rows edited or deleted by hand', async () => {
    const [a, b] = sim.core.truth(ATS, 'ats/candidates', { includeDeleted: false }) as {
      id: string;
      first_name: string;
    }[];
    await ctx.pool.query(`UPDATE "${ctx.schema}".ats_candidates SET first_name = 'EDITED BY HAND' WHERE id = $1`, [
      a?.id,
    ]);
    await ctx.pool.query(`DELETE FROM "${ctx.schema}".ats_candidates WHERE id = $1`, [b?.id]);
    const runs = await drift([ATS]);
    expect(runs.find((r) => r.endpoint === 'ats/candidates')).toMatchObject({ healed: '2', outcome: 'corrected' });
    const row = await eventually(
      () =>
        ctx.pool.query(`SELECT first_name FROM "${ctx.schema}".ats_candidates WHERE id = ANY($1) ORDER BY id`, [
          [a?.id, b?.id],
        ]),
      (r) => r.rows.length === 2 && r.rows.every((x) => x.first_name !== 'EDITED BY HAND'),
    );
    expect(row.rows).toHaveLength(2);
    expect(await settled([ATS])).toEqual([]);
  });

  it('an upstream outage answering empty lists trips the guard instead of deleting; confirmation deletes', async () => {
    // The employees Kombo has for it: what the outage must not delete, and what a confirmation does.
    const employees = sim.core.truth(OTHER, 'hris/employees', { includeDeleted: false }).length;
    expect(employees).toBeGreaterThan(5);
    await drift([OTHER]);
    expect(await settled([OTHER])).toEqual([]);
    sim.core.setApiFaults({ emptyLists: true });
    let runs: any[];
    try {
      runs = await drift([OTHER]);
    } finally {
      sim.core.clearFaults();
    }
    expect(runs.find((r) => r.endpoint === 'hris/employees')).toMatchObject({ deleted: '0', outcome: 'blocked' });
    const live = Number(
      (
        await ctx.pool.query(
          `SELECT count(*) FROM "${ctx.schema}".hris_employees WHERE integration_id = $1 AND _kombo_deleted_at IS NULL`,
          [OTHER],
        )
      ).rows[0].count,
    );
    expect(live).toBe(employees);
    const alerts = (
      await ctx.pool.query(`SELECT * FROM ${store.schema}.drift_alerts WHERE integration_id = $1 AND status = 'open'`, [
        OTHER,
      ])
    ).rows;
    expect(alerts.map((a) => a.endpoint)).toContain('hris/employees');
    expect(await deps.metrics.getSingleMetricAsString('kombo_stream_drift_alerts_open')).toMatch(
      /kombo_stream_drift_alerts_open [1-9]/,
    );
    // An operator confirms: the sweep deletes what the blocked run did not see.
    const { ctx: fctx, close } = createFetchContext(
      { ...deps, metrics: createMetricsRegistry({ defaultMetrics: false }) },
      producer,
      { signal: new AbortController().signal },
    );
    const confirmed = await confirmSweep(fctx, OTHER, 'hris/employees');
    await close();
    expect(confirmed?.deleted).toBe(employees);
    await eventually(
      () =>
        ctx.pool.query(
          `SELECT count(*) FROM "${ctx.schema}".hris_employees WHERE integration_id = $1 AND _kombo_deleted_at IS NULL`,
          [OTHER],
        ),
      (r) => Number(r.rows[0].count) === 0,
    );
  });

  it('kombo-stream drift run waits for a fetch of the integration in flight instead of skipping it', async () => {
    // A fetcher's turn holds the integration's lock; the drift run must take its turn after it.
    let release: (() => void) | undefined;
    const held = withIntegrationLock(ctx.pool, OTHER, () => new Promise<void>((r) => (release = r)));
    await eventually(async () => release, Boolean, 5_000);
    const run = spawnNode(['src/cli.ts', 'drift', 'run', '--integration', OTHER], {
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      KOMBO_RATE_LIMIT: '500',
      KOMBO_RATE_LIMIT_PER_INTEGRATION: '200',
      TOPIC_PREFIX: ctx.prefix,
      PG_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
    });
    await new Promise((r) => setTimeout(r, 3_000));
    release?.();
    await held;
    expect(await run.exited).toBe(0);
    expect(run.output()).not.toMatch(/skipped/);
    for (const endpoint of endpointsOf(OTHER)) expect(run.output()).toMatch(new RegExp(`${OTHER}\\s+${endpoint}\\s`));
  }, 120_000);

  it('offboarding removes everything of that integration and nothing of the others', async () => {
    const others = Number(
      (await ctx.pool.query(`SELECT count(*) FROM "${ctx.schema}".hris_employees WHERE integration_id <> $1`, [HRIS]))
        .rows[0].count,
    );
    // integration-deleted arrives as Kombo sends it; the planner plans purges, the fetcher runs them.
    const i = sim.core.integration(HRIS);
    await producer.send(eventsTopic(deps.config.kafka.topicPrefix), [
      {
        key: HRIS,
        value: JSON.stringify({
          id: 'evt-del',
          type: 'integration-deleted',
          data: { id: HRIS, tool: i?.tool, category: 'HRIS', deleted_at: new Date().toISOString() },
        }),
      },
    ]);
    const tables = endpointsOf(HRIS).map((e: EndpointName) => e.replace('/', '_').replaceAll('-', '_'));
    const count = async () => {
      let n = 0;
      for (const t of tables)
        n += Number(
          (await ctx.pool.query(`SELECT count(*) FROM "${ctx.schema}".${t} WHERE integration_id = $1`, [HRIS])).rows[0]
            .count,
        );
      return n;
    };
    expect(await eventually(count, (n) => n === 0, 60_000)).toBe(0);
    const state = await ctx.pool.query(`SELECT count(*) FROM ${store.schema}.record_index WHERE integration_id = $1`, [
      HRIS,
    ]);
    expect(Number(state.rows[0].count)).toBe(0);
    expect(await store.endpointStates(HRIS)).toEqual([]);
    expect(
      Number(
        (await ctx.pool.query(`SELECT count(*) FROM "${ctx.schema}".hris_employees WHERE integration_id <> $1`, [HRIS]))
          .rows[0].count,
      ),
    ).toBe(others);
    expect((await store.getIntegration(HRIS))?.deleted_at).toBeInstanceOf(Date);
  });
});
