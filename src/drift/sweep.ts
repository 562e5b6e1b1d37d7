import { createHash } from 'node:crypto';
import { toRecords } from '../fetcher/emit.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { recordTopic } from '../topics/names.ts';
import type { DriftContext } from './context.ts';

export interface SweepResult {
  vanished: number;
  total: number;
  deleted: number;
  blocked: number;
}

export interface SweepTarget {
  integrationId: string;
  endpoint: EndpointName;
  generation: string;
  /** Records first emitted after this (by deltas) were not the full fetch's to see. */
  runStartedAt: Date;
}

/**
 * Mark-and-sweep after a full fetch that read every page (invariant 6): live records of the index that
 * this generation did not see vanished upstream without a trace. They get their last known value with
 * remote_deleted_at set, then a tombstone, and leave the index. If that would delete more than the
 * configured share, nothing is deleted and an alert stays open until an operator confirms or a later
 * full fetch finds the same records gone.
 */
export async function sweep(
  ctx: DriftContext,
  t: SweepTarget,
  opts: { confirmed?: boolean } = {},
): Promise<SweepResult> {
  const s = ctx.store.schema;
  const pool = ctx.store.pool;
  const total = Number(
    (
      await pool.query(
        `SELECT count(*) AS n FROM ${s}.record_index WHERE integration_id = $1 AND endpoint = $2 AND NOT deleted`,
        [t.integrationId, t.endpoint],
      )
    ).rows[0].n,
  );
  const { rows } = await pool.query<{ id: string; last_value: Record<string, unknown> }>(
    `SELECT id, last_value FROM ${s}.record_index
     WHERE integration_id = $1 AND endpoint = $2 AND NOT deleted
       AND last_seen_generation IS DISTINCT FROM $3 AND fetched_at < $4
     ORDER BY id`,
    [t.integrationId, t.endpoint, t.generation, t.runStartedAt],
  );
  // Already-deleted records that upstream has since purged: nothing to emit, just forget them.
  await pool.query(
    `DELETE FROM ${s}.record_index WHERE integration_id = $1 AND endpoint = $2 AND deleted
       AND last_seen_generation IS DISTINCT FROM $3 AND fetched_at < $4`,
    [t.integrationId, t.endpoint, t.generation, t.runStartedAt],
  );
  const vanished = rows.length;
  const result: SweepResult = { vanished, total, deleted: 0, blocked: 0 };
  const alertKey = [t.integrationId, t.endpoint];
  if (vanished === 0) {
    await pool.query(
      `UPDATE ${s}.drift_alerts SET status = 'resolved', resolved_at = now() WHERE integration_id = $1 AND endpoint = $2 AND status <> 'resolved'`,
      alertKey,
    );
    return result;
  }
  const { maxDeleteFraction, guardMinRecords } = ctx.config.drift;
  const trips = vanished >= guardMinRecords && vanished > maxDeleteFraction * total;
  const idsHash = createHash('sha256')
    .update(rows.map((r) => r.id).join('\n'))
    .digest('hex');
  if (trips && !opts.confirmed) {
    const prior = (
      await pool.query(
        `SELECT status, ids_hash FROM ${s}.drift_alerts WHERE integration_id = $1 AND endpoint = $2`,
        alertKey,
      )
    ).rows[0];
    const agrees = prior && ((prior.status === 'open' && prior.ids_hash === idsHash) || prior.status === 'confirmed');
    if (!agrees) {
      await pool.query(
        `INSERT INTO ${s}.drift_alerts (integration_id, endpoint, status, raised_at, vanished, total, ids_hash, generation, run_started_at)
         VALUES ($1, $2, 'open', now(), $3, $4, $5, $6, $7)
         ON CONFLICT (integration_id, endpoint) DO UPDATE SET status = 'open', raised_at = now(), vanished = $3, total = $4,
           ids_hash = $5, generation = $6, run_started_at = $7, resolved_at = NULL`,
        [...alertKey, vanished, total, idsHash, t.generation, t.runStartedAt],
      );
      ctx.logger.warn(
        { integration: t.integrationId, endpoint: t.endpoint, vanished, total, maxDeleteFraction },
        'drift sweep blocked: it would delete too many records; confirm it, or a later full fetch must agree',
      );
      result.blocked = vanished;
      return result;
    }
  }
  const now = new Date().toISOString();
  const topic = recordTopic(ctx.config.kafka.topicPrefix, t.endpoint);
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const out = await toRecords(
      ctx.serde,
      {
        integrationId: t.integrationId,
        endpoint: t.endpoint,
        fetchedAt: now,
        syncId: `drift:${t.generation}`,
        generation: t.generation,
      },
      chunk.map((r) => ({
        id: r.id,
        value: { ...r.last_value, remote_deleted_at: r.last_value.remote_deleted_at ?? now },
        deleted: true,
      })),
    );
    await ctx.producer.send(topic, out);
    await pool.query(
      `DELETE FROM ${s}.record_index WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`,
      [...alertKey, chunk.map((r) => r.id)],
    );
    result.deleted += chunk.length;
  }
  await pool.query(
    `UPDATE ${s}.drift_alerts SET status = 'resolved', resolved_at = now() WHERE integration_id = $1 AND endpoint = $2 AND status <> 'resolved'`,
    alertKey,
  );
  return result;
}

/** Operator confirmation of a blocked sweep: runs it now with the blocked run's generation. */
export async function confirmSweep(
  ctx: DriftContext,
  integrationId: string,
  endpoint: EndpointName,
): Promise<SweepResult | undefined> {
  const s = ctx.store.schema;
  const alert = (
    await ctx.store.pool.query(
      `SELECT generation, run_started_at FROM ${s}.drift_alerts WHERE integration_id = $1 AND endpoint = $2 AND status = 'open'`,
      [integrationId, endpoint],
    )
  ).rows[0];
  if (!alert) return undefined;
  await ctx.store.pool.query(
    `UPDATE ${s}.drift_alerts SET status = 'confirmed' WHERE integration_id = $1 AND endpoint = $2`,
    [integrationId, endpoint],
  );
  return sweep(
    ctx,
    { integrationId, endpoint, generation: String(alert.generation), runStartedAt: alert.run_started_at },
    { confirmed: true },
  );
}
