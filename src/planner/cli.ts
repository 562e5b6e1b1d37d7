import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { requireState } from '../state/migrate.ts';
import { STATE_MIGRATIONS } from '../state/migrations.ts';
import { poolFor } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { kafkaClient } from '../topics/kafka.ts';
import { topicSpecs } from '../topics/topology.ts';
import { fullsInFlight, triggerSync } from './trigger.ts';

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
  const pool = poolFor(config, { max: 2 });
  const kafka = kafkaClient(config, 'kombo-stream-cli');
  try {
    await requireState(pool, config.postgres.stateSchema, STATE_MIGRATIONS);
    await kafka.requireTopics([topicSpecs(config).tasks.name]);
    const producer = kafka.producer();
    const deps = { config, store: new StateStore(pool, config.postgres.stateSchema), producer };
    const tasks = await triggerSync(deps, integration, {
      mode: values.full ? 'full' : 'delta',
      ...(values.endpoint ? { endpoints: values.endpoint } : {}),
      reason: `cli:${values.full ? 'full' : 'delta'}`,
    });
    const joining = new Map(
      (values.full
        ? await fullsInFlight(
            deps,
            integration,
            tasks.map((t) => t.endpoint),
          )
        : []
      ).map((r) => [r.endpoint, r]),
    );
    for (const t of tasks) {
      const j = joining.get(t.endpoint);
      process.stdout.write(
        `queued ${t.mode} ${t.endpoint} (${t.task_id})${j ? `: joins the full fetch in flight since ${j.started_at.toISOString()} (run ${j.run_id}, ${j.turns} turns done)` : ''}\n`,
      );
    }
    return 0;
  } finally {
    await kafka.close();
    await pool.end();
  }
}
