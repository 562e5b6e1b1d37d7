import type pg from 'pg';
import { quoteIdent } from './migrate.ts';
import { inTransaction } from './pool.ts';

export interface IntegrationRow {
  integration_id: string;
  tool: string | null;
  category: string | null;
  paused: boolean;
  webhooks_seen_at: Date | null;
  created_at: Date;
  deleted_at: Date | null;
}

export interface EndpointStateRow {
  integration_id: string;
  endpoint: string;
  watermark: Date | null;
  last_fetch_started_at: Date | null;
  last_fetch_finished_at: Date | null;
  last_full_finished_at: Date | null;
  last_full_started_at: Date | null;
  last_delta_finished_at: Date | null;
  watermark_set_at: Date | null;
  dead_letters: number;
  rejected_records: number;
  last_rejected_code: string | null;
  last_rejected_at: Date | null;
  status: 'idle' | 'running' | 'ok' | 'retrying' | 'failed';
  last_error: string | null;
  last_error_code: string | null;
  consecutive_failures: number;
  updated_at: Date;
}

/** Shared reads and writes of the core state tables; parts with their own tables keep their own SQL. */
export interface IntegrationUpdate {
  integration_id: string;
  tool?: string | undefined;
  category?: string | undefined;
  webhook?: boolean | undefined;
  deleted?: boolean | undefined;
}

export class StateStore {
  readonly pool: pg.Pool;
  /** Quoted, for SQL. */
  readonly schema: string;
  /** As configured, for the other state modules' constructors. */
  readonly stateSchema: string;

  constructor(pool: pg.Pool, schema: string) {
    this.pool = pool;
    this.schema = quoteIdent(schema);
    this.stateSchema = schema;
  }

  async upsertIntegration(i: {
    integration_id: string;
    tool?: string | null;
    category?: string | null;
  }): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.integrations (integration_id, tool, category) VALUES ($1, $2, $3)
       ON CONFLICT (integration_id) DO UPDATE SET
         tool = COALESCE(EXCLUDED.tool, integrations.tool),
         category = COALESCE(EXCLUDED.category, integrations.category),
         deleted_at = NULL`,
      [i.integration_id, i.tool ?? null, i.category ?? null],
    );
  }

  /** Records what an event told us about an integration (existence, tool, webhooks, deletion). */
  async applyIntegrationUpdate(u: IntegrationUpdate): Promise<void> {
    await this.applyIntegrationUpdates([u]);
  }

  /** Applies updates in order, in one transaction: one commit for a whole batch of webhooks. */
  async applyIntegrationUpdates(updates: readonly IntegrationUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await inTransaction(this.pool, async (client) => {
      for (const u of updates) {
        await client.query(
          `INSERT INTO ${this.schema}.integrations (integration_id, tool, category, webhooks_seen_at, deleted_at)
           VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END, CASE WHEN $5 THEN now() END)
           ON CONFLICT (integration_id) DO UPDATE SET
             tool = COALESCE(EXCLUDED.tool, integrations.tool),
             category = COALESCE(EXCLUDED.category, integrations.category),
             webhooks_seen_at = COALESCE(EXCLUDED.webhooks_seen_at, integrations.webhooks_seen_at),
             deleted_at = CASE WHEN $5 THEN now() WHEN $6 THEN NULL ELSE integrations.deleted_at END`,
          [
            u.integration_id,
            u.tool ?? null,
            u.category ?? null,
            u.webhook ?? false,
            u.deleted ?? false,
            u.deleted === false,
          ],
        );
      }
    });
  }

  async listIntegrations(): Promise<IntegrationRow[]> {
    return (await this.pool.query<IntegrationRow>(`SELECT * FROM ${this.schema}.integrations ORDER BY integration_id`))
      .rows;
  }

  async getIntegration(id: string): Promise<IntegrationRow | undefined> {
    return (
      await this.pool.query<IntegrationRow>(`SELECT * FROM ${this.schema}.integrations WHERE integration_id = $1`, [id])
    ).rows[0];
  }

  async setPaused(id: string, paused: boolean): Promise<boolean> {
    const r = await this.pool.query(`UPDATE ${this.schema}.integrations SET paused = $2 WHERE integration_id = $1`, [
      id,
      paused,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async endpointStates(integrationId?: string): Promise<EndpointStateRow[]> {
    const where = integrationId === undefined ? '' : 'WHERE integration_id = $1';
    return (
      await this.pool.query<EndpointStateRow>(
        `SELECT * FROM ${this.schema}.endpoint_state ${where} ORDER BY integration_id, endpoint`,
        integrationId === undefined ? [] : [integrationId],
      )
    ).rows;
  }

  /** Of the given endpoints, those that have a watermark, as `integration_id + '\0' + endpoint`. */
  async withWatermark(endpoints: readonly { integration_id: string; endpoint: string }[]): Promise<Set<string>> {
    if (endpoints.length === 0) return new Set();
    const r = await this.pool.query<{ integration_id: string; endpoint: string }>(
      `SELECT s.integration_id, s.endpoint
       FROM ${this.schema}.endpoint_state s JOIN unnest($1::text[], $2::text[]) AS e(integration_id, endpoint)
         ON s.integration_id = e.integration_id AND s.endpoint = e.endpoint
       WHERE s.watermark IS NOT NULL`,
      [endpoints.map((e) => e.integration_id), endpoints.map((e) => e.endpoint)],
    );
    return new Set(r.rows.map((x) => `${x.integration_id}\0${x.endpoint}`));
  }

  /** Sets (or clears, with null) an endpoint's watermark, e.g. to re-fetch from an earlier time. */
  async setWatermark(integrationId: string, endpoint: string, watermark: Date | null): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.endpoint_state (integration_id, endpoint, watermark) VALUES ($1, $2, $3)
       ON CONFLICT (integration_id, endpoint) DO UPDATE SET watermark = EXCLUDED.watermark, watermark_set_at = now(), updated_at = now()`,
      [integrationId, endpoint, watermark],
    );
  }

  async endpointState(integrationId: string, endpoint: string): Promise<EndpointStateRow | undefined> {
    return (
      await this.pool.query<EndpointStateRow>(
        `SELECT * FROM ${this.schema}.endpoint_state WHERE integration_id = $1 AND endpoint = $2`,
        [integrationId, endpoint],
      )
    ).rows[0];
  }

  async fetchStarted(integrationId: string, endpoint: string, startedAt: Date, full: boolean): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.endpoint_state (integration_id, endpoint, status, last_fetch_started_at, last_full_started_at)
       VALUES ($1, $2, 'running', $3, CASE WHEN $4 THEN $3::timestamptz END)
       ON CONFLICT (integration_id, endpoint) DO UPDATE SET status = 'running', last_fetch_started_at = $3,
         last_full_started_at = CASE WHEN $4 THEN $3::timestamptz ELSE endpoint_state.last_full_started_at END, updated_at = now()`,
      [integrationId, endpoint, startedAt, full],
    );
  }

  /**
   * A fetch finished completely: the watermark becomes its start time (invariant 2), unless a later
   * fetch already moved it further or an operator set it after this fetch started.
   */
  async fetchFinished(integrationId: string, endpoint: string, startedAt: Date, full: boolean): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.endpoint_state SET
         watermark = CASE WHEN watermark_set_at > $3 THEN watermark ELSE GREATEST(COALESCE(watermark, $3), $3) END,
         last_fetch_finished_at = now(),
         last_full_finished_at = CASE WHEN $4 THEN now() ELSE last_full_finished_at END,
         last_delta_finished_at = CASE WHEN $4 THEN last_delta_finished_at ELSE now() END,
         status = 'ok', last_error = NULL, last_error_code = NULL, consecutive_failures = 0, updated_at = now()
       WHERE integration_id = $1 AND endpoint = $2`,
      [integrationId, endpoint, startedAt, full],
    );
  }

  async fetchFailed(
    integrationId: string,
    endpoint: string,
    err: { code: string; message: string },
    final: boolean,
  ): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.endpoint_state (integration_id, endpoint, status, last_error, last_error_code, consecutive_failures)
       VALUES ($1, $2, $3, $4, $5, 1)
       ON CONFLICT (integration_id, endpoint) DO UPDATE SET status = $3, last_error = $4, last_error_code = $5,
         consecutive_failures = endpoint_state.consecutive_failures + 1,
         dead_letters = endpoint_state.dead_letters + CASE WHEN $3 = 'failed' THEN 1 ELSE 0 END, updated_at = now()`,
      [integrationId, endpoint, final ? 'failed' : 'retrying', err.message.slice(0, 2_000), err.code],
    );
  }

  /** Records of a fetch that were dead-lettered (the fetch went on): counted and shown, not a failure. */
  async recordsRejected(integrationId: string, endpoint: string, count: number, code: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.schema}.endpoint_state SET rejected_records = rejected_records + $3, last_rejected_code = $4,
         last_rejected_at = now(), updated_at = now()
       WHERE integration_id = $1 AND endpoint = $2`,
      [integrationId, endpoint, count, code],
    );
  }

  /** Offboarding: the endpoint's state is forgotten. */
  async forgetEndpoint(integrationId: string, endpoint: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.schema}.endpoint_state WHERE integration_id = $1 AND endpoint = $2`, [
      integrationId,
      endpoint,
    ]);
  }
}
