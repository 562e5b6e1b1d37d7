import type { RoleDeps } from '../../src/app/role.ts';
import { type Config, loadConfig, type RawSettings } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/log.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { migrate } from '../../src/state/migrate.ts';
import { STATE_MIGRATIONS } from '../../src/state/migrations.ts';
import { jsonSerde } from '../../src/topics/serde.ts';
import type { TestContext } from './context.ts';

/** A Config pointing at this test file's topics and schemas. */
export function testConfig(ctx: TestContext, settings: RawSettings = {}): Config {
  return loadConfig({
    env: {},
    defaults: {
      KAFKA_BROKERS: ctx.brokers.join(','),
      DATABASE_URL: ctx.databaseUrl,
      TOPIC_PREFIX: ctx.prefix,
      PG_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
      KAFKA_PARTITIONS: 3,
      // Several runtimes at once (parallel test files): each internal listener on a port of its own.
      ADMIN_PORT: 0,
      LOG_LEVEL: 'warn',
      ...settings,
    },
  });
}

export const quietLogger = () => createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** RoleDeps for a test file, with the state schema migrated. */
export async function testDeps(ctx: TestContext, settings: RawSettings = {}): Promise<RoleDeps> {
  const config = testConfig(ctx, settings);
  await migrate(ctx.pool, config.postgres.stateSchema, STATE_MIGRATIONS);
  return {
    config,
    logger: quietLogger(),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    kafka: ctx.kafka,
    pool: ctx.pool,
    serde: jsonSerde,
  };
}
