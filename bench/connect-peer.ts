/**
 * The sink benchmark's peer: Kafka Connect (standalone worker) with the Debezium JDBC sink, reading
 * the same plain-JSON topic as our sink and upserting into Postgres. Recipe and caveats:
 * ../shared/reference/kafka-without-docker.md §4; the configuration users get is docs/warehouse.md's.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { startConnectWorker } from '../src/localstack/connect.ts';
import { runsDir } from '../src/localstack/paths.ts';
import { connectKeySchema, connectValueSchema } from '../src/sink/connect-schema.ts';
import { quoteIdent } from '../src/state/migrate.ts';
import { peakRssMiB } from './util.ts';

export interface PeerResult {
  rowsPerSecond: number;
  peakRssMiB: number | undefined;
}

/**
 * Runs the Debezium JDBC sink over `topic` (employees) into `schema` and measures rows/s from its
 * first row to its last, as for our sink, so worker start and group join do not count against it.
 */
export async function runConnectPeer(opts: {
  brokers: readonly string[];
  databaseUrl: string;
  pool: pg.Pool;
  topic: string;
  schema: string;
  rows: number;
  log: (m: string) => void;
}): Promise<PeerResult> {
  const worker = await startConnectWorker({
    brokers: opts.brokers.join(','),
    dataDir: path.join(runsDir, `connect-${opts.schema}`),
    log: opts.log,
  });
  try {
    const pgUrl = new URL(opts.databaseUrl);
    const table = 'employees';
    await opts.pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
    await worker.putConnector('pg-sink', {
      'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
      'tasks.max': '1',
      topics: opts.topic,
      'connection.url': `jdbc:postgresql://${pgUrl.host}${pgUrl.pathname}?currentSchema=${opts.schema}&reWriteBatchedInserts=true`,
      'connection.username': decodeURIComponent(pgUrl.username) || 'postgres',
      'connection.password': decodeURIComponent(pgUrl.password),
      'insert.mode': 'upsert',
      'primary.key.mode': 'record_key',
      'primary.key.fields': 'integration_id,id',
      'delete.enabled': 'true',
      'schema.evolution': 'basic',
      'collection.name.format': table,
      // Throughput settings beyond docs/warehouse.md's: batches as large as one poll, UNNEST inserts.
      'batch.size': '2000',
      'use.reduction.buffer': 'true',
      'dialect.postgres.unnest.insert.enabled': 'true',
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': 'true',
      'key.converter.schema.content': connectKeySchema(),
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': 'true',
      'value.converter.schema.content': connectValueSchema('hris/employees'),
    });

    const count = async () =>
      Number(
        (await opts.pool.query(`SELECT count(*) AS n FROM ${quoteIdent(opts.schema)}.${quoteIdent(table)}`)).rows[0].n,
      );
    let first: { t: number; n: number } | undefined;
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      const n = await count().catch(() => 0);
      const t = performance.now();
      if (n > 0) first ??= { t, n };
      if (first && n >= opts.rows) {
        const jvm = await worker.jvmPid();
        return {
          rowsPerSecond: ((opts.rows - first.n) / (t - first.t)) * 1000,
          peakRssMiB: jvm === undefined ? undefined : peakRssMiB(jvm),
        };
      }
      await worker.assertNotFailed('pg-sink');
      if (Date.now() > deadline) throw new Error(`the peer wrote ${n} of ${opts.rows} rows in 30 minutes`);
      await sleep(200);
    }
  } finally {
    await worker.stop();
  }
}
