import pg from 'pg';
import type { Config } from '../config/config.ts';
import type { PostgresTls } from '../config/tls.ts';
import type { Logger } from '../observability/log.ts';

/**
 * A Postgres pool whose clients never crash the process: pg emits 'error' on a client whose
 * connection dies (a database restart, a failover), and an 'error' event without a listener is fatal
 * in Node. Queries in flight still fail and are retried by their callers.
 */
export function createPool(
  connectionString: string,
  opts: { max?: number; logger?: Logger; tls?: PostgresTls } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withoutSslParams(connectionString, opts.tls),
    max: opts.max ?? 10,
    ...ssl(opts.tls),
  });
  const warn = (err: Error) => opts.logger?.warn({ err: { message: err.message } }, 'Postgres connection lost');
  pool.on('error', warn);
  pool.on('connect', (client) => client.on('error', warn));
  return pool;
}

/** The pool for the configured database (URL, TLS): how every command and role reaches Postgres. */
export function poolFor(config: Config, opts: { max?: number; logger?: Logger } = {}): pg.Pool {
  return createPool(config.databaseUrl, { ...opts, ...(config.postgres.tls ? { tls: config.postgres.tls } : {}) });
}

/** pg reads sslmode and friends from the URL over its options: with PG_SSL_MODE set, those rule. */
function withoutSslParams(url: string, tls: PostgresTls | undefined): string {
  if (!tls) return url;
  const u = new URL(url);
  for (const p of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl']) u.searchParams.delete(p);
  return u.toString();
}

function ssl(tls: PostgresTls | undefined): { ssl?: pg.PoolConfig['ssl'] } {
  if (!tls) return {};
  if (tls.mode === 'disable') return { ssl: false };
  if (tls.mode === 'require') return { ssl: { rejectUnauthorized: false } };
  const t = tls.tls;
  return {
    ssl: {
      rejectUnauthorized: true,
      ...(t?.ca ? { ca: t.ca } : {}),
      ...(t?.cert ? { cert: t.cert } : {}),
      ...(t?.key ? { key: t.key } : {}),
      // verify-ca: the certificate must chain to the CA; which host it names is not checked.
      ...(tls.mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    },
  };
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

/**
 * DDL of one Postgres schema, one process at a time: several processes of a role start at once, and
 * concurrent `CREATE ... IF NOT EXISTS` of one name can fail on the catalogue's unique index.
 */
export async function inSchemaDdl<T>(
  pool: pg.Pool,
  schema: string,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`kombo-stream.ddl.${schema}`]);
    return fn(c);
  });
}
