import type { Db } from './pool.ts';

/**
 * The one clock for times compared across processes: Postgres's. A fetcher host whose own clock is
 * fast or slow must not win or lose the version order, nor move a watermark past Kombo's clock.
 * clock_timestamp(), not now(): now() is frozen at the start of an enclosing transaction.
 */
export async function dbNow(db: Db): Promise<Date> {
  return (await db.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]?.t as Date;
}
