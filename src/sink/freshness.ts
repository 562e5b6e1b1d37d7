import type pg from 'pg';
import type { EndpointName } from '../kombo/endpoints.ts';
import { quoteIdent } from '../state/migrate.ts';
import { inSchemaDdl } from '../state/pool.ts';
import type { Action } from './reduce.ts';

/**
 * Freshness for the warehouse, and the only code that reads or writes `_kombo_freshness` (in the sink
 * schema, beside the tables it describes) and defines the `kombo_freshness` view:
 * - `_kombo_freshness`: per integration and endpoint, the newest read time (`_kombo_fetched_at`, when
 *   the version was read from Kombo) of what the sink wrote, and when it last wrote (Postgres's
 *   clock). One small upsert per batch, in the batch's transaction, so it is exactly as current as
 *   the rows; both only move forward (a replayed older batch never moves them back). Offboarding (a
 *   purge) removes the integration's entry with its rows.
 * - `kombo_freshness`: that, joined with the last finished delta and full fetch, which the state
 *   schema publishes as `<state>.endpoint_freshness` (the sink reads no state table itself), and the
 *   ages in seconds by Postgres's now().
 */
export const FRESHNESS_TABLE = '_kombo_freshness';
export const FRESHNESS_VIEW = 'kombo_freshness';

/** Creates the table and (re)defines the view; several sinks starting at once take turns. */
export async function ensureFreshness(pool: pg.Pool, sinkSchema: string, stateSchema: string): Promise<void> {
  const s = quoteIdent(sinkSchema);
  const st = quoteIdent(stateSchema);
  await inSchemaDdl(pool, sinkSchema, async (c) => {
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${s}._kombo_freshness (
         integration_id text NOT NULL,
         endpoint text NOT NULL,
         newest_read_at timestamptz NOT NULL,
         rows_written_at timestamptz NOT NULL,
         PRIMARY KEY (integration_id, endpoint)
       )`,
    );
    // Columns may be added at the end, never removed, renamed or retyped (CREATE OR REPLACE VIEW
    // refuses that, and dashboards and dbt sources name them). Not security_invoker: a warehouse
    // role granted SELECT on the view needs no access to the state schema.
    await c.query(
      `CREATE OR REPLACE VIEW ${s}.${quoteIdent(FRESHNESS_VIEW)} AS
       SELECT integration_id, endpoint, translate(endpoint, '/-', '__') AS table_name,
              k.newest_read_at, k.rows_written_at,
              f.last_delta_finished_at, f.last_full_finished_at, f.last_fetch_finished_at, f.fetch_status,
              extract(epoch FROM now() - f.last_fetch_finished_at)::double precision AS fetch_age_seconds,
              extract(epoch FROM now() - k.newest_read_at)::double precision AS read_age_seconds
       FROM ${st}.endpoint_freshness f FULL JOIN ${s}._kombo_freshness k USING (integration_id, endpoint)`,
    );
  });
}

export class FreshnessWriter {
  readonly #upsert: string;
  readonly #forget: string;

  constructor(schema: string) {
    const s = quoteIdent(schema);
    // Sorted by integration: two partitions' transactions lock shared entries in the same order.
    this.#upsert = `INSERT INTO ${s}._kombo_freshness AS f (integration_id, endpoint, newest_read_at, rows_written_at)
      SELECT u.integration_id, $3, u.read_at, now() FROM unnest($1::text[], $2::timestamptz[]) AS u(integration_id, read_at)
      ORDER BY u.integration_id
      ON CONFLICT (integration_id, endpoint) DO UPDATE SET
        newest_read_at = GREATEST(f.newest_read_at, EXCLUDED.newest_read_at),
        rows_written_at = GREATEST(f.rows_written_at, EXCLUDED.rows_written_at)`;
    this.#forget = `DELETE FROM ${s}._kombo_freshness WHERE endpoint = $2 AND integration_id = ANY($1::text[])`;
  }

  /**
   * Inside the batch's transaction, last before its offset moves: the actions the table took (not
   * the ones it refused). An action that lost to a row read later changes nothing: its read time is
   * below that row's, which was counted when it was written. Purges are no read: they forget.
   */
  async record(client: pg.PoolClient, endpoint: EndpointName, written: readonly Action[]): Promise<void> {
    const newest = new Map<string, { ms: number; at: string }>();
    const purged = new Set<string>();
    for (const a of written) {
      const r = a.record;
      if (r.op === 'purge') {
        purged.add(r.integrationId);
        continue;
      }
      const ms = Date.parse(r.fetchedAt);
      const cur = newest.get(r.integrationId);
      if (!cur || ms > cur.ms) newest.set(r.integrationId, { ms, at: r.fetchedAt });
    }
    for (const id of purged) newest.delete(id);
    if (newest.size)
      await client.query(this.#upsert, [[...newest.keys()], [...newest.values()].map((v) => v.at), endpoint]);
    if (purged.size) await client.query(this.#forget, [[...purged], endpoint]);
  }
}
