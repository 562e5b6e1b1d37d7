import type pg from 'pg';
import { StateNotReadyError } from '../errors.ts';

export interface Migration {
  /** Unique and never reused, e.g. `fetcher-001-watermarks`. */
  readonly id: string;
  /** SQL run once, inside a transaction; `{{schema}}` is replaced by the quoted state schema. */
  readonly sql: string;
}

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an allowed identifier: ${name}`);
  return `"${name}"`;
}

/**
 * Applies pending migrations in order, each once. An advisory lock serialises concurrent starts of
 * several processes against the same database.
 */
export async function migrate(pool: pg.Pool, schema: string, migrations: readonly Migration[]): Promise<string[]> {
  const q = quoteIdent(schema);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`kombo-stream.migrate.${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ id: string }>(`SELECT id FROM ${q}.schema_migrations`)).rows.map((r) => r.id),
    );
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql.replaceAll('{{schema}}', q));
        await client.query(`INSERT INTO ${q}.schema_migrations (id) VALUES ($1)`, [m.id]);
        await client.query('COMMIT');
        applied.push(m.id);
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`kombo-stream.migrate.${schema}`]).catch(() => {});
    client.release();
  }
  return applied;
}

/**
 * For commands that must not change the database (status, doctor, the operator CLIs): the state is
 * there and current, or a clear error saying what to do. Only the connector itself migrates.
 */
export async function requireState(pool: pg.Pool, schema: string, migrations: readonly Migration[]): Promise<void> {
  const q = quoteIdent(schema);
  const table = (await pool.query('SELECT to_regclass($1) AS t', [`${q}.schema_migrations`])).rows[0].t;
  if (!table)
    throw new StateNotReadyError(
      `there is no connector state in schema ${schema} yet: start the connector once (kombo-stream start), which creates it`,
    );
  const done = new Set(
    (await pool.query<{ id: string }>(`SELECT id FROM ${q}.schema_migrations`)).rows.map((r) => r.id),
  );
  const pending = migrations.filter((m) => !done.has(m.id)).map((m) => m.id);
  if (pending.length)
    throw new StateNotReadyError(
      `the connector state in schema ${schema} is older than this version (${pending.length} migrations pending): start the connector of this version once, which migrates it`,
    );
}
