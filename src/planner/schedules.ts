import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';
import type { Db } from '../state/pool.ts';

export interface ScheduleKey {
  integration_id: string;
  endpoint: string;
  kind: 'delta' | 'full';
}

/**
 * The schedules (per integration, endpoint and kind: when the scheduler next enqueues a fetch), and
 * the only code that reads or writes their table. Due rows are claimed with FOR UPDATE SKIP LOCKED
 * inside the caller's transaction, so several planners never enqueue the same row twice.
 */
export class Schedules {
  readonly #pool: pg.Pool;
  readonly #t: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.schedules`;
  }

  /** Creates the missing rows of these integrations' endpoints, first due at the given times. */
  async ensure(
    integrations: readonly { integration_id: string; endpoints: readonly string[] }[],
    next: { delta: Date; full: Date },
  ): Promise<void> {
    const pairs = integrations.flatMap((i) => i.endpoints.map((e) => [i.integration_id, e] as const));
    if (pairs.length === 0) return;
    await this.#pool.query(
      `INSERT INTO ${this.#t} (integration_id, endpoint, kind, next_due_at)
       SELECT p.integration_id, p.endpoint, k, CASE k WHEN 'delta' THEN $3::timestamptz ELSE $4::timestamptz END
       FROM unnest($1::text[], $2::text[]) AS p(integration_id, endpoint) CROSS JOIN unnest(ARRAY['delta', 'full']) k
       ON CONFLICT DO NOTHING`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1]), next.delta, next.full],
    );
  }

  /** Due rows of the given integrations (fulls of `full`, deltas of `delta`), locked for this transaction. */
  async claimDue(
    client: pg.PoolClient,
    now: Date,
    eligible: { full: readonly string[]; delta: readonly string[] },
    endpoints: readonly string[],
  ): Promise<ScheduleKey[]> {
    return (
      await client.query<ScheduleKey>(
        `SELECT integration_id, endpoint, kind FROM ${this.#t}
         WHERE next_due_at <= $1 AND endpoint = ANY($2::text[])
           AND ((kind = 'full' AND integration_id = ANY($3::text[])) OR (kind = 'delta' AND integration_id = ANY($4::text[])))
         ORDER BY next_due_at LIMIT 1000
         FOR UPDATE SKIP LOCKED`,
        [now, endpoints, eligible.full, eligible.delta],
      )
    ).rows;
  }

  /** Moves enqueued rows to their next due time. */
  async enqueued(client: Db, rows: readonly ScheduleKey[], now: Date, next: { delta: Date; full: Date }) {
    await client.query(
      `UPDATE ${this.#t} sc SET last_enqueued_at = $1,
         next_due_at = CASE sc.kind WHEN 'delta' THEN $2::timestamptz ELSE $3::timestamptz END
       FROM unnest($4::text[], $5::text[], $6::text[]) AS d(integration_id, endpoint, kind)
       WHERE sc.integration_id = d.integration_id AND sc.endpoint = d.endpoint AND sc.kind = d.kind`,
      [
        now,
        next.delta,
        next.full,
        rows.map((r) => r.integration_id),
        rows.map((r) => r.endpoint),
        rows.map((r) => r.kind),
      ],
    );
  }

  /** A manual full sync: the next scheduled full sync of these endpoints moves to now plus the period. */
  async deferFull(integrationId: string, endpoints: readonly string[], periodMs: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t} (integration_id, endpoint, kind, next_due_at, last_enqueued_at)
       SELECT $1, e, 'full', now() + make_interval(secs => $3::double precision / 1000), now() FROM unnest($2::text[]) e
       ON CONFLICT (integration_id, endpoint, kind) DO UPDATE SET next_due_at = EXCLUDED.next_due_at, last_enqueued_at = now()`,
      [integrationId, endpoints, periodMs],
    );
  }

  /** Offboarding: the endpoint's schedules are forgotten. */
  async forget(integrationId: string, endpoint: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#t} WHERE integration_id = $1 AND endpoint = $2`, [
      integrationId,
      endpoint,
    ]);
  }
}
