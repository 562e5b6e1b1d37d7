import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalStackError } from '../errors.ts';
import { fetchVerifiedArchive, MAVEN_CENTRAL, mavenClasspath } from './download.ts';
import { withDirLock } from './lock.ts';
import { infraDir, projectRoot } from './paths.ts';
import { freePort, type ServiceProcess, startUntilReady } from './process.ts';

/**
 * Kafka Connect with the Debezium JDBC sink: the sink benchmark's peer and the warehouse test's
 * standard sink. infra/connect/pom.xml pins the worker (4.2.0, for JsonConverter's schema.content,
 * KAFKA-16913); this pins the connector and the SHA-1 Central publishes for it.
 */
export const CONNECT_VERSION = '4.2.0';
export const DEBEZIUM_JDBC_VERSION = '3.5.0.Final';
const DEBEZIUM_SHA1 = 'f9ff2b457fffb010b5502e6ff08453b10201b645';
const home = path.join(infraDir, `connect-${CONNECT_VERSION}`);
const libs = path.join(home, 'libs');
const plugins = path.join(home, `debezium-jdbc-${DEBEZIUM_JDBC_VERSION}`);

/** Fetches the worker's jars and the connector's plugin once; both appear complete or not at all. */
export async function ensureConnect(log: (m: string) => void = () => {}): Promise<void> {
  if (existsSync(libs) && existsSync(plugins)) return;
  await withDirLock(`${home}.lock`, async () => {
    if (!existsSync(libs)) {
      log(`fetching Kafka Connect ${CONNECT_VERSION} jars from Maven Central (first run only)`);
      await mavenClasspath(path.join(projectRoot, 'infra', 'connect', 'pom.xml'), libs);
    }
    if (!existsSync(plugins)) {
      log(`fetching the Debezium JDBC sink ${DEBEZIUM_JDBC_VERSION} from Maven Central (first run only)`);
      const file = `debezium-connector-jdbc-${DEBEZIUM_JDBC_VERSION}-plugin.tar.gz`;
      await fetchVerifiedArchive(
        `${MAVEN_CENTRAL}/io/debezium/debezium-connector-jdbc/${DEBEZIUM_JDBC_VERSION}/${file}`,
        DEBEZIUM_SHA1,
        plugins,
      );
    }
  });
}

interface TaskStatus {
  state: string;
  trace?: string;
}

export interface ConnectWorker {
  /** The worker's REST base URL. */
  readonly url: string;
  readonly process: ServiceProcess;
  /** Creates or replaces a connector; its config names its own converters. */
  putConnector(name: string, config: Record<string, string>): Promise<void>;
  /** Throws with the task's first trace line once a task of the connector has failed. */
  assertNotFailed(name: string): Promise<void>;
  /** The JVM's pid (the service process is the watchdog shell around it). */
  jvmPid(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/**
 * A standalone Connect worker on `brokers`, its REST API on a free port. Standalone mode keeps
 * source offsets in a file only; a sink's offsets live in its consumer group (`connect-<name>`).
 */
export async function startConnectWorker(opts: {
  brokers: string;
  dataDir: string;
  log?: (m: string) => void;
  ownerPid?: number;
}): Promise<ConnectWorker> {
  await ensureConnect(opts.log);
  await mkdir(opts.dataDir, { recursive: true });
  const port = await freePort();
  const workerProps = path.join(opts.dataDir, 'worker.properties');
  await writeFile(
    workerProps,
    [
      `bootstrap.servers=${opts.brokers}`,
      `listeners=http://127.0.0.1:${port}`,
      `plugin.path=${plugins}`,
      // The Debezium jar lists its plugins in META-INF/services: skips scanning every jar (seconds).
      'plugin.discovery=service_load',
      `offset.storage.file.filename=${path.join(opts.dataDir, 'connect.offsets')}`,
      'offset.flush.interval.ms=1000',
      // Connectors name their own converters; these are only the worker's defaults.
      'key.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      // A connector's batch.size must not exceed what one poll returns.
      'consumer.max.poll.records=2000',
      'consumer.auto.offset.reset=earliest',
    ].join('\n'),
  );
  const log4j = path.join(opts.dataDir, 'log4j2.properties');
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
  const logFile = path.join(opts.dataDir, 'connect.log');
  const url = `http://127.0.0.1:${port}`;
  const service = await startUntilReady(
    'Kafka Connect worker',
    'java',
    [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+ExitOnOutOfMemoryError',
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      `${libs}/*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      workerProps,
    ],
    {
      logFile,
      cwd: opts.dataDir,
      ...(opts.ownerPid === undefined ? {} : { ownerPid: opts.ownerPid }),
      pidFile: path.join(opts.dataDir, 'connect.pid'),
      probe: async () => (await fetch(`${url}/connectors`)).ok,
      timeoutMs: 120_000,
    },
  );
  return {
    url,
    process: service,
    async putConnector(name, config) {
      const res = await fetch(`${url}/connectors/${encodeURIComponent(name)}/config`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(config),
      });
      if (!res.ok) throw new LocalStackError(`creating connector ${name}: ${res.status} ${await res.text()}`);
    },
    async assertNotFailed(name) {
      const res = await fetch(`${url}/connectors/${encodeURIComponent(name)}/status`);
      // 404 until the herder has started the connector: not a failure.
      if (!res.ok) return;
      const status = (await res.json()) as { connector?: TaskStatus; tasks?: TaskStatus[] };
      const failed = [status.connector, ...(status.tasks ?? [])].find((t) => t?.state === 'FAILED');
      if (failed) {
        // The first line says only that the task died; the root cause is the last "Caused by".
        const lines = failed.trace?.split('\n') ?? [];
        const cause = lines.filter((l) => l.startsWith('Caused by')).at(-1);
        throw new LocalStackError(
          `connector ${name} failed: ${lines[0] ?? '(no trace)'}${cause ? ` (${cause.trim()})` : ''}`,
        );
      }
    },
    async jvmPid() {
      const children = await readFile(`/proc/${service.pid}/task/${service.pid}/children`, 'utf8').catch(() => '');
      const first = children.trim().split(/\s+/)[0];
      return first ? Number(first) : undefined;
    },
    stop: () => service.stop(10_000),
  };
}
