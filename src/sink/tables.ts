import type pg from 'pg';
import { type EndpointName, tableName } from '../kombo/endpoints.ts';
import { quoteIdent } from '../state/migrate.ts';
import { inSchemaDdl } from '../state/pool.ts';
import { readValueSchema } from '../topics/schemas.ts';
import { BOOKKEEPING, type Column, rowMd5, type TableLayout, tableLayout } from './layout.ts';

/**
 * Creates the table if missing and adds columns for fields the schema gained (add-only evolution, as
 * Kafka Connect's JDBC sinks do): columns are never dropped or retyped, so a schema change never
 * stops the sink. Returns the columns added.
 */
export async function ensureTable(pool: pg.Pool, schema: string, layout: TableLayout): Promise<string[]> {
  const t = `${quoteIdent(schema)}.${quoteIdent(layout.table)}`;
  const col = (c: Column) => `${quoteIdent(c.name)} ${c.pgType}`;
  return inSchemaDdl(pool, schema, async (c) => {
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${t} (
         integration_id text NOT NULL,
         id text NOT NULL,
         ${[...layout.fields, ...BOOKKEEPING].map(col).join(',\n         ')},
         _kombo_synced_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (integration_id, id)
       )`,
    );
    const existing = new Set((await liveColumns(c, schema, layout.table)).keys());
    const missing = [...layout.fields, ...BOOKKEEPING].filter((f) => !existing.has(f.name));
    for (const f of missing) await c.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${col(f)}`);
    return missing.map((f) => f.name);
  });
}

/** Columns of the live table, so writes only name columns that exist. */
export async function liveColumns(
  pool: pg.Pool | pg.PoolClient,
  schema: string,
  table: string,
): Promise<Map<string, string>> {
  const r = await pool.query<{ column_name: string; data_type: string }>(
    'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
    [schema, table],
  );
  return new Map(r.rows.map((x) => [x.column_name, x.data_type]));
}

/**
 * Read access to a sink table for the other parts (the drift pass's sink check, offboarding): the
 * sink owns its tables, so they ask here rather than query them.
 */
export class SinkTable {
  readonly #pool: pg.Pool;
  readonly #t: string;
  readonly #layout: TableLayout;

  constructor(pool: pg.Pool, schema: string, endpoint: EndpointName) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.${quoteIdent(tableName(endpoint))}`;
    this.#layout = tableLayout(endpoint, readValueSchema(endpoint));
  }

  async exists(): Promise<boolean> {
    return Boolean((await this.#pool.query('SELECT to_regclass($1) AS t', [this.#t])).rows[0].t);
  }

  /**
   * Of the given keys and content hashes, those whose row differs from that content: missing,
   * marked deleted, holding other content, or edited by hand (its data no longer matches the
   * checksum the sink stored when it wrote the row).
   */
  async differing(integrationId: string, entries: readonly { id: string; hash: string }[]): Promise<Set<string>> {
    if (entries.length === 0) return new Set();
    const r = await this.#pool.query<{ id: string }>(
      `SELECT e.id FROM unnest($2::text[], $3::text[]) AS e(id, hash)
       LEFT JOIN ${this.#t} r ON r.integration_id = $1 AND r.id = e.id
       WHERE r.id IS NULL OR r._kombo_deleted_at IS NOT NULL OR r._kombo_content_hash IS DISTINCT FROM e.hash
          OR ${rowMd5(this.#layout, 'r')} IS DISTINCT FROM r._kombo_row_md5`,
      [integrationId, entries.map((e) => e.id), entries.map((e) => e.hash)],
    );
    return new Set(r.rows.map((x) => x.id));
  }

  /** Every row id of an integration, in batches. */
  async *ids(integrationId: string, batch = 500): AsyncGenerator<string[]> {
    let after = '';
    for (;;) {
      const { rows } = await this.#pool.query<{ id: string }>(
        `SELECT id FROM ${this.#t} WHERE integration_id = $1 AND id > $2 ORDER BY id LIMIT ${batch}`,
        [integrationId, after],
      );
      if (rows.length === 0) return;
      yield rows.map((r) => r.id);
      if (rows.length < batch) return;
      after = (rows.at(-1) as { id: string }).id;
    }
  }
}
