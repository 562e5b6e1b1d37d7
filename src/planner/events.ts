import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';

/**
 * Webhook ids already planned, and the only code that reads or writes their table: a webhook that
 * Kombo delivers twice is planned once.
 */
export class PlannerEvents {
  readonly #pool: pg.Pool;
  readonly #t: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.planner_events`;
  }

  async planned(ids: readonly string[]): Promise<Set<string>> {
    const r = await this.#pool.query<{ event_id: string }>(`SELECT event_id FROM ${this.#t} WHERE event_id = ANY($1)`, [
      ids,
    ]);
    return new Set(r.rows.map((x) => x.event_id));
  }

  async record(events: readonly { id: string; type: string; integration: string | null }[]): Promise<void> {
    if (events.length === 0) return;
    await this.#pool.query(
      `INSERT INTO ${this.#t} (event_id, event_type, integration_id)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
      [events.map((f) => f.id), events.map((f) => f.type), events.map((f) => f.integration)],
    );
  }

  /** Deduplication only needs to outlive Kombo's retries of one webhook. */
  async forgetBefore(t: Date): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#t} WHERE planned_at < $1`, [t]);
  }
}
