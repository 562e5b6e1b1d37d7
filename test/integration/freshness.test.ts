import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { projectRoot } from '../../src/localstack/paths.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { SinkOffsets } from '../../src/sink/offsets.ts';
import { startSink } from '../../src/sink/role.ts';
import { StateStore } from '../../src/state/store.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { groupId, recordTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { fetchToEnd } from '../helpers/fetch.ts';
import { recordsOf, t } from '../helpers/records.ts';
import { eventually } from '../helpers/topics.ts';

// The kombo_freshness view against the real pipeline: the simulator, the fetcher role and the sink
// role on the project's Kafka and Postgres. Every time the view shows is compared with a time the
// test itself takes from Postgres, or with the mirrored rows themselves.
const EP: EndpointName = 'hris/employees';
let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let fetcher: RunningRole;
let sink: RunningRole;
let producer: Producer;
let store: StateStore;
let A: string;
let B: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({
    seed: 18,
    integrations: [
      { category: 'HRIS', size: 25 },
      { category: 'HRIS', size: 15 },
    ],
  });
  [A, B] = sim.core.integrations().map((i) => i.id) as [string, string];
  deps = await testDeps(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_ENDPOINTS: 'hris/employees,hris/groups',
    KOMBO_RATE_LIMIT: 500,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 200,
    FETCH_OVERLAP: '2s',
    // Several pages per full fetch, each with its own read time: the newest is one of many.
    FETCH_PAGE_SIZE: 5,
  });
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  for (const i of sim.core.integrations())
    await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: i.category });
  producer = ctx.kafka.producer();
  sink = await startSink(deps, { maxWaitTimeInMs: 100 });
  fetcher = await startFetcher(deps, { maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  await fetcher?.stop();
  await sink?.stop();
  await producer?.close();
  await sim?.stop();
  await ctx?.close();
});

const s = () => `"${ctx.schema}"`;
const prefix = () => deps.config.kafka.topicPrefix;
/** Postgres's clock, as the test's own stamp. */
const pgNow = async (): Promise<Date> => (await ctx.pool.query('SELECT now() AS t')).rows[0].t;

/** Until the sink has stored everything on the endpoint's topic. */
async function sinkCaughtUp(endpoint: EndpointName): Promise<void> {
  const topic = recordTopic(prefix(), endpoint);
  const end = await ctx.kafka.endOffsets(topic);
  const offsets = new SinkOffsets(ctx.pool, ctx.stateSchema);
  const behind = async () => {
    const at = await offsets.positions(groupId(prefix(), 'sink'), [topic]);
    return [...end].filter(([p, o]) => o > 0n && (at.get(`${topic}:${p}`) ?? 0n) < o).length;
  };
  expect(await eventually(behind, (n) => n === 0, 30_000)).toBe(0);
}

/** A fetch through the tasks topic, between two stamps of the test's own. */
async function fetchBetween(integration: string, endpoint: EndpointName, mode: 'delta' | 'full') {
  const before = await pgNow();
  const { status } = await fetchToEnd(ctx, producer, { integration, endpoint, mode, requestedAt: before });
  expect(status).toBe('done');
  const after = await pgNow();
  await sinkCaughtUp(endpoint);
  return { before, after };
}

interface FreshnessRow {
  integration_id: string;
  endpoint: string;
  table_name: string;
  newest_read_at: Date | null;
  rows_written_at: Date | null;
  last_delta_finished_at: Date | null;
  last_full_finished_at: Date | null;
  last_fetch_finished_at: Date | null;
  fetch_status: string | null;
  fetch_age_seconds: number | null;
  read_age_seconds: number | null;
  at: Date;
}
const view = async (integration: string, endpoint: EndpointName = EP): Promise<FreshnessRow[]> =>
  (
    await ctx.pool.query<FreshnessRow>(
      `SELECT *, now() AS at FROM ${s()}.kombo_freshness WHERE integration_id = $1 AND endpoint = $2`,
      [integration, endpoint],
    )
  ).rows;
const one = async (integration: string, endpoint: EndpointName = EP): Promise<FreshnessRow> => {
  const rows = await view(integration, endpoint);
  expect(rows).toHaveLength(1);
  return rows[0] as FreshnessRow;
};
/** The data's own answer: the newest read time among the integration's rows. */
const maxReadAt = async (integration: string, table = 'hris_employees'): Promise<Date | null> =>
  (
    await ctx.pool.query(`SELECT max(_kombo_fetched_at) AS m FROM ${s()}.${table} WHERE integration_id = $1`, [
      integration,
    ])
  ).rows[0].m;
const between = (x: Date | null, w: { before: Date; after: Date }) => {
  expect(x).toBeInstanceOf(Date);
  expect((x as Date).getTime()).toBeGreaterThanOrEqual(w.before.getTime());
  expect((x as Date).getTime()).toBeLessThanOrEqual(w.after.getTime());
};

let afterFull: FreshnessRow;

describe('kombo_freshness', () => {
  it('shows a full fetch and a later delta by their finish times, and the newest read time of the rows', async () => {
    const full = await fetchBetween(A, EP, 'full');
    afterFull = await one(A);
    expect(afterFull).toMatchObject({ table_name: 'hris_employees', fetch_status: 'ok', last_delta_finished_at: null });
    between(afterFull.last_full_finished_at, full);
    expect(afterFull.last_fetch_finished_at).toEqual(afterFull.last_full_finished_at);
    // Every record was read during the full fetch; the view's newest is the rows' newest.
    between(afterFull.newest_read_at, full);
    expect(afterFull.newest_read_at).toEqual(await maxReadAt(A));
    expect(afterFull.rows_written_at?.getTime()).toBeGreaterThanOrEqual(full.before.getTime());

    await sim.core.change(A, [{ op: 'update', endpoint: EP }]);
    const delta = await fetchBetween(A, EP, 'delta');
    const now = await one(A);
    between(now.last_delta_finished_at, delta);
    expect(now.last_full_finished_at).toEqual(afterFull.last_full_finished_at);
    expect(now.last_fetch_finished_at).toEqual(now.last_delta_finished_at);
    // The delta read the changed record: the newest read time moved into the delta's window.
    between(now.newest_read_at, delta);
    expect(now.newest_read_at).toEqual(await maxReadAt(A));
    expect(now.rows_written_at?.getTime()).toBeGreaterThanOrEqual(delta.before.getTime());
  }, 120_000);

  it('gives a second integration its own row', async () => {
    const before = await one(A);
    const full = await fetchBetween(B, EP, 'full');
    const b = await one(B);
    between(b.last_full_finished_at, full);
    between(b.newest_read_at, full);
    expect(b.newest_read_at).toEqual(await maxReadAt(B));
    expect(b.last_delta_finished_at).toBeNull();
    // A's row is A's: untouched by B's fetch and rows.
    const a = await one(A);
    expect(a.newest_read_at).toEqual(before.newest_read_at);
    expect(a.last_fetch_finished_at).toEqual(before.last_fetch_finished_at);
    expect(a.newest_read_at).toEqual(await maxReadAt(A));
    const all = await ctx.pool.query(
      `SELECT integration_id FROM ${s()}.kombo_freshness WHERE endpoint = $1 ORDER BY integration_id`,
      [EP],
    );
    expect(all.rows.map((r) => r.integration_id)).toEqual([A, B].sort());
  }, 120_000);

  it('a replayed older batch does not move the newest read time back', async () => {
    const before = await one(A);
    const stamp = await pgNow();
    const rec = recordsOf(EP);
    const existing = (
      await ctx.pool.query(`SELECT id FROM ${s()}.hris_employees WHERE integration_id = $1 LIMIT 1`, [A])
    ).rows[0].id as string;
    // Versions read long before (2026-01-01): one of a row the sink holds (it loses), one of a key
    // it never saw (it is written, so the batch's freshness upsert carries this older read time).
    await producer.send(recordTopic(prefix(), EP), [
      rec(existing, { fetchedAt: t(10) }, A),
      rec('replayed-old', { fetchedAt: t(11) }, A),
    ]);
    await sinkCaughtUp(EP);
    const stored = await ctx.pool.query(
      `SELECT _kombo_fetched_at AS f FROM ${s()}.hris_employees WHERE integration_id = $1 AND id = 'replayed-old'`,
      [A],
    );
    expect(stored.rows[0]?.f).toEqual(new Date(t(11)));
    const now = await one(A);
    expect(now.newest_read_at).toEqual(before.newest_read_at);
    expect(now.newest_read_at).toEqual(await maxReadAt(A));
    // The sink did write for A (the replayed key), and says when.
    expect(now.rows_written_at?.getTime()).toBeGreaterThanOrEqual(stamp.getTime());
  }, 60_000);

  it("a stale endpoint's age grows with Postgres's clock", async () => {
    const first = await one(B);
    await new Promise((r) => setTimeout(r, 1_500));
    const second = await one(B);
    // Nothing fetched B since: the same finish time, older by the time that passed.
    expect(second.last_fetch_finished_at).toEqual(first.last_fetch_finished_at);
    const elapsed = (second.at.getTime() - first.at.getTime()) / 1000;
    expect(elapsed).toBeGreaterThan(1.4);
    for (const r of [first, second]) {
      expect(r.fetch_age_seconds).toBeCloseTo(
        (r.at.getTime() - (r.last_fetch_finished_at as Date).getTime()) / 1000,
        2,
      );
      expect(r.read_age_seconds).toBeCloseTo((r.at.getTime() - (r.newest_read_at as Date).getTime()) / 1000, 2);
    }
    expect((second.fetch_age_seconds as number) - (first.fetch_age_seconds as number)).toBeCloseTo(elapsed, 2);
    expect((second.read_age_seconds as number) - (first.read_age_seconds as number)).toBeCloseTo(elapsed, 2);
  }, 30_000);

  it('an endpoint fetched but never written shows its fetch; offboarding forgets what the sink wrote', async () => {
    // hris/groups of A: nothing fetched, nothing in the view; then a full fetch.
    expect(await view(A, 'hris/groups')).toEqual([]);
    const full = await fetchBetween(A, 'hris/groups', 'full');
    const g = await one(A, 'hris/groups');
    between(g.last_full_finished_at, full);
    expect(g.newest_read_at).toEqual(await maxReadAt(A, 'hris_groups'));
    // A purge of B's employees (as offboarding sends): the sink's entry goes with the rows.
    const ids = (await ctx.pool.query(`SELECT id FROM ${s()}.hris_employees WHERE integration_id = $1`, [B])).rows;
    const rec = recordsOf(EP);
    const at = (await pgNow()).toISOString();
    await producer.send(
      recordTopic(prefix(), EP),
      ids.map((r) => rec(r.id, { fetchedAt: at, op: 'purge', value: null }, B)),
    );
    await sinkCaughtUp(EP);
    expect(await maxReadAt(B)).toBeNull();
    const b = await one(B);
    expect(b.newest_read_at).toBeNull();
    expect(b.rows_written_at).toBeNull();
    expect(b.last_full_finished_at).toBeInstanceOf(Date);
  }, 90_000);

  it("the README's dbt sources and alert query run as written and pick the stalest pair", async () => {
    const readme = readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Freshness'), readme.indexOf('### Deletes'));
    const block = (lang: string) => section.match(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``))?.[1] ?? '';
    const here = (sql: string) => sql.replaceAll('kombo.kombo_freshness', `${s()}.kombo_freshness`);
    // Something stale by every threshold: a pair whose last fetch finished ten days ago.
    await store.upsertIntegration({ integration_id: 'stale:one' });
    await store.fetchStarted('stale:one', EP, new Date(), true);
    await store.fetchFinished('stale:one', EP, new Date(), true);
    await ctx.pool.query(
      `UPDATE ${store.schema}.endpoint_state SET last_fetch_finished_at = now() - interval '10 days',
         last_full_finished_at = now() - interval '10 days' WHERE integration_id = 'stale:one'`,
    );
    const sources = parse(block('yaml')).sources[0].tables as {
      config: { loaded_at_field: string; freshness: { filter: string } };
    }[];
    expect(sources.length).toBeGreaterThan(0);
    for (const table of sources) {
      const { loaded_at_field: field, freshness } = table.config;
      // What dbt runs for a source table with loaded_at_field and filter.
      const dbt = await ctx.pool.query(
        `SELECT max(${field}) AS m FROM ${s()}.kombo_freshness WHERE ${here(freshness.filter)}`,
      );
      const stalest = await ctx.pool.query(
        `SELECT min(${field}) AS m FROM ${s()}.kombo_freshness WHERE endpoint = 'hris/employees'`,
      );
      expect(dbt.rows[0].m).toEqual(stalest.rows[0].m);
      expect(Date.now() - dbt.rows[0].m.getTime()).toBeGreaterThan(9 * 86_400_000);
    }
    const alert = await ctx.pool.query(here(block('sql')));
    expect(alert.rows.map((r) => `${r.integration_id} ${r.endpoint}`)).toEqual([`stale:one ${EP}`]);
  }, 30_000);
});
