import type pg from 'pg';
import { quoteIdent } from './migrate.ts';
import type { Db } from './pool.ts';

export interface IndexEntry {
  hash: string;
  deleted: boolean;
}

export interface IndexWrite {
  id: string;
  hash: string;
  deleted: boolean;
  changedAt: string | null;
  value: Record<string, unknown>;
}

export interface IndexedRecord {
  id: string;
  hash: string;
  /** When this version was read from Kombo (Postgres clock): it orders versions downstream. */
  readAt: Date;
  value: Record<string, unknown>;
}

/** A full fetch as the sweep sees it: its generation and when it began (Postgres clock). */
export interface Generation {
  integrationId: string;
  endpoint: string;
  generation: string;
  startedAt: Date;
}

/** Rows per round trip when scanning: bounded memory whatever the endpoint's size. */
const BATCH = 500;

/**
 * The record index, and the only code that reads or writes its table. Per key: the hash of the last
 * emitted content (invariant 5), that version's value and read time, and the newest full-fetch
 * generation that saw the key. Its rules:
 * - version order: a version overwrites the entry only if it was read at the same time or later
 *   (read times come from Postgres's clock, per page);
 * - generation order: a key's generation only moves forward (GREATEST), so an older full fetch can
 *   never take back what a newer one saw;
 * - a sweep of generation g judges only keys last seen by an older generation (or none) and last
 *   read before g began: what a delta read meanwhile was not g's to see.
 */
export class RecordIndex {
  readonly #pool: pg.Pool;
  readonly #t: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.record_index`;
  }

  async lookup(integrationId: string, endpoint: string, ids: readonly string[]): Promise<Map<string, IndexEntry>> {
    const r = await this.#pool.query<{ id: string; content_hash: string; deleted: boolean }>(
      `SELECT id, content_hash, deleted FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`,
      [integrationId, endpoint, ids],
    );
    return new Map(r.rows.map((x) => [x.id, { hash: x.content_hash, deleted: x.deleted }]));
  }

  /** The last values of these records (for change events' `before`). */
  async lastValues(
    integrationId: string,
    endpoint: string,
    ids: readonly string[],
  ): Promise<Map<string, { value: Record<string, unknown>; deleted: boolean }>> {
    if (ids.length === 0) return new Map();
    const r = await this.#pool.query<{ id: string; last_value: Record<string, unknown>; deleted: boolean }>(
      `SELECT id, last_value, deleted FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`,
      [integrationId, endpoint, ids],
    );
    return new Map(r.rows.map((x) => [x.id, { value: x.last_value, deleted: x.deleted }]));
  }

  /** Records versions Kafka acknowledged, read at `readAt`, by a full fetch of `generation` (or a delta: null). */
  async write(
    integrationId: string,
    endpoint: string,
    rows: readonly IndexWrite[],
    readAt: Date,
    generation: string | null,
  ): Promise<void> {
    if (rows.length === 0) return;
    const t = this.#t;
    const later = `${t}.fetched_at <= EXCLUDED.fetched_at`;
    const pick = (c: string) => `${c} = CASE WHEN ${later} THEN EXCLUDED.${c} ELSE ${t}.${c} END`;
    await this.#pool.query(
      `INSERT INTO ${t} (integration_id, endpoint, id, content_hash, deleted, changed_at, fetched_at, last_seen_generation, last_value)
       SELECT $1, $2, u.id, u.hash, u.deleted, u.changed_at, $3, $4, u.value
       FROM unnest($5::text[], $6::text[], $7::boolean[], $8::timestamptz[], $9::jsonb[]) AS u(id, hash, deleted, changed_at, value)
       ON CONFLICT (integration_id, endpoint, id) DO UPDATE SET
         ${['content_hash', 'deleted', 'changed_at', 'last_value', 'fetched_at'].map(pick).join(', ')},
         last_seen_generation = GREATEST(${t}.last_seen_generation, EXCLUDED.last_seen_generation)`,
      [
        integrationId,
        endpoint,
        readAt,
        generation,
        rows.map((r) => r.id),
        rows.map((r) => r.hash),
        rows.map((r) => r.deleted),
        rows.map((r) => r.changedAt),
        rows.map((r) => JSON.stringify(r.value)),
      ],
    );
  }

  /** Unchanged keys a full fetch of `generation` saw. */
  async markSeen(integrationId: string, endpoint: string, ids: readonly string[], generation: string): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query(
      `UPDATE ${this.#t} SET last_seen_generation = GREATEST(last_seen_generation, $4::bigint)
       WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`,
      [integrationId, endpoint, ids, generation],
    );
  }

  async countLive(integrationId: string, endpoint: string): Promise<number> {
    const r = await this.#pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2 AND NOT deleted`,
      [integrationId, endpoint],
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Live and deleted keys per integration and endpoint (status). */
  async counts(
    integrationId?: string,
  ): Promise<{ integration_id: string; endpoint: string; live: number; deleted: number }[]> {
    const where = integrationId === undefined ? '' : 'WHERE integration_id = $1';
    return (
      await this.#pool.query(
        `SELECT integration_id, endpoint, count(*) FILTER (WHERE NOT deleted)::int AS live, count(*) FILTER (WHERE deleted)::int AS deleted
         FROM ${this.#t} ${where} GROUP BY 1, 2`,
        integrationId === undefined ? [] : [integrationId],
      )
    ).rows;
  }

  static readonly #unseen =
    `AND (last_seen_generation IS NULL OR last_seen_generation < $3::bigint) AND fetched_at < $4`;

  /** Ids of live keys that generation `g` did not see, in batches (the guard's count and digest). */
  unseenIds(g: Generation, db: Db = this.#pool): AsyncGenerator<string[]> {
    return this.#scan(db, 'id', `NOT deleted ${RecordIndex.#unseen}`, [g.generation, g.startedAt], g, (r) => r.id);
  }

  /** The live keys that generation `g` did not see, with their last values, in batches. */
  unseen(g: Generation, db: Db = this.#pool): AsyncGenerator<IndexedRecord[]> {
    return this.#scan(db, '*', `NOT deleted ${RecordIndex.#unseen}`, [g.generation, g.startedAt], g, toRecord);
  }

  /** Deleted keys that generation `g` did not see: upstream has purged them; nothing to emit. */
  async forgetUnseenDeleted(g: Generation): Promise<void> {
    await this.#pool.query(
      `DELETE FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2 AND deleted ${RecordIndex.#unseen}`,
      [g.integrationId, g.endpoint, g.generation, g.startedAt],
    );
  }

  /** Live keys read before `readBefore`, with their last values, in batches (sink healing). */
  live(target: { integrationId: string; endpoint: string }, readBefore: Date): AsyncGenerator<IndexedRecord[]> {
    return this.#scan(this.#pool, '*', 'NOT deleted AND fetched_at < $3', [readBefore], target, toRecord);
  }

  /** Every key, deleted or not, in batches (offboarding). */
  all(target: { integrationId: string; endpoint: string }): AsyncGenerator<IndexedRecord[]> {
    return this.#scan(this.#pool, '*', 'true', [], target, toRecord);
  }

  async remove(integrationId: string, endpoint: string, ids: readonly string[], db: Db = this.#pool): Promise<void> {
    if (ids.length === 0) return;
    await db.query(`DELETE FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`, [
      integrationId,
      endpoint,
      ids,
    ]);
  }

  /**
   * Keyset pagination by id: each batch is one query of at most BATCH rows, so a scan of a million
   * keys holds one batch at a time. Extra parameters start at $3; the last id is the final one.
   */
  async *#scan<T>(
    db: Db,
    columns: string,
    where: string,
    extra: readonly unknown[],
    target: { integrationId: string; endpoint: string },
    map: (row: Row) => T,
  ): AsyncGenerator<T[]> {
    let after = '';
    const last = `$${3 + extra.length}`;
    for (;;) {
      const { rows } = await db.query<Row>(
        `SELECT ${columns} FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2 AND ${where} AND id > ${last}
         ORDER BY id LIMIT ${BATCH}`,
        [target.integrationId, target.endpoint, ...extra, after],
      );
      if (rows.length === 0) return;
      yield rows.map(map);
      if (rows.length < BATCH) return;
      after = (rows.at(-1) as Row).id;
    }
  }
}

interface Row {
  id: string;
  content_hash: string;
  fetched_at: Date;
  last_value: Record<string, unknown>;
}

const toRecord = (r: Row): IndexedRecord => ({
  id: r.id,
  hash: r.content_hash,
  readAt: r.fetched_at,
  value: r.last_value,
});
