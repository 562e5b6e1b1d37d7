import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';
import { BOOKKEEPING, type Column, type TableLayout } from './layout.ts';

/**
 * Creates the table if missing and adds columns for fields the schema gained (add-only evolution, as
 * Kafka Connect's JDBC sinks do): columns are never dropped or retyped, so a schema change never
 * stops the sink. Returns the columns added.
 */
export async function ensureTable(pool: pg.Pool, schema: string, layout: TableLayout): Promise<string[]> {
  const t = `${quoteIdent(schema)}.${quoteIdent(layout.table)}`;
  const col = (c: Column) => `${quoteIdent(c.name)} ${c.pgType}`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${t} (
       integration_id text NOT NULL,
       id text NOT NULL,
       ${[...layout.fields, ...BOOKKEEPING].map(col).join(',\n       ')},
       _kombo_synced_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (integration_id, id)
     )`,
  );
  const existing = new Set(
    (
      await pool.query<{ column_name: string }>(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
        [schema, layout.table],
      )
    ).rows.map((r) => r.column_name),
  );
  const missing = [...layout.fields, ...BOOKKEEPING].filter((c) => !existing.has(c.name));
  for (const c of missing) await pool.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${col(c)}`);
  return missing.map((c) => c.name);
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
