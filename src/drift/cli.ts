import { parseArgs } from 'node:util';
import type pg from 'pg';
import type { Config } from '../config/config.ts';
import { createFetchContext } from '../fetcher/context.ts';
import { executeFetch, type FetchRun } from '../fetcher/fetch.ts';
import { withIntegrationLock } from '../fetcher/lock.ts';
import { type EndpointName, isEndpointName } from '../kombo/endpoints.ts';
import { createLogger } from '../observability/log.ts';
import { createMetricsRegistry } from '../observability/metrics.ts';
import { endpointsOfCategory } from '../planner/plan.ts';
import { newTask } from '../planner/task.ts';
import { dbNow } from '../state/clock.ts';
import { requireState } from '../state/migrate.ts';
import { STATE_MIGRATIONS } from '../state/migrations.ts';
import { poolFor } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { type KafkaClient, kafkaClient } from '../topics/kafka.ts';
import { createSerde } from '../topics/serde-factory.ts';
import { topicSpecs } from '../topics/topology.ts';
import { createDriftContext } from './context.ts';
import { type DriftReportRow, DriftStore } from './store.ts';
import { confirmSweep } from './sweep.ts';

function table(rows: DriftReportRow[]): string {
  const head = [
    'finished',
    'integration',
    'endpoint',
    'fetched',
    'reemitted',
    'deleted',
    'healed',
    'blocked',
    'outcome',
  ];
  const body = rows.map((r) =>
    [
      r.finished_at.toISOString().slice(0, 19),
      r.integration_id,
      r.endpoint,
      r.fetched,
      r.reemitted,
      r.deleted,
      r.healed,
      r.blocked,
      r.outcome,
    ].map(String),
  );
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  return [head, ...body].map((cols) => cols.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ')).join('\n');
}

async function withClients<T>(
  config: Config,
  fn: (c: { pool: pg.Pool; kafka: KafkaClient; store: StateStore }) => Promise<T>,
): Promise<T> {
  const pool = poolFor(config, { max: 4 });
  const kafka = kafkaClient(config, 'kombo-stream-drift');
  try {
    await requireState(pool, config.postgres.stateSchema, STATE_MIGRATIONS);
    return await fn({ pool, kafka, store: new StateStore(pool, config.postgres.stateSchema) });
  } finally {
    await kafka.close();
    await pool.end();
  }
}

/**
 * `kombo-stream drift run [--integration ID]`: a drift pass now, in this process: a full fetch of
 * every mirrored endpoint (of one integration, or all), each followed by its sweep and sink check,
 * with progress on a terminal. A running connector's fetcher waits for the integration meanwhile.
 */
async function runNow(config: Config, integration: string | undefined): Promise<number> {
  return withClients(config, async ({ pool, kafka, store }) => {
    const specs = topicSpecs(config);
    await kafka.requireTopics([...specs.records.values(), ...specs.changes.values()].map((t) => t.name));
    const producer = kafka.producer();
    // A dedicated run reads everything in one go: no yielding to other work in this process.
    const cfg: Config = { ...config, fetcher: { ...config.fetcher, maxPagesPerTurn: Number.MAX_SAFE_INTEGER } };
    const reports: DriftReportRow[] = [];
    const tty = Boolean(process.stdout.isTTY);
    const { ctx, close } = createFetchContext(
      {
        config: cfg,
        logger: createLogger({ level: 'warn' }),
        metrics: createMetricsRegistry({ defaultMetrics: false }),
        pool,
        kafka,
        serde: await createSerde(config),
      },
      producer,
      { signal: new AbortController().signal, onDriftReport: (r) => reports.push(r) },
    );
    try {
      const targets = (await store.listIntegrations()).filter(
        (i) => !i.deleted_at && (!integration || i.integration_id === integration),
      );
      if (integration && targets.length === 0) throw new TypeError(`no active integration ${integration}`);
      for (const i of targets) {
        for (const endpoint of endpointsOfCategory(i.category ?? undefined, config.kombo.endpoints)) {
          const expected = await ctx.index.countLive(i.integration_id, endpoint);
          const label = `${i.integration_id} ${endpoint}`;
          const show = (run: FetchRun) => {
            const line = `${label}: ${run.emitted + run.unchanged} records fetched of ~${expected} expected (${run.pages} pages)`;
            if (tty) process.stdout.write(`\r\x1b[K${line}`);
          };
          ctx.onPage = show;
          const task = newTask({
            integration_id: i.integration_id,
            endpoint: endpoint as EndpointName,
            mode: 'full',
            reason: 'cli:drift',
            requested_at: await dbNow(pool),
          });
          // A fetcher busy with the integration is waited for, not skipped: a drift pass that leaves
          // out the endpoints being fetched would leave their drift uncorrected.
          const result = await withIntegrationLock(
            pool,
            i.integration_id,
            () => executeFetch(ctx, task, { detached: true }),
            { waitMs: LOCK_WAIT_MS },
          );
          if (tty) process.stdout.write('\r\x1b[K');
          if (result === 'locked')
            process.stdout.write(`${label}: skipped, another process fetched it for ${LOCK_WAIT_MS / 60_000} min\n`);
          // A full fetch in flight (the schedule's, a manual one) is this pass: its report follows.
          else if (result.kind === 'skipped')
            process.stdout.write(`${label}: skipped: ${result.reason}; see 'kombo-stream drift report' later\n`);
        }
      }
    } finally {
      await close();
      await producer.close();
    }
    process.stdout.write(reports.length ? `${table(reports)}\n` : 'nothing fetched\n');
    const alerts = await ctx.drift.openAlerts();
    if (alerts.length)
      process.stdout.write(
        `\n${alerts.length} sweep(s) blocked by the mass-delete guard; see 'kombo-stream drift report'\n`,
      );
    return 0;
  });
}

/** How long a drift run waits for a fetch of the same integration to end. */
const LOCK_WAIT_MS = 10 * 60_000;

export async function runDriftCli(args: string[], loadConfig: (file?: string) => Config): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { integration: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const config = loadConfig(values.config);
  if (sub === 'run') return runNow(config, values.integration);
  if (sub === 'report') {
    return withClients(config, async ({ pool }) => {
      const drift = new DriftStore(pool, config.postgres.stateSchema);
      const runs = await drift.reports(values.integration ? { integrationId: values.integration } : {});
      const alerts = await drift.openAlerts(values.integration);
      if (values.json) process.stdout.write(`${JSON.stringify({ alerts, runs }, null, 2)}\n`);
      else {
        process.stdout.write(runs.length ? `${table(runs)}\n` : 'no drift runs yet\n');
        for (const a of alerts) {
          process.stdout.write(
            `BLOCKED ${a.integration_id} ${a.endpoint}: would delete ${a.vanished} of ${a.total} records; confirm with 'kombo-stream drift confirm ${a.integration_id} ${a.endpoint}'\n`,
          );
        }
      }
      return 0;
    });
  }
  if (sub === 'confirm') {
    const [integration, endpoint] = positionals;
    if (!integration || !endpoint || !isEndpointName(endpoint))
      throw new TypeError('usage: kombo-stream drift confirm <integration> <endpoint>');
    return withClients(config, async ({ kafka, pool }) => {
      const producer = kafka.producer();
      try {
        const deps = { config, logger: createLogger({ level: 'warn' }), pool, kafka, serde: await createSerde(config) };
        const r = await confirmSweep(createDriftContext(deps, producer), integration, endpoint);
        process.stdout.write(`deleted ${r.deleted} vanished records of ${integration} ${endpoint}\n`);
        return 0;
      } finally {
        await producer.close();
      }
    });
  }
  throw new TypeError(
    'usage: kombo-stream drift run [--integration ID] | report [--integration ID] [--json] | confirm <integration> <endpoint>',
  );
}
