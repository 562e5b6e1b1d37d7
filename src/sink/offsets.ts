import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';

/**
 * The sink's stored positions, and the only code that reads or writes their table: per consumer
 * group, topic and partition, the next offset to write, stored in the same transaction as the rows
 * (invariant 4). Readers (sink lag, status, the drift pass's sink check) ask here.
 */
export class SinkOffsets {
  readonly #pool: pg.Pool;
  readonly #t: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.sink_offsets`;
  }

  /**
   * Inside the batch's transaction: the partition's next offset, row-locked, so two writers of one
   * partition (two processes during a rebalance) take turns.
   */
  async claim(client: pg.PoolClient, group: string, topic: string, partition: number): Promise<bigint> {
    await client.query(
      `INSERT INTO ${this.#t} (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`,
      [group, topic, partition],
    );
    const r = await client.query<{ next_offset: string }>(
      `SELECT next_offset FROM ${this.#t} WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
      [group, topic, partition],
    );
    return BigInt(r.rows[0]?.next_offset ?? 0);
  }

  async advance(client: pg.PoolClient, group: string, topic: string, partition: number, next: bigint): Promise<void> {
    await client.query(
      `UPDATE ${this.#t} SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      [group, topic, partition, next.toString()],
    );
  }

  /** Next offsets per `topic:partition` of a group (only partitions it has written). */
  async positions(group: string, topics?: readonly string[]): Promise<Map<string, bigint>> {
    const r = await this.#pool.query<{ topic: string; partition: number; next_offset: string }>(
      `SELECT topic, partition, next_offset FROM ${this.#t} WHERE group_id = $1 ${topics ? 'AND topic = ANY($2::text[])' : ''}`,
      topics ? [group, topics] : [group],
    );
    return new Map(r.rows.map((x) => [`${x.topic}:${x.partition}`, BigInt(x.next_offset)]));
  }
}
