import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { sharedLimiter } from '../fetcher/rate-limit.ts';
import { komboClient } from '../kombo/client.ts';
import { requireState } from '../state/migrate.ts';
import { STATE_MIGRATIONS } from '../state/migrations.ts';
import { poolFor } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { kafkaClient } from '../topics/kafka.ts';
import { topicSpecs } from '../topics/topology.ts';
import { integrationList } from './list.ts';
import { addIntegrations } from './onboard.ts';
import { LifecycleStore } from './store.ts';

/** One id per line; blank lines and `#` comments are skipped. */
export function idsFromText(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/**
 * `kombo-stream integrations add <id>... [--from-file FILE]` onboards integrations that exist at
 * Kombo; `kombo-stream integrations list [--json]` shows what the connector knows.
 */
export async function runIntegrations(args: string[], loadConfig: (file?: string) => Config): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      'from-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
    },
  });
  if (sub !== 'add' && sub !== 'list') throw new TypeError('use: integrations add <id>... | integrations list');
  const config = loadConfig(values.config);
  const pool = poolFor(config, { max: 2 });
  const store = new StateStore(pool, config.postgres.stateSchema);
  const lifecycle = new LifecycleStore(pool, config.postgres.stateSchema);
  try {
    await requireState(pool, config.postgres.stateSchema, STATE_MIGRATIONS);
    if (sub === 'list') {
      const rows = await integrationList({ store, lifecycle });
      if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else
        for (const r of rows)
          process.stdout.write(
            `${r.integration_id}  ${r.category ?? '?'} ${r.tool ?? '?'}  ${r.state}${r.hold ? ` (${r.hold.code}: ${r.hold.message})` : ''}` +
              `${r.unavailable.length ? `  not available: ${r.unavailable.join(', ')}` : ''}\n`,
          );
      return 0;
    }
    const ids = [
      ...positionals,
      ...(values['from-file'] ? idsFromText(await readFile(values['from-file'], 'utf8')) : []),
    ];
    if (ids.length === 0) throw new TypeError('name at least one integration id (or --from-file FILE)');
    const kafka = kafkaClient(config, 'kombo-stream-cli');
    const client = komboClient(config, 'to look integrations up at Kombo');
    try {
      await kafka.requireTopics([topicSpecs(config).tasks.name]);
      const producer = kafka.producer();
      const limiter = sharedLimiter(config, pool);
      const added = await addIntegrations({ config, store, lifecycle, client, producer, limiter }, ids);
      await producer.close();
      for (const a of added)
        process.stdout.write(
          `${a.already_known ? 'known' : 'added'} ${a.integration_id} (${a.category} ${a.tool}): ${a.state}` +
            `${a.hold ? `, ${a.hold}` : ''}; ${a.queued} fetches queued of ${a.mirrored} mirrored endpoints\n`,
        );
      return 0;
    } finally {
      await client.close();
      await kafka.close();
    }
  } finally {
    await pool.end();
  }
}
