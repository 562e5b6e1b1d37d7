import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { tableLayout } from '../../src/sink/layout.ts';
import { startSink } from '../../src/sink/role.ts';
import { ensureTable } from '../../src/sink/tables.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { dlqTopic, recordTopic } from '../../src/topics/names.ts';
import { type RecordSchema, readValueSchema } from '../../src/topics/schemas.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { recordsOf, t } from '../helpers/records.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

const EP: EndpointName = 'ats/tags';
const baseSchema: RecordSchema = {
  type: 'record',
  name: 'Tag',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'remote_id', type: ['null', 'string'], default: null },
    { name: 'name', type: ['null', 'string'], default: null },
    { name: 'changed_at', type: { type: 'string', 'kombo.format': 'date-time' } },
    { name: 'remote_deleted_at', type: ['null', { type: 'string', 'kombo.format': 'date-time' }], default: null },
    { name: 'remote_data', type: ['null', { type: 'string', 'kombo.format': 'json' }], default: null },
  ],
};
let schema = baseSchema;

let ctx: TestContext;
let deps: RoleDeps;
let sink: RunningRole;
let producer: Producer;
let topic: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  deps = await testDeps(ctx, { KOMBO_ENDPOINTS: EP });
  topic = recordTopic(deps.config.kafka.topicPrefix, EP);
  producer = ctx.kafka.producer();
  sink = await startSink(deps, { schemaFor: () => schema, schemaRefreshMs: 200, maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  await sink?.stop();
  await producer?.close();
  await ctx?.close();
});

const rec = recordsOf(EP);
const row = async (id: string, schemaName = ctx.schema) =>
  (await ctx.pool.query(`SELECT * FROM "${schemaName}".ats_tags WHERE id = $1`, [id])).rows[0];
const waitRow = (id: string, ok: (r: any) => boolean) =>
  eventually(
    () => row(id),
    (r) => ok(r),
    20_000,
  );

describe('sink', () => {
  it('writes rows with typed and jsonb columns and bookkeeping', async () => {
    await producer.send(topic, [rec('a', { fetchedAt: t(10), name: 'first' })]);
    const r = await waitRow('a', (x) => x?.name === 'first');
    expect(r).toMatchObject({ integration_id: 'lever:one', id: 'a', remote_data: { x: 1 }, _kombo_deleted_at: null });
    expect(r.changed_at).toBeInstanceOf(Date);
    expect(r._kombo_fetched_at.toISOString()).toBe(t(10));
    expect(r._kombo_offset).toEqual(expect.any(String));
  });

  it('never lets a replayed older version overwrite a newer row', async () => {
    await producer.send(topic, [rec('b', { fetchedAt: t(20), name: 'new' })]);
    await waitRow('b', (x) => x?.name === 'new');
    await producer.send(topic, [
      rec('b', { fetchedAt: t(5), name: 'old replay' }),
      rec('marker-b', { fetchedAt: t(1) }),
    ]);
    await waitRow('marker-b', (x) => Boolean(x));
    expect((await row('b')).name).toBe('new');
    // the same fetch, changed later, does win
    await producer.send(topic, [rec('b', { fetchedAt: t(20), changedAt: t(21), name: 'same fetch, later change' })]);
    await waitRow('b', (x) => x?.name === 'same fetch, later change');
  });

  it('soft-deletes on a tombstone (default), keeping remote_deleted_at', async () => {
    await producer.send(topic, [rec('c', { fetchedAt: t(30) })]);
    await waitRow('c', Boolean);
    await producer.send(topic, [
      rec('c', { fetchedAt: t(31), deleted: true, op: 'delete' }),
      rec('c', { fetchedAt: t(31), op: 'tombstone', value: null }),
    ]);
    const r = await waitRow('c', (x) => x?._kombo_deleted_at !== null);
    expect(r.remote_deleted_at.toISOString()).toBe(t(31));
    // a record first seen deleted still gets its (deleted) row
    await producer.send(topic, [
      rec('d', { fetchedAt: t(32), deleted: true, op: 'delete' }),
      rec('d', { fetchedAt: t(32), op: 'tombstone', value: null }),
    ]);
    expect((await waitRow('d', Boolean))._kombo_deleted_at).not.toBeNull();
    // purge always removes the row
    await producer.send(topic, [rec('d', { fetchedAt: t(40), op: 'purge', value: null })]);
    await eventually(
      () => row('d'),
      (x) => x === undefined,
    );
  });

  it('adds a column when the schema gains a field, without stopping', async () => {
    schema = {
      ...baseSchema,
      fields: [...baseSchema.fields, { name: 'color', type: ['null', 'string'], default: null }],
    };
    await eventually(
      () =>
        ctx.pool.query(
          `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'ats_tags' AND column_name = 'color'`,
          [ctx.schema],
        ),
      (r) => (r.rowCount ?? 0) > 0,
    );
    await producer.send(topic, [rec('e', { fetchedAt: t(50), extra: { color: 'teal' } })]);
    expect((await waitRow('e', (x) => x?.color === 'teal')).color).toBe('teal');
    expect(sink.health().state).toBe('ok');
  });

  it('dead-letters poison records and writes their neighbours', async () => {
    const before = (await readTopic(ctx.kafka, dlqTopic(deps.config.kafka.topicPrefix))).length;
    await producer.send(topic, [
      rec('f1', { fetchedAt: t(60) }),
      rec('f2', { fetchedAt: t(60), changedAt: 'not a date' }),
      rec('f3', { fetchedAt: t(60), value: '{this is not json' }),
      rec('f4', { fetchedAt: t(60) }),
    ]);
    await waitRow('f4', Boolean);
    expect(await row('f1')).toBeDefined();
    expect(await row('f2')).toBeUndefined();
    const dlq = await eventually(
      () => readTopic(ctx.kafka, dlqTopic(deps.config.kafka.topicPrefix)),
      (r) => r.length >= before + 2,
    );
    const codes = dlq
      .slice(before)
      .map((r) => r.headers['kombo-error-code'])
      .sort();
    expect(codes).toEqual(['KS_ERR_SERDE', 'PG_22007']);
    expect(dlq.at(-1)?.headers['kombo-origin-topic']).toBe(topic);
  });
});

describe('sink, hard delete mode', () => {
  it('deletes the row on a tombstone', async () => {
    const c2 = await createTestContext(import.meta.url);
    const d2 = await testDeps(c2, { KOMBO_ENDPOINTS: EP, SINK_DELETE_MODE: 'hard' });
    const s2 = await startSink(d2, { schemaFor: () => baseSchema, maxWaitTimeInMs: 100 });
    const p2 = c2.kafka.producer();
    try {
      const tp = recordTopic(d2.config.kafka.topicPrefix, EP);
      await p2.send(tp, [rec('h', { fetchedAt: t(10) })]);
      await eventually(() => row('h', c2.schema), Boolean);
      await p2.send(tp, [
        rec('h', { fetchedAt: t(11), deleted: true, op: 'delete' }),
        rec('h', { fetchedAt: t(11), op: 'tombstone', value: null }),
      ]);
      await eventually(
        () => row('h', c2.schema),
        (x) => x === undefined,
      );
    } finally {
      await s2.stop();
      await p2.close();
      await c2.close();
    }
  });
});

describe('sink, crash between database commit and Kafka commit', () => {
  it('writes every record exactly once across a SIGKILL and restart', async () => {
    const c3 = await createTestContext(import.meta.url);
    const d3 = await testDeps(c3, { KOMBO_ENDPOINTS: EP });
    const tp = recordTopic(d3.config.kafka.topicPrefix, EP);
    await c3.kafka.ensureTopics([{ name: tp, partitions: 3, compacted: true }]);
    const p3 = c3.kafka.producer();
    const settings = JSON.stringify({
      KAFKA_BROKERS: c3.brokers.join(','),
      DATABASE_URL: c3.databaseUrl,
      TOPIC_PREFIX: c3.prefix,
      PG_SCHEMA: c3.schema,
      STATE_SCHEMA: c3.stateSchema,
      KOMBO_ENDPOINTS: EP,
      LOG_LEVEL: 'silent',
      // A killed member holds its partitions for the session timeout: keep the restart quick.
      KAFKA_SESSION_TIMEOUT: '6s',
    });
    const count = async () =>
      Number((await c3.pool.query(`SELECT count(*) FROM "${c3.schema}".ats_tags`)).rows[0].count);
    const child = (killAfter: number) =>
      new Promise<number | null>((resolve) => {
        const proc = spawn(process.execPath, [path.join(import.meta.dirname, '../fixtures/sink-child.ts')], {
          env: { ...process.env, CHILD_SETTINGS: settings, SINK_KILL_AFTER: String(killAfter) },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        proc.on('exit', (code) => resolve(code));
        if (!killAfter)
          void eventually(count, (n) => n >= 1_500, 60_000).then(() => setTimeout(() => proc.kill('SIGTERM'), 1_000));
      });
    try {
      const N = 1_500;
      for (let i = 0; i < N; i += 100) {
        await p3.send(
          tp,
          Array.from({ length: 100 }, (_, k) => rec(`k${i + k}`, { fetchedAt: t(1), name: 'x'.repeat(200) })),
        );
      }
      // An audit of every row write, in place before the sink starts, counts writes per record.
      await ensureTable(c3.pool, c3.schema, tableLayout(EP, readValueSchema(EP)));
      await c3.pool.query(`CREATE TABLE "${c3.schema}".audit (id text, off bigint)`);
      await c3.pool.query(`CREATE FUNCTION "${c3.schema}".audit_fn() RETURNS trigger AS $$ BEGIN INSERT INTO "${c3.schema}".audit VALUES (NEW.id, NEW._kombo_offset); RETURN NEW; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER audit AFTER INSERT OR UPDATE ON "${c3.schema}".ats_tags FOR EACH ROW EXECUTE FUNCTION "${c3.schema}".audit_fn();`);
      expect(await child(3)).toBeNull(); // killed by SIGKILL after its third commit
      const afterCrash = await count();
      expect(afterCrash).toBeLessThan(N);
      await child(0);
      expect(await count()).toBe(N);
      const dup = await c3.pool.query(`SELECT id, count(*) FROM "${c3.schema}".audit GROUP BY id HAVING count(*) > 1`);
      expect(dup.rows).toEqual([]);
    } finally {
      await p3.close();
      await c3.close();
    }
  }, 120_000);
});
