import type pg from 'pg';

/**
 * Cross-process exclusion: one fetch (or drift pass, or purge) per integration at a time, even while
 * a consumer-group rebalance briefly gives two processes the same tasks. A session advisory lock on a
 * dedicated connection, released when the work ends (or the connection dies with its process).
 */
export async function withIntegrationLock<T>(
  pool: pg.Pool,
  integrationId: string,
  fn: () => Promise<T>,
  opts: { waitMs?: number } = {},
): Promise<T | 'locked'> {
  const c = await pool.connect();
  const key = ['kombo-stream.fetch', integrationId];
  try {
    let got: boolean;
    if (opts.waitMs) {
      // Queued behind the holder: Postgres hands the lock to a waiter as it is released, so a caller
      // that waits (a drift run) gets its turn between a busy fetcher's tasks, which only try.
      await c.query(`SET lock_timeout = ${Math.max(1, Math.round(opts.waitMs))}`);
      got = await c.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', key).then(
        () => true,
        (err: { code?: string }) => {
          if (err.code === '55P03') return false;
          throw err;
        },
      );
      await c.query('RESET lock_timeout');
    } else got = (await c.query('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', key)).rows[0].ok;
    if (!got) return 'locked';
    try {
      return await fn();
    } finally {
      await c.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', key);
    }
  } finally {
    c.release();
  }
}
