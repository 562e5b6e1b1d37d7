import pg from 'pg';
import type { Logger } from '../observability/log.ts';

/**
 * A Postgres pool whose clients never crash the process: pg emits 'error' on a client whose
 * connection dies (a database restart, a failover), and an 'error' event without a listener is fatal
 * in Node. Queries in flight still fail and are retried by their callers.
 */
export function createPool(connectionString: string, opts: { max?: number; logger?: Logger } = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: opts.max ?? 10 });
  const warn = (err: Error) => opts.logger?.warn({ err: { message: err.message } }, 'Postgres connection lost');
  pool.on('error', warn);
  pool.on('connect', (client) => client.on('error', warn));
  return pool;
}

/** Anything that runs a query: the pool, or one client (inside a transaction). */
export type Db = pg.Pool | pg.PoolClient;

/** Runs `fn` in one transaction on one pooled client: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
