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
