import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';

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

/**
 * The record index (invariant 5): per key, the hash of the last emitted content, so overlaps and full
 * re-fetches emit only real changes. Written only after Kafka acknowledged the records it describes.
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

  async write(
    integrationId: string,
    endpoint: string,
    rows: readonly IndexWrite[],
    fetchedAt: Date,
    generation: string | null,
  ): Promise<void> {
    if (rows.length === 0) return;
    await this.#pool.query(
      `INSERT INTO ${this.#t} (integration_id, endpoint, id, content_hash, deleted, changed_at, fetched_at, last_seen_generation, last_value)
       SELECT $1, $2, u.id, u.hash, u.deleted, u.changed_at, $3, $4, u.value
       FROM unnest($5::text[], $6::text[], $7::boolean[], $8::timestamptz[], $9::jsonb[]) AS u(id, hash, deleted, changed_at, value)
       ON CONFLICT (integration_id, endpoint, id) DO UPDATE SET
         content_hash = EXCLUDED.content_hash, deleted = EXCLUDED.deleted, changed_at = EXCLUDED.changed_at,
         fetched_at = EXCLUDED.fetched_at, last_value = EXCLUDED.last_value,
         last_seen_generation = COALESCE(EXCLUDED.last_seen_generation, ${this.#t}.last_seen_generation)`,
      [
        integrationId,
        endpoint,
        fetchedAt,
        generation,
        rows.map((r) => r.id),
        rows.map((r) => r.hash),
        rows.map((r) => r.deleted),
        rows.map((r) => r.changedAt),
        rows.map((r) => JSON.stringify(r.value)),
      ],
    );
  }

  /** Marks unchanged records as seen by a full fetch (the drift sweep deletes the unseen). */
  async markSeen(integrationId: string, endpoint: string, ids: readonly string[], generation: string): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query(
      `UPDATE ${this.#t} SET last_seen_generation = $4 WHERE integration_id = $1 AND endpoint = $2 AND id = ANY($3::text[])`,
      [integrationId, endpoint, ids, generation],
    );
  }
}
