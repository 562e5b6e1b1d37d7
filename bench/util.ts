import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import type { RoleDeps } from '../src/app/role.ts';
import { type Config, loadConfig, type RawSettings } from '../src/config/config.ts';
import { createLogger } from '../src/observability/log.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import { migrate, quoteIdent } from '../src/state/migrate.ts';
import { STATE_MIGRATIONS } from '../src/state/migrations.ts';
import { createPool } from '../src/state/pool.ts';
import { KafkaClient } from '../src/topics/kafka.ts';
import { jsonSerde } from '../src/topics/serde.ts';
import type { BenchEnv } from './types.ts';

/** Peak resident set (VmHWM) of another process, in MiB; undefined once it is gone. */
export function peakRssMiB(pid: number): number | undefined {
  const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8') : '';
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}

/** Samples this process's RSS until stopped; returns the peak in MiB. */
export function rssSampler(intervalMs = 100): { stop: () => number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, intervalMs);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage().rss) / 2 ** 20;
    },
  };
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export interface BenchContext {
  id: string;
  config: Config;
  deps: RoleDeps;
  pool: pg.Pool;
  kafka: KafkaClient;
  /** Sum of end offsets over the topics whose names start with the context's prefix. */
  topicRecords(): Promise<bigint>;
  close(): Promise<void>;
}

/** A private namespace (topic prefix, Postgres schemas) for one benchmark, removed afterwards. */
export async function benchContext(env: BenchEnv, name: string, settings: RawSettings = {}): Promise<BenchContext> {
  const id = `bench_${name}_${randomBytes(3).toString('hex')}`;
  const pool = createPool(env.databaseUrl, { max: 16 });
  const kafka = new KafkaClient({ brokers: env.brokers, clientId: id });
  const config = loadConfig({
    env: {},
    defaults: {
      KAFKA_BROKERS: env.brokers.join(','),
      DATABASE_URL: env.databaseUrl,
      TOPIC_PREFIX: id,
      PG_SCHEMA: id,
      STATE_SCHEMA: `${id}_state`,
      KAFKA_PARTITIONS: 6,
      LOG_LEVEL: 'warn',
      ...settings,
    },
  });
  await migrate(pool, config.postgres.stateSchema, STATE_MIGRATIONS);
  const deps: RoleDeps = {
    config,
    logger: createLogger({ level: 'warn' }),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    kafka,
    pool,
    serde: jsonSerde,
  };
  return {
    id,
    config,
    deps,
    pool,
    kafka,
    async topicRecords() {
      let n = 0n;
      for (const t of (await kafka.listTopics()).filter(
        (x) => x.startsWith(`${id}.`) && !x.endsWith('.tasks') && !x.endsWith('.events') && !x.endsWith('.dlq'),
      )) {
        for (const o of (await kafka.endOffsets(t)).values()) n += o;
      }
      return n;
    },
    async close() {
      await kafka.deleteTopics((await kafka.listTopics()).filter((t) => t.startsWith(`${id}.`))).catch(() => {});
      for (const s of [id, `${id}_state`]) await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
      await kafka.close();
      await pool.end();
    },
  };
}
