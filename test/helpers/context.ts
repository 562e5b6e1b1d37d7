import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import { KafkaClient } from '../../src/topics/kafka.ts';

export interface TestContext {
  readonly brokers: string[];
  readonly databaseUrl: string;
  /** Topic prefix unique to this test file (and run). */
  readonly prefix: string;
  /** Postgres schema for sink tables, unique to this test file (and run), created empty. */
  readonly schema: string;
  /** Postgres schema for connector state, unique to this test file (and run), created empty. */
  readonly stateSchema: string;
  readonly kafka: KafkaClient;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * Isolation for one test file: its own topic prefix and Postgres schema, so files run in parallel
 * against one broker and one database without seeing each other's data.
 */
export async function createTestContext(metaUrl: string): Promise<TestContext> {
  const base = path
    .basename(fileURLToPath(metaUrl))
    .replace(/\.test\.ts$/, '')
    .replace(/[^a-z0-9]+/gi, '_')
    .toLowerCase()
    .slice(0, 30);
  const id = `${base}_${randomBytes(3).toString('hex')}`;
  const brokers = inject('KAFKA_BROKERS').split(',');
  const databaseUrl = inject('DATABASE_URL');
  const schema = `t_${id}`;
  const stateSchema = `t_${id}_state`;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  await pool.query(`CREATE SCHEMA "${schema}"; CREATE SCHEMA "${stateSchema}"`);
  const kafka = new KafkaClient({ brokers, clientId: `test-${id}` });
  return {
    brokers,
    databaseUrl,
    prefix: `t.${id}`,
    schema,
    stateSchema,
    kafka,
    pool,
    async close() {
      await kafka.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${stateSchema}" CASCADE`);
      await pool.end();
    },
  };
}
