import { toRecords } from '../fetcher/emit.ts';
import { type EndpointName, tableName } from '../kombo/endpoints.ts';
import { tableLayout } from '../sink/layout.ts';
import { quoteIdent } from '../state/migrate.ts';
import { recordTopic } from '../topics/names.ts';
import { readValueSchema } from '../topics/schemas.ts';
import type { DriftContext } from './context.ts';

/**
 * Sink drift ("accidental manual changes"): rows of the sink table that differ from what was last
 * emitted (content hash), were edited by hand (their data no longer matches the checksum the sink
 * stored when it wrote them) or deleted by hand are re-emitted from the record index, so the user's
 * copy heals too. Rows written very recently are left alone: the sink may still be catching up.
 */
export async function healSink(ctx: DriftContext, integrationId: string, endpoint: EndpointName): Promise<number> {
  const pool = ctx.store.pool;
  const sinkTable = `${quoteIdent(ctx.config.postgres.sinkSchema)}.${quoteIdent(tableName(endpoint))}`;
  const exists = (await pool.query('SELECT to_regclass($1) AS t', [sinkTable])).rows[0].t;
  if (!exists) return 0;
  const cols = tableLayout(endpoint, readValueSchema(endpoint)).fields.map((c) => `r.${quoteIdent(c.name)}`);
  const { rows } = await pool.query<{ id: string; last_value: Record<string, unknown>; fetched_at: Date }>(
    `SELECT i.id, i.last_value, i.fetched_at FROM ${ctx.store.schema}.record_index i
     LEFT JOIN ${sinkTable} r ON r.integration_id = i.integration_id AND r.id = i.id
     WHERE i.integration_id = $1 AND i.endpoint = $2 AND NOT i.deleted AND i.fetched_at < $3
       AND (r.id IS NULL OR r._kombo_deleted_at IS NOT NULL
            OR r._kombo_content_hash IS DISTINCT FROM i.content_hash
            OR md5(ROW(${cols.join(', ') || 'NULL'})::text) IS DISTINCT FROM r._kombo_row_md5)`,
    [integrationId, endpoint, new Date(Date.now() - ctx.config.drift.sinkGraceMs)],
  );
  const topic = recordTopic(ctx.config.kafka.topicPrefix, endpoint);
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    // Each keeps the fetched-at of the version it repeats: the sink rewrites an equal version, and a
    // newer one that arrived meanwhile still wins.
    const out = await Promise.all(
      chunk.map((r) =>
        toRecords(
          ctx.serde,
          { integrationId, endpoint, fetchedAt: r.fetched_at.toISOString(), syncId: 'drift:heal' },
          [{ id: r.id, value: r.last_value, deleted: false }],
          {
            op: () => 'heal',
          },
        ),
      ),
    );
    await ctx.producer.send(topic, out.flat());
  }
  return rows.length;
}
