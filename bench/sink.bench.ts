import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import { SimulatorCore } from '../src/sim/simulator.ts';
import { type TableLayout, tableLayout } from '../src/sink/layout.ts';
import { startSink } from '../src/sink/role.ts';
import { ensureTable } from '../src/sink/tables.ts';
import { quoteIdent } from '../src/state/migrate.ts';
import { contentHash } from '../src/topics/content-hash.ts';
import { recordTopic } from '../src/topics/names.ts';
import { encodeKeyJson, recordHeaders } from '../src/topics/records.ts';
import { valueSchema } from '../src/topics/schemas.ts';
import { runConnectPeer } from './connect-peer.ts';
import type { BenchModule, BenchRow } from './types.ts';
import { type BenchContext, benchContext, rssSampler } from './util.ts';

/** Employee records as Kombo returns them: one simulated integration rendered under several ids. */
export function employeeRecords(n: number): Row[] {
  const per = Math.min(n, 20_000);
  const core = new SimulatorCore({ seed: 77, integrations: [{ category: 'HRIS', size: per }] });
  const base = core.truth(core.integrations()[0]?.id as string, 'hris/employees');
  const out: Row[] = [];
  for (let k = 0; out.length < n; k++)
    for (const r of base) if (out.length < n) out.push({ integration: `bench:${k}`, record: r });
  return out;
}

const csv = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return `"${s.replaceAll('"', '""')}"`;
};

/** CSV for COPY, prepared before timing: the limit is Postgres's ingest rate, not our formatting. */
function copyCsv(layout: TableLayout, rows: { integration: string; record: Record<string, unknown> }[]): string[] {
  const now = new Date().toISOString();
  return rows.map(
    ({ integration, record }) =>
      `${[integration, record.id, ...layout.fields.map((f) => record[f.name]), now, contentHash(record)].map(csv).join(',')}\n`,
  );
}

async function copyRows(pool: pg.Pool, schema: string, layout: TableLayout, lines: string[]): Promise<void> {
  const cols = [
    'integration_id',
    'id',
    ...layout.fields.map((f) => f.name),
    '_kombo_fetched_at',
    '_kombo_content_hash',
  ];
  const client = await pool.connect();
  try {
    const stream = client.query(
      copyFrom(
        `COPY ${quoteIdent(schema)}.${quoteIdent(layout.table)} (${cols.map(quoteIdent).join(', ')}) FROM STDIN WITH (FORMAT csv)`,
      ),
    );
    await pipeline(Readable.from(lines), stream);
  } finally {
    client.release();
  }
}

async function rowByRow(
  pool: pg.Pool,
  schema: string,
  layout: TableLayout,
  rows: { integration: string; record: Record<string, unknown> }[],
): Promise<void> {
  const cols = ['integration_id', 'id', ...layout.fields.map((f) => f.name), '_kombo_fetched_at'];
  const sql = `INSERT INTO ${quoteIdent(schema)}.${quoteIdent(layout.table)} (${cols.map(quoteIdent).join(', ')})
    VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})
    ON CONFLICT (integration_id, id) DO UPDATE SET ${cols
      .slice(2)
      .map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`)
      .join(', ')}`;
  const now = new Date().toISOString();
  for (const { integration, record } of rows) {
    await pool.query(sql, [
      integration,
      record.id,
      ...layout.fields.map((f) => {
        const v = record[f.name];
        return v !== null && typeof v === 'object' ? JSON.stringify(v) : (v ?? null);
      }),
      now,
    ]);
  }
}

type Row = { integration: string; record: Record<string, unknown> };

/** A second version of every record, as a delta after a change in the HR tool would read it. */
const changedOnce = (rows: readonly Row[]): Row[] =>
  rows.map(({ integration, record }) => ({
    integration,
    record: { ...record, job_title: `${record.job_title ?? ''} II`, changed_at: new Date().toISOString() },
  }));

async function produce(b: BenchContext, topic: string, rows: readonly Row[]): Promise<void> {
  await b.kafka.ensureTopics([{ name: topic, partitions: 6, compacted: true }]);
  const producer = b.kafka.producer();
  const fetchedAt = new Date().toISOString();
  for (let i = 0; i < rows.length; i += 2_000) {
    await producer.send(
      topic,
      rows.slice(i, i + 2_000).map(({ integration, record }) => ({
        key: encodeKeyJson({ integration_id: integration, id: record.id as string }),
        value: JSON.stringify(record),
        headers: recordHeaders({
          integrationId: integration,
          endpoint: 'hris/employees',
          fetchedAt,
          syncId: 'bench',
          op: 'upsert',
          contentHash: contentHash(record),
        }),
      })),
    );
  }
  await producer.close();
}

/**
 * Our sink role over the context's employee topic into an empty table: rows/s from its first commit
 * to its last, so consumer-group join time is not counted against the rate.
 */
async function runOurs(b: BenchContext, n: number): Promise<{ rowsPerSecond: number; peakRssMiB: number }> {
  const rss = rssSampler();
  let first: { t: number; n: number } | undefined;
  let lastT = 0;
  const seen = new Map<number, bigint>();
  const done = new Promise<void>((resolve) => {
    // A registry of its own: a context's second run would register the sink's metrics again.
    void startSink(
      { ...b.deps, metrics: createMetricsRegistry({ defaultMetrics: false }) },
      {
        maxWaitTimeInMs: 100,
        afterDbCommit: async (batch) => {
          seen.set(batch.partition, batch.lastOffset + 1n);
          const written = Number([...seen.values()].reduce((a, x) => a + x, 0n));
          lastT = performance.now();
          first ??= { t: lastT, n: written };
          if (written >= n) resolve();
        },
      },
    ).then((sink) => done.then(() => sink.stop()));
  });
  await done;
  const f = first as { t: number; n: number };
  return { rowsPerSecond: ((n - f.n) / (lastT - f.t)) * 1000, peakRssMiB: rss.stop() };
}

const bench: BenchModule = {
  name: 'sink',
  async run(env): Promise<BenchRow[]> {
    const N = env.quick ? 20_000 : 200_000;
    const SAMPLE = env.quick ? 1_000 : 5_000;
    const layout = tableLayout('hris/employees', valueSchema('hris/employees'));
    const settings = { KOMBO_ENDPOINTS: 'hris/employees' };
    env.log(`sink: generating ${N} employee records`);
    const rows = employeeRecords(N);
    const out: BenchRow[] = [];
    const updates: Partial<Record<'on' | 'off', { rowsPerSecond: number; peakRssMiB: number }>> = {};

    const b = await benchContext(env, 'sink', settings);
    const { id, pool } = b;
    try {
      await produce(b, recordTopic(id, 'hris/employees'), rows);
      env.log('sink: ours');
      const ours = await runOurs(b, N);
      env.log('sink: ours, every record changed once');
      await produce(b, recordTopic(id, 'hris/employees'), changedOnce(rows));
      updates.on = await runOurs(b, 2 * N);

      env.log('sink: baseline (row by row)');
      await ensureTable(pool, `${id}_rbr`, layout);
      const t1 = performance.now();
      await rowByRow(pool, `${id}_rbr`, layout, rows.slice(0, SAMPLE));
      const baseline = (SAMPLE / (performance.now() - t1)) * 1000;

      env.log('sink: limit (raw COPY into an empty table)');
      await ensureTable(pool, `${id}_copy`, layout);
      const lines = copyCsv(layout, rows);
      const t2 = performance.now();
      await copyRows(pool, `${id}_copy`, layout, lines);
      const limit = (N / (performance.now() - t2)) * 1000;

      out.push({
        name: `sink: upsert ${N / 1000}k employees from a topic`,
        metric: 'throughput',
        unit: 'rows/s',
        ours: ours.rowsPerSecond,
        baseline: { name: `row-by-row INSERT ON CONFLICT (${SAMPLE} rows)`, value: baseline },
        limit: { name: 'raw COPY, empty table', value: limit },
        goal: '>= 0.5x limit, >= 10x baseline',
        goalMet: ours.rowsPerSecond >= 0.5 * limit && ours.rowsPerSecond >= 10 * baseline,
        peakRssMiB: ours.peakRssMiB,
      });
    } finally {
      for (const s of [`${id}_rbr`, `${id}_copy`]) await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
      await b.close();
    }

    // History (every version in hris_employees_history, in the same transaction) is on by default:
    // its cost is the same runs with it off. A backfill stores no version (a first version is the row
    // itself); a change stores the version it ends, so the second run is where history costs.
    const withHistory = out[0]?.ours as number;
    const h = await benchContext(env, 'sinknohist', { ...settings, SINK_HISTORY: 'none' });
    try {
      await produce(h, recordTopic(h.id, 'hris/employees'), rows);
      env.log('sink: ours without history');
      const without = await runOurs(h, N);
      env.log('sink: ours without history, every record changed once');
      await produce(h, recordTopic(h.id, 'hris/employees'), changedOnce(rows));
      updates.off = await runOurs(h, 2 * N);
      out.push({
        name: `sink: upsert ${N / 1000}k employees, history on (baseline: off)`,
        metric: 'throughput',
        unit: 'rows/s',
        ours: withHistory,
        baseline: { name: 'SINK_HISTORY=none', value: without.rowsPerSecond },
        goal: '>= 0.75x baseline',
        goalMet: withHistory >= 0.75 * without.rowsPerSecond,
        peakRssMiB: without.peakRssMiB,
      });
      const on = updates.on?.rowsPerSecond ?? 0;
      const off = updates.off.rowsPerSecond;
      out.push({
        name: `sink: ${N / 1000}k employees each changed once, history on (baseline: off)`,
        metric: 'throughput',
        unit: 'rows/s',
        ours: on,
        // No goal: reported so the cost is known. Each change stores two versions (the one it ends,
        // from the row, and the new one); deltas arrive at Kombo's rate limit (5 requests/s of up to
        // 250 records by default), far below either figure.
        baseline: { name: 'SINK_HISTORY=none', value: off },
        peakRssMiB: updates.on?.peakRssMiB ?? 0,
      });
    } finally {
      await h.close();
    }

    // The peer, Debezium's JDBC sink, stores flat structs only: it cannot keep the nested fields (85%
    // of an employee's bytes). Both sinks get the same records without them, on a topic of their own.
    const scalar = new Set(['id', ...layout.fields.filter((f) => f.pgType !== 'jsonb').map((f) => f.name)]);
    const flat = rows.map(({ integration, record }) => ({
      integration,
      record: Object.fromEntries(Object.entries(record).filter(([k]) => scalar.has(k))),
    }));
    const p = await benchContext(env, 'sinkflat', settings);
    try {
      const topic = recordTopic(p.id, 'hris/employees');
      await produce(p, topic, flat);
      env.log('sink: ours, scalar fields only');
      const ours = await runOurs(p, N);
      env.log('sink: peer (Kafka Connect + Debezium JDBC sink), scalar fields only');
      const peer = await runConnectPeer({
        brokers: env.brokers,
        databaseUrl: env.databaseUrl,
        pool: p.pool,
        topic,
        schema: `${p.id}_connect`,
        rows: N,
        log: env.log,
      });
      out.push({
        name: `sink: upsert ${N / 1000}k employees, top-level scalar fields only`,
        metric: 'throughput',
        unit: 'rows/s',
        ours: ours.rowsPerSecond,
        peer: {
          name: 'Kafka Connect 4.2 + Debezium JDBC sink 3.5',
          value: peer.rowsPerSecond,
          ...(peer.peakRssMiB === undefined ? {} : { peakRssMiB: peer.peakRssMiB }),
        },
        peakRssMiB: ours.peakRssMiB,
      });
    } finally {
      await p.pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(`${p.id}_connect`)} CASCADE`);
      await p.close();
    }
    return out;
  },
};
export default bench;
