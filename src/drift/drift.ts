import { randomUUID } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import type { FetchContext, FetchRun } from '../fetcher/fetch.ts';
import type { Registry } from '../observability/metrics.ts';
import type { StateStore } from '../state/store.ts';
import { healSink } from './heal.ts';
import { sweep } from './sweep.ts';

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
  outcome: 'clean' | 'corrected' | 'blocked';
}

export class DriftMetrics {
  readonly records: Counter;
  readonly openAlerts: Gauge;
  constructor(registry: Registry, store: StateStore) {
    this.records = new Counter({
      name: 'kombo_stream_drift_records_total',
      help: 'Drift corrections: reemitted (changed, found by a full fetch), deleted (vanished), healed (sink rows), blocked (by the mass-delete guard)',
      // Per endpoint only: an integration label would make one series per customer and endpoint.
      // Per-integration counts are in the drift report (drift_runs).
      labelNames: ['endpoint', 'action'],
      registers: [registry],
    });
    this.openAlerts = new Gauge({
      name: 'kombo_stream_drift_alerts_open',
      help: 'Sweeps blocked by the mass-delete guard, awaiting confirmation',
      registers: [registry],
      async collect() {
        const r = await store.pool
          .query(`SELECT count(*) AS n FROM ${store.schema}.drift_alerts WHERE status = 'open'`)
          .catch(() => undefined);
        if (r) this.set(Number(r.rows[0].n));
      },
    });
  }
}

/**
 * What follows every full fetch that read all its pages: the sweep of vanished records, the sink
 * check, and the run's drift report (kept in Postgres, shown by the admin API and the CLI).
 */
export async function afterFullFetch(ctx: FetchContext, metrics: DriftMetrics, run: FetchRun): Promise<DriftReportRow> {
  if (!run.generation) throw new Error('a drift pass needs a full fetch generation');
  const swept = await sweep(ctx, {
    integrationId: run.integrationId,
    endpoint: run.endpoint,
    generation: run.generation,
    runStartedAt: run.startedAt,
  });
  const healed = await healSink(ctx, run.integrationId, run.endpoint);
  const labels = { endpoint: run.endpoint };
  metrics.records.inc({ ...labels, action: 'reemitted' }, run.emitted);
  metrics.records.inc({ ...labels, action: 'deleted' }, swept.deleted);
  metrics.records.inc({ ...labels, action: 'healed' }, healed);
  metrics.records.inc({ ...labels, action: 'blocked' }, swept.blocked);
  const outcome = swept.blocked ? 'blocked' : run.emitted + swept.deleted + healed > 0 ? 'corrected' : 'clean';
  const row = (
    await ctx.store.pool.query<DriftReportRow>(
      `INSERT INTO ${ctx.store.schema}.drift_runs (run_id, integration_id, endpoint, started_at, fetched, reemitted, deleted, blocked, healed, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [
        run.runId ?? randomUUID(),
        run.integrationId,
        run.endpoint,
        run.startedAt,
        run.emitted + run.unchanged,
        run.emitted,
        swept.deleted,
        swept.blocked,
        healed,
        outcome,
      ],
    )
  ).rows[0] as DriftReportRow;
  ctx.logger.info(
    { drift: { ...labels, outcome, reemitted: run.emitted, deleted: swept.deleted, healed, blocked: swept.blocked } },
    'drift pass finished',
  );
  return row;
}

/** The latest drift reports, newest first. */
export async function driftReport(
  store: StateStore,
  opts: { integrationId?: string; limit?: number } = {},
): Promise<DriftReportRow[]> {
  const where = opts.integrationId ? 'WHERE integration_id = $2' : '';
  return (
    await store.pool.query<DriftReportRow>(
      `SELECT * FROM ${store.schema}.drift_runs ${where} ORDER BY finished_at DESC LIMIT $1`,
      opts.integrationId ? [opts.limit ?? 100, opts.integrationId] : [opts.limit ?? 100],
    )
  ).rows;
}

export async function openAlerts(store: StateStore): Promise<Record<string, unknown>[]> {
  return (await store.pool.query(`SELECT * FROM ${store.schema}.drift_alerts WHERE status = 'open' ORDER BY raised_at`))
    .rows;
}
