import { Counter, Gauge } from 'prom-client';
import type { FetchRun } from '../fetcher/fetch.ts';
import type { Registry } from '../observability/metrics.ts';
import type { DriftContext } from './context.ts';
import { healSink } from './heal.ts';
import type { DriftReportRow, DriftStore } from './store.ts';
import { sweep } from './sweep.ts';

export class DriftMetrics {
  readonly records: Counter;
  readonly openAlerts: Gauge;
  constructor(registry: Registry, drift: DriftStore) {
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
        const n = await drift.countOpen().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
  }
}

/**
 * What follows every full fetch that read all its pages: the sweep of vanished records, the sink
 * check, and the run's drift report (kept in Postgres, shown by the admin API and the CLI). Each part
 * may run twice for one run (a redelivered last turn) without deleting, healing or reporting twice.
 */
export async function afterFullFetch(ctx: DriftContext, metrics: DriftMetrics, run: FetchRun): Promise<DriftReportRow> {
  if (!run.generation) throw new Error('a drift pass needs a full fetch generation');
  const swept = await sweep(ctx, {
    integrationId: run.integrationId,
    endpoint: run.endpoint,
    generation: run.generation,
    startedAt: run.startedAt,
  });
  const heal = await healSink(ctx, run.integrationId, run.endpoint);
  const labels = { endpoint: run.endpoint };
  metrics.records.inc({ ...labels, action: 'reemitted' }, run.emitted);
  metrics.records.inc({ ...labels, action: 'deleted' }, swept.deleted);
  metrics.records.inc({ ...labels, action: 'healed' }, heal.healed);
  metrics.records.inc({ ...labels, action: 'blocked' }, swept.blocked);
  const outcome = swept.blocked ? 'blocked' : run.emitted + swept.deleted + heal.healed > 0 ? 'corrected' : 'clean';
  const row = await ctx.drift.recordRun({
    run_id: run.runId,
    integration_id: run.integrationId,
    endpoint: run.endpoint,
    started_at: run.startedAt,
    fetched: String(run.emitted + run.unchanged),
    reemitted: String(run.emitted),
    deleted: String(swept.deleted),
    blocked: String(swept.blocked),
    healed: String(heal.healed),
    sink_checked: heal.checked,
    outcome,
  });
  ctx.logger.info(
    {
      drift: { ...labels, outcome, reemitted: run.emitted, deleted: swept.deleted, healed: heal.healed },
      blocked: swept.blocked,
      sinkChecked: heal.checked,
    },
    'drift pass finished',
  );
  return row;
}
