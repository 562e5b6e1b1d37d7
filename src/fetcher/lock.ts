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
): Promise<T | 'locked'> {
  const c = await pool.connect();
  try {
    const got = (
      await c.query('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', [
        'kombo-stream.fetch',
        integrationId,
      ])
    ).rows[0].ok;
    if (!got) return 'locked';
    try {
      return await fn();
    } finally {
      await c.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', ['kombo-stream.fetch', integrationId]);
    }
  } finally {
    c.release();
  }
}
