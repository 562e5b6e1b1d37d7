import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { startSink } from '../../src/sink/role.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { dlqTopic, recordTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { recordsOf, t } from '../helpers/records.ts';
import { eventually, topicSize } from '../helpers/topics.ts';

// Every version in <table>_history, placed by read time, and the point-in-time functions over it,
// against the real sink role, Kafka and Postgres.
const EP: EndpointName = 'ats/tags';
const rec = recordsOf(EP);
let ctx: TestContext;
let deps: RoleDeps;
let sink: RunningRole;
let producer: Producer;
let topic: string;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  // History for tags only: users are mirrored without it.
  deps = await testDeps(ctx, { KOMBO_ENDPOINTS: 'ats/tags,ats/users', SINK_HISTORY: 'ats/tags' });
  topic = recordTopic(deps.config.kafka.topicPrefix, EP);
  producer = ctx.kafka.producer();
  sink = await startSink(deps, { maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  await sink?.stop();
  await producer?.close();
  await ctx?.close();
});

const s = () => `"${ctx.schema}"`;
const versions = async (id: string) =>
  (
    await ctx.pool.query(
      `SELECT name, _kombo_op AS op, _kombo_valid_from AS "from", _kombo_valid_to AS "to"
       FROM ${s()}.ats_tags_history WHERE id = $1 ORDER BY _kombo_valid_from`,
      [id],
    )
  ).rows.map((r) => ({ name: r.name, op: r.op, from: r.from.toISOString(), to: r.to?.toISOString() ?? null }));
const asOf = async (id: string, at: string) =>
  (await ctx.pool.query(`SELECT name FROM ${s()}.ats_tags_as_of($1) WHERE id = $2`, [at, id])).rows.map((r) => r.name);
/** Sends, then waits until the sink stored a marker sent after them (one partition per key: keys differ). */
const deliver = async (...records: ReturnType<typeof rec>[]) => {
  const marker = `marker-${Math.random().toString(36).slice(2)}`;
  await producer.send(topic, records);
  await producer.send(topic, [rec(marker, { fetchedAt: t(1) })]);
  await eventually(
    async () => (await ctx.pool.query(`SELECT 1 FROM ${s()}.ats_tags WHERE id = $1`, [marker])).rowCount,
    (n) => n === 1,
    20_000,
  );
  // Other partitions may lag the marker's: wait for the history of every sent key to settle too.
  await new Promise((r) => setTimeout(r, 500));
};

describe('history', () => {
  it('keeps every version with its validity; the table as of any time answers each point in between', async () => {
    await deliver(rec('x', { fetchedAt: t(10), name: 'A' }));
    // A first version is the row itself: nothing stored twice (a backfill costs no history write).
    const stored = async () =>
      (await ctx.pool.query(`SELECT count(*)::int AS n FROM ${s()}.ats_tags_versions WHERE id = 'x'`)).rows[0].n;
    expect(await stored()).toBe(0);
    expect(await versions('x')).toEqual([{ name: 'A', op: 'create', from: t(10), to: null }]);
    await deliver(rec('x', { fetchedAt: t(20), name: 'B' }));
    expect(await stored()).toBe(2);
    // A record produced twice, and the same content read again later (a heal, a replay): no version.
    await deliver(
      rec('x', { fetchedAt: t(20), name: 'B' }),
      rec('x', { fetchedAt: t(25), changedAt: t(20), name: 'B', op: 'heal' }),
    );
    await deliver(rec('x', { fetchedAt: t(30), name: 'C' }));
    await deliver(
      rec('x', { fetchedAt: t(40), name: 'C', deleted: true, op: 'delete' }),
      rec('x', { fetchedAt: t(40), op: 'tombstone', value: null }),
    );
    await deliver(rec('x', { fetchedAt: t(50), name: 'D' }));
    expect(await versions('x')).toEqual([
      { name: 'A', op: 'create', from: t(10), to: t(20) },
      { name: 'B', op: 'update', from: t(20), to: t(30) },
      { name: 'C', op: 'update', from: t(30), to: t(40) },
      { name: 'C', op: 'delete', from: t(40), to: t(50) },
      { name: 'D', op: 'create', from: t(50), to: null },
    ]);
    for (const [at, want] of [
      [t(5), []],
      [t(10), ['A']],
      [t(15), ['A']],
      [t(20), ['B']],
      [t(35), ['C']],
      [t(45), []],
      [t(55), ['D']],
    ] as const)
      expect(await asOf('x', at)).toEqual(want);
    const changes = await ctx.pool.query(
      `SELECT name, _kombo_op AS op FROM ${s()}.ats_tags_changes($1, $2) WHERE id = 'x'`,
      [t(15), t(45)],
    );
    expect(changes.rows).toEqual([
      { name: 'B', op: 'update' },
      { name: 'C', op: 'update' },
      { name: 'C', op: 'delete' },
    ]);
  });

  it('places a version read earlier and delivered late in its time, never as the newest', async () => {
    await deliver(rec('y', { fetchedAt: t(10), name: 'first' }), rec('y', { fetchedAt: t(30), name: 'third' }));
    await deliver(rec('y', { fetchedAt: t(20), name: 'second, late' }));
    expect(await versions('y')).toEqual([
      { name: 'first', op: 'create', from: t(10), to: t(20) },
      { name: 'second, late', op: 'update', from: t(20), to: t(30) },
      { name: 'third', op: 'update', from: t(30), to: null },
    ]);
    const current = await ctx.pool.query(`SELECT name FROM ${s()}.ats_tags WHERE id = 'y'`);
    expect(current.rows).toEqual([{ name: 'third' }]);
    // Late, and equal to the version before it: the earlier read stands.
    await deliver(rec('y', { fetchedAt: t(15), changedAt: t(10), name: 'first' }));
    expect((await versions('y')).map((v) => v.name)).toEqual(['first', 'second, late', 'third']);
  });

  it('forgets an offboarded record, history included', async () => {
    await deliver(rec('z', { fetchedAt: t(10), name: 'gone soon' }));
    expect(await versions('z')).toHaveLength(1);
    await deliver(rec('z', { fetchedAt: t(60), op: 'purge', value: null }));
    expect(await versions('z')).toEqual([]);
  });

  it('a history table refusing everything holds the batch back; nothing is dead-lettered, nothing lost', async () => {
    // First versions are the rows themselves; what follows them needs the versions table.
    await deliver(rec('w1', { fetchedAt: t(60), name: 'w1' }), rec('w2', { fetchedAt: t(60), name: 'w2' }));
    await ctx.pool.query(`ALTER TABLE ${s()}.ats_tags_versions ADD CONSTRAINT refuse_all CHECK (false) NOT VALID`);
    await producer.send(topic, [
      rec('w1', { fetchedAt: t(70), name: 'w1 again' }),
      rec('w2', { fetchedAt: t(70), name: 'w2 again' }),
    ]);
    await new Promise((r) => setTimeout(r, 2_000));
    const stored = await ctx.pool.query(`SELECT name FROM ${s()}.ats_tags WHERE id IN ('w1', 'w2') ORDER BY id`);
    expect(stored.rows).toEqual([{ name: 'w1' }, { name: 'w2' }]);
    await ctx.pool.query(`ALTER TABLE ${s()}.ats_tags_versions DROP CONSTRAINT refuse_all`);
    await eventually(
      async () => (await versions('w1')).length + (await versions('w2')).length,
      (n) => n === 4,
      60_000,
    );
    expect(await versions('w1')).toEqual([
      { name: 'w1', op: 'create', from: t(60), to: t(70) },
      { name: 'w1 again', op: 'update', from: t(70), to: null },
    ]);
    expect(await topicSize(ctx.kafka, dlqTopic(deps.config.kafka.topicPrefix))).toBe(0n);
  }, 90_000);

  it('a record first read already deleted stays deleted when its tombstone comes in a later batch', async () => {
    await deliver(rec('f', { fetchedAt: t(10), name: 'F', deleted: true, op: 'delete' }));
    await deliver(rec('f', { fetchedAt: t(10), op: 'tombstone', value: null }));
    expect(await versions('f')).toEqual([{ name: 'F', op: 'delete', from: t(10), to: null }]);
    expect(await asOf('f', t(20))).toEqual([]);
  });

  it('a version the table refused (dead-lettered) does not take the one before it along', async () => {
    // The newest of the two is poison for the table (changed_at not a time), so the table has no row:
    // the first is a version of its own.
    await deliver(
      rec('l', { fetchedAt: t(10), name: 'L1' }),
      rec('l', { fetchedAt: t(20), name: 'L2', changedAt: 'not a time' }),
    );
    expect(await versions('l')).toEqual([{ name: 'L1', op: 'create', from: t(10), to: null }]);
  });

  it('a row edited by hand is not kept as the record: the heal after it is a version of its own', async () => {
    await deliver(rec('e', { fetchedAt: t(10), name: 'E' }));
    await ctx.pool.query(`UPDATE ${s()}.ats_tags SET name = 'EDITED' WHERE id = 'e'`);
    await deliver(rec('e', { fetchedAt: t(30), changedAt: t(10), name: 'E', op: 'heal' }));
    expect(await versions('e')).toEqual([
      { name: 'EDITED', op: 'create', from: t(10), to: t(30) },
      { name: 'E', op: 'update', from: t(30), to: null },
    ]);
    expect(await asOf('e', t(40))).toEqual(['E']);
  });

  it('is off for endpoints SINK_HISTORY leaves out', async () => {
    const tables = await ctx.pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'ats\\_%'
       ORDER BY table_name`,
      [ctx.schema],
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'ats_tags',
      'ats_tags_history',
      'ats_tags_versions',
      'ats_users',
    ]);
  });
});
