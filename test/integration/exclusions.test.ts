import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import { createLogger } from '../../src/observability/log.ts';
import { newTask } from '../../src/planner/task.ts';
import { enqueueTasks } from '../../src/planner/trigger.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { SinkOffsets } from '../../src/sink/offsets.ts';
import { startSink } from '../../src/sink/role.ts';
import { StateStore } from '../../src/state/store.ts';
import { dlqTopic, groupId, recordTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

// Salaries excluded as hris/employments.pay_rate must not reach anything, including inside every
// employee's nested employments; and the record's raw upstream data, excluded too, goes with them.
let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let roles: RunningRole[] = [];
const logs: string[] = [];
let HRIS: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({ seed: 77, integrations: [{ category: 'HRIS', size: 20 }] });
  [HRIS] = sim.core.integrations().map((i) => i.id) as [string];
  const base = await testDeps(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_RATE_LIMIT: 500,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 200,
    KOMBO_ENDPOINTS: 'hris/employees,hris/employments',
    KOMBO_EXCLUDE_FIELDS: 'hris/employments.pay_rate,hris/employments.remote_data,hris/employees.remote_data',
    FETCH_PAGE_SIZE: 10,
  });
  // Every log line of every level, kept for the search.
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  deps = { ...base, logger: createLogger({ level: 'trace', destination: sink }) };
  const store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  await store.upsertIntegration({ integration_id: HRIS, tool: 'personio', category: 'HRIS' });
  roles = [await startSink(deps, { maxWaitTimeInMs: 100 }), await startFetcher(deps, { maxWaitTimeInMs: 100 })];
});
afterAll(async () => {
  for (const r of roles.reverse()) await r.stop();
  await sim?.stop();
  await ctx?.close();
});

describe('excluded fields', () => {
  it('appear nowhere: not in a topic, the record index, a sink table, a dead letter or a log line', async () => {
    const salaries = (sim.core.truth(HRIS, 'hris/employments') as { pay_rate: number }[]).map((e) => e.pay_rate);
    expect(salaries.length).toBeGreaterThan(10);
    // A damaged page too, so dead letters (the fetcher's oversized record, the sink's unreadable
    // changed_at) carry records as well.
    sim.core.setApiFaults({ damagedPages: [HRIS] });
    const producer = ctx.kafka.producer();
    const tasks = (['hris/employees', 'hris/employments'] as const).map((endpoint) =>
      newTask({ integration_id: HRIS, endpoint, mode: 'full', reason: 'test', requested_at: new Date() }),
    );
    await enqueueTasks(producer, deps.config.kafka.topicPrefix, tasks);
    await producer.close();
    const rows = (t: string) =>
      ctx.pool
        .query(`SELECT to_jsonb(r)::text AS row FROM "${ctx.schema}".${t} r`)
        .then((r) => r.rows.map((x) => x.row));
    // Both fetches done, and the sink has stored everything they produced.
    await eventually(
      () =>
        ctx.pool
          .query(`SELECT count(*)::int AS n FROM "${ctx.stateSchema}".fetch_runs WHERE status = 'done'`)
          .then((r) => r.rows[0].n as number),
      (n) => n === 2,
      60_000,
    );
    const offsets = new SinkOffsets(ctx.pool, ctx.stateSchema);
    const caughtUp = async () => {
      for (const ep of ['hris/employees', 'hris/employments'] as const) {
        const topic = recordTopic(deps.config.kafka.topicPrefix, ep);
        const at = await offsets.positions(groupId(deps.config.kafka.topicPrefix, 'sink'), [topic]);
        for (const [p, end] of await ctx.kafka.endOffsets(topic))
          if ((at.get(`${topic}:${p}`) ?? 0n) < end) return false;
      }
      return true;
    };
    expect(await eventually(caughtUp, (ok) => ok, 60_000)).toBe(true);
    sim.core.clearFaults();
    const dlq = await eventually(
      () => readTopic(ctx.kafka, dlqTopic(deps.config.kafka.topicPrefix)),
      (d) => d.some((r) => r.value !== null),
      30_000,
    );
    const everything = [
      ...(await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, 'hris/employees'))),
      ...(await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, 'hris/employments'))),
      ...dlq,
    ].map((r) => `${r.value?.toString() ?? ''} ${JSON.stringify(r.headers)}`);
    const index = (
      await ctx.pool.query(`SELECT last_value::text AS v FROM "${ctx.stateSchema}".record_index`)
    ).rows.map((r) => r.v as string);
    const places: [string, string[]][] = [
      ['topics and dead letters', everything],
      ['record index', index],
      ['sink tables', [...(await rows('hris_employees')), ...(await rows('hris_employments'))]],
      ['log lines', logs],
    ];
    expect(index.length).toBeGreaterThan(20);
    for (const [where, texts] of places) {
      const hits = texts.filter((t) => /"pay_rate":\s*[0-9]/.test(t));
      expect(
        hits.map((h) => h.slice(0, 300)),
        where,
      ).toEqual([]);
    }
    // remote_data, excluded for both models, is gone from their records and their nested employments.
    const values = [
      ...(await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, 'hris/employees'))),
      ...(await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, 'hris/employments'))),
    ].flatMap((r) => (r.value ? [JSON.parse(r.value.toString()) as Record<string, unknown>] : []));
    expect(values.length).toBeGreaterThan(20);
    for (const v of values) {
      expect('remote_data' in v).toBe(false);
      for (const e of (v.employments as Record<string, unknown>[] | undefined) ?? [])
        expect('remote_data' in e).toBe(false);
    }
    // The sink's column for the excluded field exists (schemas/ has it) and stays empty.
    const paid = await ctx.pool.query(
      `SELECT count(*)::int AS n FROM "${ctx.schema}".hris_employments WHERE pay_rate IS NOT NULL`,
    );
    expect(paid.rows[0].n).toBe(0);
    // And the rest of the employment is there, nested in its employee too.
    const nested = await ctx.pool.query(
      `SELECT employments::text AS e FROM "${ctx.schema}".hris_employees WHERE jsonb_array_length(employments) > 0 LIMIT 1`,
    );
    expect(nested.rows[0].e).toContain('job_title');
  }, 120_000);
});
