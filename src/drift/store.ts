import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';
import type { Db } from '../state/pool.ts';

export interface DriftReportRow {
  run_id: string;
  integration_id: string;
  endpoint: string;
  started_at: Date;
  finished_at: Date;
  fetched: string;
  reemitted: string;
  deleted: string;
  blocked: string;
  healed: string;
  /** False when the sink check could not run (no sink, or the sink did not catch up in time). */
  sink_checked: boolean;
  outcome: 'clean' | 'corrected' | 'blocked';
}

export interface DriftAlert {
  integration_id: string;
  endpoint: string;
  status: 'open' | 'confirmed' | 'resolved';
  raised_at: Date;
  vanished: string;
  total: string;
  /** Digest of the ids the blocked sweep would delete: a confirmation deletes exactly these. */
  ids_hash: string;
  generation: string;
  run_started_at: Date;
}

/**
 * Drift reports and mass-delete alerts, and the only code that reads or writes their tables. An
 * alert is open until an operator confirms it (status confirmed, set in the transaction that deletes
 * its records) or a later full fetch resolves it (nothing vanished, or the same set vanished again).
 */
export class DriftStore {
  readonly #pool: pg.Pool;
  readonly #s: string;

  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#s = quoteIdent(schema);
  }

  /** Idempotent: a drift pass repeated for the same run (a redelivered last turn) keeps the first report. */
  async recordRun(r: Omit<DriftReportRow, 'finished_at'>): Promise<DriftReportRow> {
    const inserted = await this.#pool.query<DriftReportRow>(
      `INSERT INTO ${this.#s}.drift_runs (run_id, integration_id, endpoint, started_at, fetched, reemitted, deleted, blocked, healed, sink_checked, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (run_id) DO NOTHING RETURNING *`,
      [
        r.run_id,
        r.integration_id,
        r.endpoint,
        r.started_at,
        r.fetched,
        r.reemitted,
        r.deleted,
        r.blocked,
        r.healed,
        r.sink_checked,
        r.outcome,
      ],
    );
    return (
      inserted.rows[0] ??
      ((await this.#pool.query<DriftReportRow>(`SELECT * FROM ${this.#s}.drift_runs WHERE run_id = $1`, [r.run_id]))
        .rows[0] as DriftReportRow)
    );
  }

  /** The latest drift reports, newest first. */
  async reports(opts: { integrationId?: string; limit?: number } = {}): Promise<DriftReportRow[]> {
    const where = opts.integrationId ? 'WHERE integration_id = $2' : '';
    return (
      await this.#pool.query<DriftReportRow>(
        `SELECT * FROM ${this.#s}.drift_runs ${where} ORDER BY finished_at DESC LIMIT $1`,
        opts.integrationId ? [opts.limit ?? 100, opts.integrationId] : [opts.limit ?? 100],
      )
    ).rows;
  }

  async openAlerts(integrationId?: string): Promise<DriftAlert[]> {
    const where = integrationId === undefined ? '' : 'AND integration_id = $1';
    return (
      await this.#pool.query<DriftAlert>(
        `SELECT * FROM ${this.#s}.drift_alerts WHERE status = 'open' ${where} ORDER BY raised_at`,
        integrationId === undefined ? [] : [integrationId],
      )
    ).rows;
  }

  async countOpen(): Promise<number> {
    const r = await this.#pool.query(`SELECT count(*) AS n FROM ${this.#s}.drift_alerts WHERE status = 'open'`);
    return Number(r.rows[0].n);
  }

  async openAlert(integrationId: string, endpoint: string, db: Db = this.#pool): Promise<DriftAlert | undefined> {
    return (
      await db.query<DriftAlert>(
        `SELECT * FROM ${this.#s}.drift_alerts WHERE integration_id = $1 AND endpoint = $2 AND status = 'open'`,
        [integrationId, endpoint],
      )
    ).rows[0];
  }

  async raise(a: {
    integrationId: string;
    endpoint: string;
    vanished: number;
    total: number;
    idsHash: string;
    generation: string;
    runStartedAt: Date;
  }): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#s}.drift_alerts (integration_id, endpoint, status, raised_at, vanished, total, ids_hash, generation, run_started_at)
       VALUES ($1, $2, 'open', now(), $3, $4, $5, $6, $7)
       ON CONFLICT (integration_id, endpoint) DO UPDATE SET status = 'open', raised_at = now(), vanished = $3, total = $4,
         ids_hash = $5, generation = $6, run_started_at = $7, resolved_at = NULL`,
      [a.integrationId, a.endpoint, a.vanished, a.total, a.idsHash, a.generation, a.runStartedAt],
    );
  }

  /** Closes an open alert: `confirmed` by an operator, or `resolved` by a later full fetch. */
  async close(integrationId: string, endpoint: string, how: 'confirmed' | 'resolved', db: Db = this.#pool) {
    await db.query(
      `UPDATE ${this.#s}.drift_alerts SET status = $3, resolved_at = now()
       WHERE integration_id = $1 AND endpoint = $2 AND status = 'open'`,
      [integrationId, endpoint, how],
    );
  }
}
