/**
 * The sink benchmark's peer: Kafka Connect (standalone worker) with the Debezium JDBC sink, reading
 * the same plain-JSON topic as our sink and upserting into Postgres. Recipe and caveats:
 * ../shared/reference/kafka-without-docker.md §4.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { fetchVerifiedArchive, MAVEN_CENTRAL, mavenClasspath } from '../src/localstack/download.ts';
import { withDirLock } from '../src/localstack/lock.ts';
import { infraDir, projectRoot, runsDir } from '../src/localstack/paths.ts';
import { freePort, startService, waitUntil } from '../src/localstack/process.ts';
import type { TableLayout } from '../src/sink/layout.ts';
import { quoteIdent } from '../src/state/migrate.ts';
import { peakRssMiB } from './util.ts';

/** infra/connect/pom.xml pins the worker (4.2.0); this pins the connector and its published SHA-1. */
const CONNECT_VERSION = '4.2.0';
const DEBEZIUM_VERSION = '3.5.0.Final';
const DEBEZIUM_SHA1 = 'f9ff2b457fffb010b5502e6ff08453b10201b645';
const home = path.join(infraDir, `connect-${CONNECT_VERSION}`);
const libs = path.join(home, 'libs');
const plugins = path.join(home, `debezium-jdbc-${DEBEZIUM_VERSION}`);

async function ensureConnect(log: (m: string) => void): Promise<void> {
  if (existsSync(libs) && existsSync(plugins)) return;
  await withDirLock(`${home}.lock`, async () => {
    if (!existsSync(libs)) {
      log(`fetching Kafka Connect ${CONNECT_VERSION} jars from Maven Central (first run only)`);
      await mavenClasspath(path.join(projectRoot, 'infra', 'connect', 'pom.xml'), libs);
    }
    if (!existsSync(plugins)) {
      log(`fetching the Debezium JDBC sink ${DEBEZIUM_VERSION} from Maven Central (first run only)`);
      const file = `debezium-connector-jdbc-${DEBEZIUM_VERSION}-plugin.tar.gz`;
      await fetchVerifiedArchive(
        `${MAVEN_CENTRAL}/io/debezium/debezium-connector-jdbc/${DEBEZIUM_VERSION}/${file}`,
        DEBEZIUM_SHA1,
        plugins,
      );
    }
  });
}

/**
 * A Connect JSON schema for the employee value. Debezium's JDBC sink takes flat structs only, and a
 * plain-JSON object cannot be given a string schema, so the peer writes the top-level scalar columns
 * and leaves out the nested and free-form ones (which our sink stores as jsonb): it does less work.
 */
function connectValueSchema(layout: TableLayout): string {
  const fields = [
    { field: 'id', type: 'string', optional: false },
    ...layout.fields.flatMap((f) => {
      switch (f.pgType) {
        case 'text':
          return [{ field: f.name, type: 'string', optional: true }];
        case 'double precision':
          return [{ field: f.name, type: 'double', optional: true }];
        case 'bigint':
          return [{ field: f.name, type: 'int64', optional: true }];
        case 'boolean':
          return [{ field: f.name, type: 'boolean', optional: true }];
        case 'timestamptz':
          return [{ field: f.name, type: 'string', optional: true, name: 'io.debezium.time.ZonedTimestamp' }];
        default:
          return [];
      }
    }),
  ];
  return JSON.stringify({ type: 'struct', name: 'kombo.Employee', optional: false, fields });
}

const keySchema = JSON.stringify({
  type: 'struct',
  name: 'kombo.Key',
  optional: false,
  fields: [
    { field: 'integration_id', type: 'string', optional: false },
    { field: 'id', type: 'string', optional: false },
  ],
});

/** The JVM under the watchdog shell that startService spawns. */
async function childPid(pid: number): Promise<number | undefined> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const first = children.trim().split(/\s+/)[0];
  return first ? Number(first) : undefined;
}

export interface PeerResult {
  rowsPerSecond: number;
  peakRssMiB: number | undefined;
}

/**
 * Runs the Debezium JDBC sink over `topic` into `schema` and measures rows/s from its first row to its
 * last, as for our sink, so worker start and group join do not count against it.
 */
export async function runConnectPeer(opts: {
  brokers: readonly string[];
  databaseUrl: string;
  pool: pg.Pool;
  topic: string;
  schema: string;
  layout: TableLayout;
  rows: number;
  log: (m: string) => void;
}): Promise<PeerResult> {
  await ensureConnect(opts.log);
  const dataDir = path.join(runsDir, `connect-${opts.schema}`);
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  await writeFile(
    path.join(dataDir, 'worker.properties'),
    [
      `bootstrap.servers=${opts.brokers.join(',')}`,
      `listeners=http://127.0.0.1:${port}`,
      `plugin.path=${plugins}`,
      'plugin.discovery=service_load',
      `offset.storage.file.filename=${path.join(dataDir, 'connect.offsets')}`,
      'offset.flush.interval.ms=1000',
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      // batch.size below must not exceed what one poll returns.
      'consumer.max.poll.records=2000',
      'consumer.auto.offset.reset=earliest',
    ].join('\n'),
  );
  const log4j = path.join(dataDir, 'log4j2.properties');
  await writeFile(
    log4j,
    [
      'appender.out.type=Console',
      'appender.out.name=OUT',
      'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d] %p %m (%c)%n',
      'rootLogger.level=WARN',
      'rootLogger.appenderRef.out.ref=OUT',
    ].join('\n'),
  );
  const logFile = path.join(dataDir, 'connect.log');
  const worker = startService(
    'java',
    [
      '-Xms256m',
      '-Xmx768m',
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      `${libs}/*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      path.join(dataDir, 'worker.properties'),
    ],
    { logFile, cwd: dataDir },
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitUntil('Kafka Connect worker', async () => (await fetch(`${base}/connectors`)).ok, {
      timeoutMs: 120_000,
      service: worker,
      logFile,
    });
    const pgUrl = new URL(opts.databaseUrl);
    const table = 'employees';
    await opts.pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
    const config = {
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
      'batch.size': '2000',
      'use.reduction.buffer': 'true',
      'dialect.postgres.unnest.insert.enabled': 'true',
      // Converter settings in a connector config only apply when the connector names the converter too.
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': 'true',
      'key.converter.schema.content': keySchema,
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': 'true',
      'value.converter.schema.content': connectValueSchema(opts.layout),
    };
    const put = await fetch(`${base}/connectors/pg-sink/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    if (!put.ok) throw new Error(`creating the connector: ${put.status} ${await put.text()}`);

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
        const jvm = await childPid(worker.pid);
        return {
          rowsPerSecond: ((opts.rows - first.n) / (t - first.t)) * 1000,
          peakRssMiB: jvm === undefined ? undefined : peakRssMiB(jvm),
        };
      }
      const status = (await (await fetch(`${base}/connectors/pg-sink/status`)).json()) as {
        tasks?: { state: string; trace?: string }[];
      };
      const failed = status.tasks?.find((t) => t.state === 'FAILED');
      if (failed) throw new Error(`the Debezium JDBC sink failed: ${failed.trace?.split('\n')[0] ?? ''}`);
      if (Date.now() > deadline) throw new Error(`the peer wrote ${n} of ${opts.rows} rows in 30 minutes`);
      await sleep(200);
    }
  } finally {
    await worker.stop(10_000);
  }
}
