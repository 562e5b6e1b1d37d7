import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { ROLES } from '../app/role.ts';
import { startRuntime } from '../app/runtime.ts';
import { signalExitCode, stopSignal } from '../app/signals.ts';
import { loadConfig, maskPassword } from '../config/config.ts';
import { duration } from '../config/schema.ts';
import { infraDir } from '../localstack/paths.ts';
import { freePort } from '../localstack/process.ts';
import { startLocalStack } from '../localstack/stack.ts';
import { createLogger } from '../observability/log.ts';
import { triggerSync } from '../planner/trigger.ts';
import { type Simulator, startSimulator } from '../sim/index.ts';
import { compareWithTruth, summarise } from '../sim/verify.ts';
import { quoteIdent } from '../state/migrate.ts';
import { poolFor } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { kafkaClient } from '../topics/kafka.ts';
import { renderView } from './view.ts';

const DEMO_PREFIX = 'kombo_demo';

/**
 * `kombo-stream demo`: the whole pipeline on embedded defaults. Starts what is not configured (local
 * Kafka, embedded Postgres, the simulator with live changes and webhooks), runs the connector with
 * every role, shows a live view, and at the end checks Postgres against the simulator's truth.
 */
export async function runDemo(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args,
    allowNegative: true,
    options: {
      duration: { type: 'string' },
      // After the verdict the stack stays up for a look at the data, until Ctrl-C. The default in a
      // terminal without --duration or --short; --no-keep ends at the verdict there too.
      keep: { type: 'boolean' },
      integrations: { type: 'string', default: '4' },
      records: { type: 'string', default: '300' },
      'changes-per-sec': { type: 'string', default: '5' },
      short: { type: 'boolean', default: false },
      // Test hook: a row the truth does not have is written to the sink before the last comparison,
      // so the verdict must say MISMATCH (and the exit status must say so too).
      'inject-mismatch': { type: 'boolean', default: false },
    },
  });
  const tty = Boolean(process.stdout.isTTY);
  const parsedDuration = values.duration ?? (values.short ? '20s' : tty ? undefined : '60s');
  const durationMs = parsedDuration === undefined ? undefined : duration.parse(parsedDuration);
  const keep = values.keep ?? durationMs === undefined;
  const say = (s: string) => process.stdout.write(`${s}\n`);
  // Ours from the start: the first Ctrl-C ends the live phase (then settle, verify, verdict); a
  // second one stops everything the demo started and exits at once.
  const signal = stopSignal();
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async () => {
    for (const c of cleanups.splice(0)) await c().catch(() => {});
  };
  // Set while the stack stays up after the verdict: the next signal ends that, not the demo at once.
  let lingering: (() => void) | undefined;
  signal.onRepeat((s) => {
    if (lingering) return lingering();
    say('\nsecond signal: stopping everything now');
    void cleanUp().finally(() => process.exit(signalExitCode(s)));
  });

  const stack = await startLocalStack({
    label: 'demo',
    kafka: !env.KAFKA_BROKERS,
    postgres: !env.DATABASE_URL,
    log: say,
    keepData: false,
  });
  cleanups.push(() => stack.stop());
  // Outside the run folder, which is deleted at exit: the log stays readable afterwards.
  const logFile = path.join(infraDir, 'demo-connector.log');
  let sim: Simulator | undefined;
  try {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const secret = env.KOMBO_WEBHOOK_SECRET?.split(',')[0] ?? `whsec_demo_${randomBytes(8).toString('hex')}`;
    if (!env.KOMBO_API_URL) {
      sim = await startSimulator({
        seed: 42,
        webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret, retryBaseMs: 250 },
        syncDurationMs: 300,
        commitLagMs: 100,
      });
      cleanups.unshift(async () => sim?.stop());
    }
    const config = loadConfig({
      env,
      defaults: {
        KAFKA_BROKERS: stack.kafka?.brokers,
        DATABASE_URL: stack.postgres?.url,
        KOMBO_API_URL: sim?.url,
        KOMBO_API_KEY: sim?.apiKey,
        KOMBO_WEBHOOK_SECRET: secret,
        PORT: port,
        // A port of its own: a connector already running here may hold the default.
        ADMIN_PORT: await freePort(),
        ADMIN_TOKEN: `demo-admin-${randomBytes(12).toString('hex')}`,
        TOPIC_PREFIX: DEMO_PREFIX,
        PG_SCHEMA: DEMO_PREFIX,
        STATE_SCHEMA: `${DEMO_PREFIX}_state`,
        KAFKA_PARTITIONS: 3,
        KOMBO_RATE_LIMIT: 100,
        KOMBO_RATE_LIMIT_PER_INTEGRATION: 30,
        FETCH_OVERLAP: '5s',
        LOG_LEVEL: 'info',
      },
    });
    // The demo owns its namespace: earlier demo runs against the same Kafka/Postgres are cleared.
    const kafka = kafkaClient(config, 'kombo-stream-demo');
    const pool = poolFor(config, { max: 3 });
    cleanups.unshift(async () => {
      await kafka.close();
      await pool.end();
    });
    await kafka.deleteTopics((await kafka.listTopics()).filter((t) => t.startsWith(`${DEMO_PREFIX}.`)));
    for (const s of [config.postgres.sinkSchema, config.postgres.stateSchema])
      await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);

    const logger = createLogger({ level: config.logLevel, destination: createWriteStream(logFile) });
    const runtime = await startRuntime(config, ROLES, { logger, host: '127.0.0.1' });
    cleanups.unshift(() => runtime.stop());

    if (sim) {
      const n = Number(values.integrations);
      const size = Number(values.records);
      for (let k = 0; k < n; k++)
        await sim.core.createIntegration({
          category: k % 2 === 0 ? 'HRIS' : 'ATS',
          size: Math.round(size * (0.5 + (k % 3) / 2)),
        });
      const rate = Number(values['changes-per-sec']);
      if (rate > 0) sim.core.startLiveChanges({ changesPerSec: rate });
    }
    const startedAt = Date.now();
    const view = () =>
      renderView({
        kafka,
        pool,
        prefix: DEMO_PREFIX,
        sinkSchema: config.postgres.sinkSchema,
        endpoints: config.kombo.endpoints,
        runtime,
        ...(sim ? { sim } : {}),
        startedAt,
      });
    const stopped = Promise.race([
      signal.received,
      ...(durationMs === undefined ? [] : [new Promise<void>((r) => setTimeout(r, durationMs).unref())]),
    ]);
    let done = false;
    void stopped.then(() => (done = true));
    say(
      `running${durationMs === undefined ? '' : ` for ${parsedDuration}`}; Ctrl-C ends the live changes and checks the mirror`,
    );
    while (!done) {
      const screen = await view();
      if (tty) process.stdout.write(`\x1b[H\x1b[2J${screen}\n`);
      else if (Math.floor((Date.now() - startedAt) / 1000) % 10 === 0) say(screen.split('\n').slice(0, 2).join('\n'));
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 1_000))]);
    }

    say('\nstopping live changes; waiting for the pipeline to settle...');
    let ok = true;
    if (sim) {
      sim.core.stopLiveChanges();
      await sim.core.settle();
      const core = sim.core;
      const ids = core.integrations().map((i) => i.id);
      const compare = (by: 'content' | 'changed-at') =>
        compareWithTruth(pool, config.postgres.sinkSchema, core, ids, config.kombo.endpoints, by);
      const converge = async (by: 'content' | 'changed-at') => {
        const deadline = Date.now() + 90_000;
        let diff = await compare(by);
        while (diff.length && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1_000));
          diff = await compare(by);
        }
        return diff;
      };
      const own = summarise(await converge('changed-at'));
      say(`after webhooks and deltas: ${own.missing} missing, ${own.stale} stale (own fields), ${own.extra} extra`);
      say('running a drift pass (a full fetch of everything, as the weekly schedule does)...');
      const producer = kafka.producer();
      const store = new StateStore(pool, config.postgres.stateSchema);
      for (const id of ids) await triggerSync({ config, store, producer }, id, { mode: 'full', reason: 'demo:drift' });
      await producer.close();
      let diff = await converge('content');
      if (values['inject-mismatch']) {
        await injectMismatch(pool, config.postgres.sinkSchema, ids[0] ?? 'none');
        diff = await compare('content');
      }
      const t = summarise(diff);
      const records = sim.core.integrations().reduce((n, i) => n + i.records, 0);
      ok = diff.length === 0 && own.missing + own.stale + own.extra === 0;
      say(`\n${await view()}\n`);
      say(
        ok
          ? `verdict: OK: Postgres equals the simulator's truth (${records} records in ${ids.length} integrations: 0 missing, 0 stale, 0 extra)`
          : `verdict: MISMATCH: ${t.missing} missing, ${t.stale} stale, ${t.extra} extra (see ${logFile})`,
      );
    } else {
      say(`\n${await view()}\n\nverdict: running against ${config.kombo.apiUrl}: no ground truth to compare with.`);
    }
    // Printed only where they work: on a stack that stays up, or on a Kafka and Postgres of the
    // user's own, which keep the demo's topics and tables after it exits.
    const local = Boolean(stack.kafka || stack.postgres);
    const look = [
      '',
      'Look at the data:',
      `  psql "${maskPassword(config.databaseUrl)}" -c 'SELECT integration_id, id, first_name, last_name, _kombo_deleted_at FROM ${config.postgres.sinkSchema}.hris_employees LIMIT 10'`,
      `  kcat -b ${config.kafka.brokers[0]} -C -t ${DEMO_PREFIX}.hris.employees -o beginning -e -f '%k  %s\\n' | head`,
    ];
    if (keep) {
      say(
        [
          ...look,
          `  curl ${runtime.adminUrl}/metrics   (health: ${runtime.adminUrl}/healthz, readiness: ${runtime.adminUrl}/readyz)`,
          `  connector log: ${logFile}`,
          '',
          `The demo stays up for that${local ? ' (its Kafka and Postgres stop with it)' : ''}: Ctrl-C ends it.`,
        ].join('\n'),
      );
      await (signal.signal === undefined ? signal.received : new Promise<void>((r) => (lingering = r)));
    } else
      say(
        [
          ...(local ? [] : look),
          `  connector log: ${logFile}`,
          local
            ? 'The Kafka and Postgres the demo started stop as it exits; `npm run demo -- --keep` keeps them up after the verdict, until Ctrl-C.'
            : '',
        ].join('\n'),
      );
    return ok ? 0 : 1;
  } finally {
    await cleanUp();
    signal.dispose();
  }
}

/** A sink row the simulator never had (the demo's first integration is an HRIS one). */
async function injectMismatch(pool: pg.Pool, sinkSchema: string, integrationId: string): Promise<void> {
  await pool.query(
    `INSERT INTO ${quoteIdent(sinkSchema)}.hris_employees (integration_id, id, _kombo_fetched_at, _kombo_partition, _kombo_offset)
     VALUES ($1, 'injected-mismatch', now(), 0, 0)`,
    [integrationId],
  );
}
