import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { SinkOffsets } from '../sink/offsets.ts';
import { requireState } from '../state/migrate.ts';
import { STATE_MIGRATIONS } from '../state/migrations.ts';
import { poolFor } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { kafkaClient } from '../topics/kafka.ts';
import { consumerLag, integrationStatus } from './status.ts';

const ago = (d: Date | null) => (d ? `${Math.round((Date.now() - d.getTime()) / 1000)}s ago` : '-');

/** `kombo-stream status [--integration ID] [--json]`: what the admin API's status shows, on a terminal. */
export async function runStatus(args: string[], loadConfig: (file?: string) => Config): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { integration: { type: 'string' }, json: { type: 'boolean', default: false }, config: { type: 'string' } },
  });
  const config = loadConfig(values.config);
  const pool = poolFor(config, { max: 4 });
  const kafka = kafkaClient(config, 'kombo-stream-status');
  try {
    await requireState(pool, config.postgres.stateSchema, STATE_MIGRATIONS);
    const store = new StateStore(pool, config.postgres.stateSchema);
    const integrations = await integrationStatus(store, config.planner.deltaPollIntervalMs, values.integration);
    const lag = await consumerLag(config, kafka, new SinkOffsets(pool, config.postgres.stateSchema)).catch(
      (err: Error) => ({ error: err.message }),
    );
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ integrations, lag }, null, 2)}\n`);
      return 0;
    }
    const out: string[] = [];
    for (const i of integrations) {
      out.push(
        `${i.integration_id} (${i.tool ?? '?'}, ${i.category ?? '?'})${i.paused ? ' PAUSED' : ''}${i.deleted_at ? ' OFFBOARDED' : ''}${
          i.lifecycle.hold
            ? ` ${i.lifecycle.state.toUpperCase()}: ${i.lifecycle.hold.code}, ${i.lifecycle.hold.message}`
            : ''
        }${i.lifecycle.unavailable.length ? ` (not available: ${i.lifecycle.unavailable.join(', ')})` : ''}${
          i.change_detection === 'polling' && i.webhooks_seen_at
            ? ` POLLING: no webhook since ${i.webhooks_seen_at.toISOString()}`
            : ''
        }`,
      );
      for (const e of i.endpoints) {
        const notes = [
          e.last_error_code ? `error ${e.last_error_code}` : '',
          e.dead_letters ? `${e.dead_letters} dead letters` : '',
          e.rejected_records ? `${e.rejected_records} records rejected (latest ${e.last_rejected_code})` : '',
          e.drift_alert ? `DRIFT ALERT: ${e.drift_alert.vanished}/${e.drift_alert.total} vanished` : '',
        ]
          .filter(Boolean)
          .join('; ');
        out.push(
          `  ${e.endpoint.padEnd(24)} ${e.status.padEnd(9)} records ${String(e.records).padStart(7)}  watermark ${e.watermark_age_s === null ? '-' : `${e.watermark_age_s}s old`}  delta ${ago(e.last_delta_finished_at)}  full ${ago(e.last_full_finished_at)}${notes ? `  ${notes}` : ''}`,
        );
      }
    }
    out.push(
      '',
      `consumer lag: ${Object.entries(lag)
        .map(([g, n]) => `${g}=${n}`)
        .join('  ')}`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await kafka.close();
    await pool.end();
  }
}
