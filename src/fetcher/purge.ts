import { tableName } from '../kombo/endpoints.ts';
import type { FetchTask } from '../planner/task.ts';
import { quoteIdent } from '../state/migrate.ts';
import { recordTopic } from '../topics/names.ts';
import { recordHeaders } from '../topics/records.ts';
import { toRecords } from './emit.ts';
import type { FetchContext } from './fetch.ts';

/**
 * Offboarding one endpoint of a deleted integration: every record it ever emitted gets its last
 * value with remote_deleted_at set and a tombstone, both marked op=purge (the sink removes the rows
 * whatever its delete mode), then its index rows, runs, schedules and endpoint state are removed.
 */
export async function executePurge(ctx: FetchContext, task: FetchTask): Promise<number> {
  const s = ctx.store.schema;
  const pool = ctx.store.pool;
  const topic = recordTopic(ctx.config.kafka.topicPrefix, task.endpoint);
  const now = new Date().toISOString();
  let purged = 0;
  for (;;) {
    const { rows } = await pool.query<{ id: string; last_value: Record<string, unknown> }>(
      `SELECT id, last_value FROM ${s}.record_index WHERE integration_id = $1 AND endpoint = $2 ORDER BY id LIMIT 500`,
      [task.integration_id, task.endpoint],
    );
    if (rows.length === 0) break;
    const out = await toRecords(
      ctx.serde,
      { integrationId: task.integration_id, endpoint: task.endpoint, fetchedAt: now, syncId: `purge:${task.task_id}` },
      rows.map((r) => ({
        id: r.id,
        value: { ...r.last_value, remote_deleted_at: r.last_value.remote_deleted_at ?? now },
        deleted: true,
      })),
      { op: () => 'purge', tombstoneOp: 'purge' },
    );
    await ctx.producer.send(topic, out);
    await pool.query(
      `DELETE FROM ${s}.record_index WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`,
      [task.integration_id, task.endpoint, rows.map((r) => r.id)],
    );
    purged += rows.length;
  }
  // Keys that left the index earlier (swept as vanished) may still have soft-deleted sink rows:
  // a purge tombstone for each makes the sink drop them too.
  const sinkTable = `${quoteIdent(ctx.config.postgres.sinkSchema)}.${quoteIdent(tableName(task.endpoint))}`;
  if ((await pool.query('SELECT to_regclass($1) AS t', [sinkTable])).rows[0].t) {
    const { rows } = await pool.query<{ id: string }>(`SELECT id FROM ${sinkTable} WHERE integration_id = $1`, [
      task.integration_id,
    ]);
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const out = await Promise.all(
        chunk.map(async (r) => ({
          key: await ctx.serde.encodeKey(task.endpoint, { integration_id: task.integration_id, id: r.id }),
          value: null,
          headers: recordHeaders({
            integrationId: task.integration_id,
            endpoint: task.endpoint,
            fetchedAt: now,
            syncId: `purge:${task.task_id}`,
            op: 'purge',
          }),
        })),
      );
      await ctx.producer.send(topic, out);
      purged += chunk.length;
    }
  }
  for (const table of ['endpoint_state', 'fetch_runs', 'schedules']) {
    await pool.query(`DELETE FROM ${s}.${table} WHERE integration_id = $1 AND endpoint = $2`, [
      task.integration_id,
      task.endpoint,
    ]);
  }
  return purged;
}
