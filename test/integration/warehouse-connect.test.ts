import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { type ConnectWorker, startConnectWorker } from '../../src/localstack/connect.ts';
import { projectRoot } from '../../src/localstack/paths.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { connectKeySchema, connectValueSchema } from '../../src/sink/connect-schema.ts';
import { StateStore } from '../../src/state/store.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { recordTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { fetchToEnd } from '../helpers/fetch.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

// docs/warehouse.md's Debezium JDBC sink configuration, run as written (only where it connects and
// what it reads are ours), over a record topic the fetcher filled from the simulator: the second
// schema must hold the simulator's live records, column for column, after updates and deletions.
const EP: EndpointName = 'hris/employees';
const MARKER = '<!-- tested by test/integration/warehouse-connect.test.ts -->';
let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let fetcher: RunningRole;
let worker: ConnectWorker;
let producer: Producer;
let store: StateStore;
let HRIS: string;
let warehouse: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  warehouse = `${ctx.schema}_wh`;
  await ctx.pool.query(`CREATE SCHEMA "${warehouse}"`);
  sim = await startSimulator({ seed: 18, integrations: [{ category: 'HRIS', size: 30 }] });
  [HRIS] = sim.core.integrations().map((i) => i.id) as [string];
  deps = await testDeps(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_RATE_LIMIT: 500,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 200,
    KOMBO_ENDPOINTS: EP,
    FETCH_PAGE_SIZE: 10,
  });
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  await store.upsertIntegration({ integration_id: HRIS, tool: 'personio', category: 'HRIS' });
  producer = ctx.kafka.producer();
  // The JVM's start is the slow part: overlap it with the fetcher's.
  [worker, fetcher] = await Promise.all([
    startConnectWorker({
      brokers: ctx.brokers.join(','),
      dataDir: path.join(inject('RUN_DIR'), `connect-${ctx.schema}`),
    }),
    startFetcher(deps, { maxWaitTimeInMs: 100 }),
  ]);
});
afterAll(async () => {
  await worker?.stop();
  await fetcher?.stop();
  await producer?.close();
  await sim?.stop();
  await ctx?.pool.query(`DROP SCHEMA IF EXISTS "${warehouse}" CASCADE`);
  await ctx?.close();
});

/** The first properties block after the marker in docs/warehouse.md, as key -> value. */
async function documentedConfig(): Promise<Record<string, string>> {
  const doc = await readFile(path.join(projectRoot, 'docs', 'warehouse.md'), 'utf8');
  const at = doc.indexOf(MARKER);
  expect(at, 'docs/warehouse.md marks its tested configuration').toBeGreaterThan(-1);
  const block = /```properties\n([\s\S]*?)```/.exec(doc.slice(at))?.[1] ?? '';
  const config: Record<string, string> = {};
  for (const line of block.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    config[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return config;
}

const run = (mode: 'delta' | 'full') => fetchToEnd(ctx, producer, { integration: HRIS, endpoint: EP, mode });

type Row = Record<string, unknown>;
const fields = (JSON.parse(connectValueSchema(EP)) as { fields: { field: string; name?: string }[] }).fields;
const live = () => sim.core.truth(HRIS, EP, { includeDeleted: false });
const rows = async (): Promise<Row[]> =>
  (await ctx.pool.query(`SELECT * FROM "${warehouse}".hris_employees`).catch(() => ({ rows: [] }))).rows;

/**
 * What differs between the loaded rows and the simulator's live records, field by field, and the
 * operation and read time: a row's, from the headers of its key's last record on the topic.
 */
function differences(loaded: Row[], truth: Row[], last: Map<string, Record<string, string>>): string[] {
  const byId = new Map(loaded.map((r) => [r.id, r]));
  const out = loaded.length === truth.length ? [] : [`${loaded.length} rows for ${truth.length} live records`];
  for (const rec of truth) {
    const row = byId.get(rec.id);
    if (!row) {
      out.push(`${rec.id}: no row`);
      continue;
    }
    if (row.integration_id !== HRIS) out.push(`${rec.id}: integration_id ${row.integration_id}`);
    for (const f of fields) {
      const want = rec[f.field] ?? null;
      const got = row[f.field] ?? null;
      // A date-time column holds the instant Kombo's text names.
      const same =
        f.name === 'io.debezium.time.ZonedTimestamp'
          ? (want === null && got === null) || (got instanceof Date && got.getTime() === Date.parse(String(want)))
          : got === want;
      if (!same) out.push(`${rec.id}.${f.field}: ${JSON.stringify(got)}, Kombo ${JSON.stringify(want)}`);
    }
    const h = last.get(String(rec.id));
    if (row._kombo_op !== h?.['kombo-op'] || row._kombo_fetched_at !== h?.['kombo-fetched-at'])
      out.push(
        `${rec.id}: op ${row._kombo_op} read ${row._kombo_fetched_at}, last record's headers ${JSON.stringify(h)}`,
      );
  }
  return out;
}

/** Waits until the rows are the truth; the topic is read once, after the fetch that filled it. */
async function loaded(truth: Row[]): Promise<string[]> {
  const last = new Map<string, Record<string, string>>();
  for (const r of await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, EP)))
    if (r.value !== null) last.set(JSON.parse(r.key?.toString() ?? '{}').id, r.headers);
  return eventually(
    async () => {
      await worker.assertNotFailed('kombo-hris-employees');
      return differences(await rows(), truth, last);
    },
    (d) => d.length === 0,
    90_000,
  );
}

describe('a standard Kafka Connect sink (Debezium JDBC) with docs/warehouse.md configuration', () => {
  it('loads a record topic, updates and deletions included, into a second schema', async () => {
    const doc = await documentedConfig();
    // The converter lines are what `kombo-stream connect-schema` prints: the doc follows schemas/.
    expect(doc['key.converter.schema.content']).toBe(connectKeySchema());
    expect(doc['value.converter.schema.content']).toBe(connectValueSchema(EP));
    const db = new URL(ctx.databaseUrl);
    const ours = {
      topics: recordTopic(deps.config.kafka.topicPrefix, EP),
      'connection.url': `jdbc:postgresql://${db.host}${db.pathname}?currentSchema=${warehouse}`,
      'connection.username': decodeURIComponent(db.username),
      'connection.password': decodeURIComponent(db.password),
      'collection.name.format': `${warehouse}.hris_employees`,
    };
    for (const key of Object.keys(ours)) expect(doc, `the documented config sets ${key}`).toHaveProperty(key);
    const { name = '', ...config }: Record<string, string> = { ...doc, ...ours };
    expect(name).toBe('kombo-hris-employees');

    await run('full');
    const before = live();
    await worker.putConnector(name, config);
    expect(await loaded(before)).toEqual([]);

    // After the first load: updates, and deletions (which Kombo marks in full syncs only).
    const [gone1, gone2, upd1, upd2, upd3] = before.map((r) => String(r.id));
    const updated = [upd1, upd2, upd3] as string[];
    const deleted = [gone1, gone2] as string[];
    await sim.core.change(
      HRIS,
      [
        ...updated.map((id) => ({ op: 'update' as const, endpoint: EP, id })),
        ...deleted.map((id) => ({ op: 'delete' as const, endpoint: EP, id })),
      ],
      'FULL',
    );
    await run('delta');
    const after = live();
    for (const id of updated) {
      const was = before.find((r) => r.id === id);
      expect(after.find((r) => r.id === id)?.changed_at, `${id} changed`).not.toBe(was?.changed_at);
    }
    const liveIds = after.map((r) => r.id);
    for (const id of deleted) expect(liveIds, `${id} deleted at Kombo`).not.toContain(id);
    expect(await loaded(after)).toEqual([]);
    const ids = (await rows()).map((r) => r.id);
    for (const id of deleted) expect(ids, `${id} deleted`).not.toContain(id);

    expect((await rows()).filter((r) => updated.includes(String(r.id))).map((r) => r._kombo_op)).toEqual([
      'upsert',
      'upsert',
      'upsert',
    ]);

    // Typed columns: date-times are timestamptz (ZonedTimestamp), not text; nothing else is there.
    const columns = await ctx.pool.query(
      `SELECT column_name AS name, data_type AS type FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'hris_employees'`,
      [warehouse],
    );
    const types = Object.fromEntries(columns.rows.map((c) => [c.name, c.type]));
    expect(types).toMatchObject({
      changed_at: 'timestamp with time zone',
      date_of_birth: 'timestamp with time zone',
      remote_deleted_at: 'timestamp with time zone',
      weekly_hours: 'double precision',
      first_name: 'text',
      _kombo_fetched_at: 'text',
    });
    expect(Object.keys(types).sort()).toEqual(
      ['integration_id', '_kombo_op', '_kombo_fetched_at', ...fields.map((f) => f.field)].sort(),
    );
  });
});
