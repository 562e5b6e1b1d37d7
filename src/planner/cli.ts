import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { migrate } from '../state/migrate.ts';
import { STATE_MIGRATIONS } from '../state/migrations.ts';
import { createPool } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { KafkaClient } from '../topics/kafka.ts';
import { topicSpecs } from '../topics/topology.ts';
import { triggerSync } from './trigger.ts';

/** `kombo-stream sync <integration> [--full] [--endpoint NAME]...`: a manual sync, as the admin API does it. */
export async function runSync(args: string[], loadConfig: (file?: string) => Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      full: { type: 'boolean', default: false },
      endpoint: { type: 'string', multiple: true },
      config: { type: 'string' },
    },
  });
  const [integration] = positionals;
  if (!integration || positionals.length > 1) throw new TypeError('name exactly one integration id');
  const config = loadConfig(values.config);
  const pool = createPool(config.databaseUrl, { max: 2 });
  const kafka = new KafkaClient({ brokers: config.kafka.brokers, clientId: 'kombo-stream-cli' });
  try {
    await migrate(pool, config.postgres.stateSchema, STATE_MIGRATIONS);
    await kafka.ensureTopics([topicSpecs(config).tasks]);
    const producer = kafka.producer();
    const tasks = await triggerSync(
      { config, store: new StateStore(pool, config.postgres.stateSchema), producer },
      integration,
      {
        mode: values.full ? 'full' : 'delta',
        ...(values.endpoint ? { endpoints: values.endpoint } : {}),
        reason: `cli:${values.full ? 'full' : 'delta'}`,
      },
    );
    for (const t of tasks) process.stdout.write(`queued ${t.mode} ${t.endpoint} (${t.task_id})\n`);
    return 0;
  } finally {
    await kafka.close();
    await pool.end();
  }
}
