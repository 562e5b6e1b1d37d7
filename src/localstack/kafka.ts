import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalStackError } from '../errors.ts';
import { mavenClasspath } from './download.ts';
import { withDirLock } from './lock.ts';
import { infraDir, projectRoot } from './paths.ts';
import { freePort, portAccepts, runToCompletion, type ServiceProcess, startUntilReady } from './process.ts';

/** Pinned; infra/kafka/pom.xml pins the same version. */
export const KAFKA_VERSION = '3.9.1';
const kafkaHome = path.join(infraDir, `kafka-${KAFKA_VERSION}`);
const libsDir = path.join(kafkaHome, 'libs');
const completeMarker = path.join(libsDir, '.complete');

/** Fetches the broker classpath from Maven Central once; later calls return at once. */
export async function ensureKafkaJars(log: (msg: string) => void = () => {}): Promise<string> {
  if (existsSync(completeMarker)) return libsDir;
  await withDirLock(`${kafkaHome}.lock`, async () => {
    if (existsSync(completeMarker)) return;
    log(`fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central (first run only)`);
    await mavenClasspath(path.join(projectRoot, 'infra', 'kafka', 'pom.xml'), libsDir);
    await writeFile(completeMarker, new Date().toISOString());
  });
  return libsDir;
}

export interface KafkaBroker {
  readonly brokers: string;
  /** With secure listeners: `host:port` of the SASL_SSL and of the mutual-TLS listener. */
  readonly saslSslBrokers?: string;
  readonly mtlsBrokers?: string;
  readonly port: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly process: ServiceProcess;
  stop(): Promise<void>;
  /** Stops and starts the same broker (same port, same data): for chaos tests; `whileDown` runs between. */
  restart(whileDown?: () => Promise<void>): Promise<void>;
}

/**
 * Listeners beside PLAINTEXT, for tests of secured clusters: SASL_SSL (PLAIN and SCRAM; SCRAM users
 * are created when the log directory is formatted) and SSL with client certificates required (mTLS).
 */
export interface SecureListeners {
  /** The broker's key and certificate chain in one PEM file, and the CA its clients are checked against. */
  keystorePem: string;
  truststorePem: string;
  plainUsers: { name: string; password: string }[];
  scramUsers: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; name: string; password: string }[];
}

function secureProperties(secure: SecureListeners): string {
  const plain = secure.plainUsers.map((u) => `user_${u.name}="${u.password}"`).join(' ');
  return `sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plain};
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=${secure.keystorePem}
ssl.truststore.type=PEM
ssl.truststore.location=${secure.truststorePem}
listener.name.mtls.ssl.client.auth=required
`;
}

function serverProperties(
  port: number,
  controllerPort: number,
  dataDir: string,
  secure?: { saslPort: number; mtlsPort: number; listeners: SecureListeners },
): string {
  const extra = secure
    ? {
        listeners: `,SASL_SSL://127.0.0.1:${secure.saslPort},MTLS://127.0.0.1:${secure.mtlsPort}`,
        map: ',SASL_SSL:SASL_SSL,MTLS:SSL',
      }
    : { listeners: '', map: '' };
  return `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${extra.listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}${extra.listeners}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${extra.map}
${secure ? secureProperties(secure.listeners) : ''}
log.dirs=${path.join(dataDir, 'logs')}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# Topics are created explicitly (compacted, with the partition count we choose); a typo must not
# silently create a delete-policy topic.
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
# The dedupe buffer is allocated on heap; the 128 MiB default would not fit a small test heap.
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.backoff.ms=1000
`;
}

const log4jProperties = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
`;

/**
 * Formats a fresh single-node KRaft log directory and starts the broker on 127.0.0.1. Resolves once
 * the listener accepts connections (the broker opens it only after start-up completed).
 */
export async function startKafka(opts: {
  dataDir: string;
  port?: number;
  heapMb?: number;
  readyTimeoutMs?: number;
  log?: (msg: string) => void;
  secure?: SecureListeners;
}): Promise<KafkaBroker> {
  const libs = await ensureKafkaJars(opts.log);
  const port = opts.port ?? (await freePort());
  const controllerPort = await freePort();
  const dataDir = opts.dataDir;
  await mkdir(dataDir, { recursive: true });
  const config = path.join(dataDir, 'server.properties');
  const log4j = path.join(dataDir, 'log4j.properties');
  const logFile = path.join(dataDir, 'broker.log');
  const secure = opts.secure
    ? { saslPort: await freePort(), mtlsPort: await freePort(), listeners: opts.secure }
    : undefined;
  await writeFile(config, serverProperties(port, controllerPort, dataDir, secure));
  await writeFile(log4j, log4jProperties);
  const classpath = `${libs}/*`;
  const logConfig = `-Dlog4j.configuration=file:${log4j}`;
  // A cluster id starting with '-' reads as an option to the storage tool (1 run in 64 failed so).
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  // Start-up flags for a short-lived JVM: format is a one-shot tool.
  await runToCompletion('java', [
    '-Xmx256m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    logConfig,
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    config,
    '--ignore-formatted',
    ...(opts.secure?.scramUsers ?? []).flatMap((u) => [
      '--add-scram',
      `${u.mechanism}=[name=${u.name},password=${u.password}]`,
    ]),
  ]);
  const heap = opts.heapMb ?? 512;
  const launch = async (): Promise<ServiceProcess> => {
    try {
      return await startUntilReady(
        `Kafka broker on port ${port}`,
        'java',
        [
          `-Xms${Math.min(256, heap)}m`,
          `-Xmx${heap}m`,
          '-XX:+UseG1GC',
          '-XX:MaxGCPauseMillis=20',
          '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          logConfig,
          '-cp',
          classpath,
          'kafka.Kafka',
          config,
        ],
        {
          logFile,
          pidFile: path.join(dataDir, 'broker.pid'),
          probe: () => portAccepts(port),
          timeoutMs: opts.readyTimeoutMs ?? 90_000,
        },
      );
    } catch (err) {
      throw err instanceof LocalStackError ? err : new LocalStackError('Kafka broker failed to start', { cause: err });
    }
  };
  let service = await launch();
  return {
    brokers: `127.0.0.1:${port}`,
    ...(secure ? { saslSslBrokers: `127.0.0.1:${secure.saslPort}`, mtlsBrokers: `127.0.0.1:${secure.mtlsPort}` } : {}),
    port,
    dataDir,
    logFile,
    get process() {
      return service;
    },
    stop: () => service.stop(),
    async restart(whileDown) {
      await service.stop();
      await whileDown?.();
      service = await launch();
    },
  };
}
