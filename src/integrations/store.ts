import type pg from 'pg';
import type { EndpointName } from '../kombo/endpoints.ts';
import { quoteIdent } from '../state/migrate.ts';
import { inTransaction } from '../state/pool.ts';

export type HoldKind = 'setup_pending' | 'attention';

export interface Hold {
  kind: HoldKind;
  /** Kombo's error code for it (INTEGRATION.SETUP_SYNC_PENDING, INTEGRATION.INACTIVE, ...). */
  code: string;
  message: string;
}

export interface LifecycleRow {
  integration_id: string;
  kombo_status: string | null;
  setup_status: string | null;
  qa_status: string | null;
  data_expired_at: Date | null;
  read_models: { id: string; is_available: boolean }[] | null;
  unavailable: Partial<Record<EndpointName, string>>;
  hold: HoldKind | null;
  hold_code: string | null;
  hold_message: string | null;
  held_at: Date | null;
  refreshed_at: Date | null;
  refresh_due_at: Date;
  refresh_failures: number;
  last_refresh_error: string | null;
}

/** What a refresh learnt, to be stored in one go. */
export interface Observed {
  kombo_status: string;
  setup_status: string;
  data_expired_at: string | null;
  read_models: { id: string; is_available: boolean }[];
  unavailable: Partial<Record<EndpointName, string>>;
  hold: Hold | null;
}

/**
 * The integration lifecycle table, and the only code that reads or writes it. Its rules: a hold
 * records why (Kombo's code) and since when, and holding again does not move that time; a release
 * says whether there was a hold, so exactly one caller queues the catch-up that makes up for the
 * tasks skipped meanwhile; refreshes are claimed with SKIP LOCKED, so several planners never read
 * the same integration at once; times are Postgres's.
 */
export class LifecycleStore {
  readonly #pool: pg.Pool;
  readonly #t: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.integration_lifecycle`;
  }

  async get(integrationId: string): Promise<LifecycleRow | undefined> {
    return (await this.#pool.query<LifecycleRow>(`SELECT * FROM ${this.#t} WHERE integration_id = $1`, [integrationId]))
      .rows[0];
  }

  async list(): Promise<LifecycleRow[]> {
    return (await this.#pool.query<LifecycleRow>(`SELECT * FROM ${this.#t} ORDER BY integration_id`)).rows;
  }

  /** Known integrations are read from Kombo soon (a new one, or one a lifecycle webhook named). */
  async requestRefresh(integrationIds: readonly string[]): Promise<void> {
    if (integrationIds.length === 0) return;
    await this.#pool.query(
      `INSERT INTO ${this.#t} (integration_id) SELECT unnest($1::text[])
       ON CONFLICT (integration_id) DO UPDATE SET refresh_due_at = LEAST(${this.#t}.refresh_due_at, now())`,
      [integrationIds],
    );
  }

  /**
   * An integration-state-changed webhook: its QA status (which only webhooks carry) is kept, and the
   * integration is read from Kombo soon, which decides holds and releases.
   */
  async stateChanged(integrationId: string, qaStatus: string | undefined): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t} AS l (integration_id, qa_status) VALUES ($1, $2)
       ON CONFLICT (integration_id) DO UPDATE SET qa_status = COALESCE(EXCLUDED.qa_status, l.qa_status),
         refresh_due_at = LEAST(l.refresh_due_at, now())`,
      [integrationId, qaStatus ?? null],
    );
  }

  /**
   * Up to `limit` integrations whose refresh is due, leased for `leaseMs` (a planner that dies
   * mid-refresh leaves them to be claimed again then).
   */
  async claimDue(limit: number, leaseMs: number): Promise<string[]> {
    const r = await this.#pool.query<{ integration_id: string }>(
      `UPDATE ${this.#t} SET refresh_due_at = now() + make_interval(secs => $2::double precision / 1000)
       WHERE integration_id IN (
         SELECT integration_id FROM ${this.#t} WHERE refresh_due_at <= now()
         ORDER BY refresh_due_at FOR UPDATE SKIP LOCKED LIMIT $1)
       RETURNING integration_id`,
      [limit, leaseMs],
    );
    return r.rows.map((x) => x.integration_id);
  }

  /**
   * Stores what Kombo said, and the hold it implies, in one transaction; returns the row as it was
   * before, from which the caller sees what changed (released, data no longer expired, endpoints
   * back). The next refresh is due after `nextInMs`.
   */
  async observe(integrationId: string, o: Observed, nextInMs: number): Promise<LifecycleRow | undefined> {
    return inTransaction(this.#pool, async (c) => {
      const before = (
        await c.query<LifecycleRow>(`SELECT * FROM ${this.#t} WHERE integration_id = $1 FOR UPDATE`, [integrationId])
      ).rows[0];
      await c.query(
        `INSERT INTO ${this.#t} AS l (integration_id, kombo_status, setup_status, data_expired_at, read_models,
           unavailable, hold, hold_code, hold_message, held_at, refreshed_at, refresh_due_at, refresh_failures,
           last_refresh_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $7::text IS NOT NULL THEN now() END, now(),
           now() + make_interval(secs => $10::double precision / 1000), 0, NULL)
         ON CONFLICT (integration_id) DO UPDATE SET kombo_status = EXCLUDED.kombo_status,
           setup_status = EXCLUDED.setup_status, data_expired_at = EXCLUDED.data_expired_at,
           read_models = EXCLUDED.read_models, unavailable = EXCLUDED.unavailable, hold = EXCLUDED.hold,
           hold_code = EXCLUDED.hold_code, hold_message = EXCLUDED.hold_message,
           held_at = CASE WHEN EXCLUDED.hold IS NULL THEN NULL
                          WHEN l.hold_code IS NOT DISTINCT FROM EXCLUDED.hold_code THEN l.held_at ELSE now() END,
           refreshed_at = now(), refresh_due_at = EXCLUDED.refresh_due_at, refresh_failures = 0,
           last_refresh_error = NULL`,
        [
          integrationId,
          o.kombo_status,
          o.setup_status,
          o.data_expired_at,
          JSON.stringify(o.read_models),
          JSON.stringify(o.unavailable),
          o.hold?.kind ?? null,
          o.hold?.code ?? null,
          o.hold?.message ?? null,
          nextInMs,
        ],
      );
      return before;
    });
  }

  /** A refresh failed (Kombo unreachable, say): tried again after `retryInMs`. */
  async refreshFailed(integrationId: string, error: string, retryInMs: number): Promise<void> {
    await this.#pool.query(
      `UPDATE ${this.#t} SET refresh_failures = refresh_failures + 1, last_refresh_error = $2,
         refresh_due_at = now() + make_interval(secs => $3::double precision / 1000)
       WHERE integration_id = $1`,
      [integrationId, error.slice(0, 500), retryInMs],
    );
  }

  /**
   * A fetch found the integration unreadable: held, and read again from Kombo after `recheckInMs`.
   * True when it was not held for this reason before.
   */
  async hold(integrationId: string, h: Hold, recheckInMs: number): Promise<boolean> {
    const r = await this.#pool.query<{ fresh: boolean }>(
      `INSERT INTO ${this.#t} AS l (integration_id, hold, hold_code, hold_message, held_at, refresh_due_at)
       VALUES ($1, $2, $3, $4, now(), now() + make_interval(secs => $5::double precision / 1000))
       ON CONFLICT (integration_id) DO UPDATE SET hold = EXCLUDED.hold, hold_code = EXCLUDED.hold_code,
         hold_message = EXCLUDED.hold_message,
         held_at = CASE WHEN l.hold_code IS NOT DISTINCT FROM EXCLUDED.hold_code THEN l.held_at ELSE now() END,
         refresh_due_at = LEAST(l.refresh_due_at, EXCLUDED.refresh_due_at)
       RETURNING (xmax = 0 OR held_at = now()) AS fresh`,
      [integrationId, h.kind, h.code, h.message.slice(0, 500), recheckInMs],
    );
    return r.rows[0]?.fresh ?? false;
  }

  /** Of these integrations, those parked for their first sync are released; returns them. */
  async releaseParked(integrationIds: readonly string[]): Promise<string[]> {
    if (integrationIds.length === 0) return [];
    const r = await this.#pool.query<{ integration_id: string }>(
      `UPDATE ${this.#t} SET hold = NULL, hold_code = NULL, hold_message = NULL, held_at = NULL
       WHERE integration_id = ANY($1) AND hold = 'setup_pending' RETURNING integration_id`,
      [integrationIds],
    );
    return r.rows.map((x) => x.integration_id);
  }

  /** A fetch was told the endpoint's model is not there (MODEL_NOT_AVAILABLE, MODEL_DISABLED). */
  async markUnavailable(integrationId: string, endpoint: EndpointName, code: string): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#t} AS l (integration_id, unavailable) VALUES ($1, jsonb_build_object($2::text, $3::text))
       ON CONFLICT (integration_id) DO UPDATE SET unavailable = l.unavailable || EXCLUDED.unavailable`,
      [integrationId, endpoint, code],
    );
  }

  /** Offboarding: nothing more is read about the integration. */
  async forget(integrationId: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#t} WHERE integration_id = $1`, [integrationId]);
  }

  /** Integrations per hold (null: not held), for the metric. */
  async holdCounts(): Promise<Map<HoldKind | null, number>> {
    const r = await this.#pool.query<{ hold: HoldKind | null; n: string }>(
      `SELECT hold, count(*) AS n FROM ${this.#t} GROUP BY hold`,
    );
    return new Map(r.rows.map((x) => [x.hold, Number(x.n)]));
  }
}
