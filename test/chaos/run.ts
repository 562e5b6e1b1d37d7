/**
 * `npm run chaos [-- --small] [-- --scale-out]`: the whole pipeline while it is being hurt. Every
 * role runs in its own process (with --scale-out: 2 planners, 3 fetchers and 2 sinks sharing their
 * consumer groups, so partitions move between them while they work) and is kill -9'd (or, scaled out,
 * stopped with SIGTERM) several times; the Kafka broker and Postgres are restarted once each; the
 * simulator drops 10% of webhooks, duplicates, reorders and delays others, and serves 5xx, resets and
 * 429 storms; an operator syncs and runs a drift pass meanwhile. Afterwards, a drift pass; then
 * Postgres must equal the simulator's truth column by column (0 missing, 0 stale, 0 extra), every
 * webhook answered 2xx must be in the events topic, every SIGTERM must have ended its process with 0
 * within its 30 s budget, no committed offset may ever have moved backwards, and no task may have
 * completed two fetch runs. Exit code 0 on success.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Role } from '../../src/app/role.ts';
import { signalExitCode, stopSignal } from '../../src/app/signals.ts';
import { infraDir, projectRoot } from '../../src/localstack/paths.ts';
import { freePort } from '../../src/localstack/process.ts';
import { startLocalStack } from '../../src/localstack/stack.ts';
import { startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth, summarise } from '../../src/sim/verify.ts';
import { createPool } from '../../src/state/pool.ts';
import { KafkaClient } from '../../src/topics/kafka.ts';
import { dlqTopic, eventsTopic, groupId, tasksTopic } from '../../src/topics/names.ts';
import { readTopic } from '../helpers/topics.ts';

const { values } = parseArgs({
  options: {
    small: { type: 'boolean', default: false },
    'scale-out': { type: 'boolean', default: false },
    // Test hook: skip the chaos and report this verdict, to prove the exit status follows it.
    'force-verdict': { type: 'string' },
  },
});
const forced = values['force-verdict'];
if (forced !== undefined && forced !== 'ok' && forced !== 'failed') throw new TypeError('--force-verdict ok|failed');
const small = values.small;
const scaleOut = values['scale-out'];
const INTEGRATIONS = small ? 6 : 20;
const CHAOS_MS = small ? 45_000 : 180_000;
const KILLS_PER_ROLE = small ? 2 : 4;
const PREFIX = 'chaos';
const log = (m: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Ours: a signal stops the roles, the simulator and the stack, then exits non-zero (no verdict).
const signal = stopSignal();
const stack = await startLocalStack({ label: 'chaos', kafka: true, postgres: true, log });
const kafkaBroker = stack.kafka;
const postgres = stack.postgres;
if (!kafkaBroker || !postgres) throw new Error('chaos needs its own Kafka and Postgres');
const ingressPort = await freePort();
const secret = `whsec_chaos_${randomBytes(6).toString('hex')}`;
const sim = await startSimulator({
  seed: 1234,
  webhook: { url: `http://127.0.0.1:${ingressPort}/webhooks/kombo`, secret, retryBaseMs: 500, maxAttempts: 10 },
  syncDurationMs: 200,
  commitLagMs: 500,
});
const logFile = path.join(infraDir, 'chaos-connector.log');
const logStream = createWriteStream(logFile);
// Writes, not pipes: a pipe per process (a dozen at once) would pile listeners onto the one stream.
const toLog = (p: ChildProcess) => {
  for (const out of [p.stdout, p.stderr]) out?.on('data', (c: Buffer) => logStream.write(c));
};
const settings: Record<string, string> = {
  KAFKA_BROKERS: kafkaBroker.brokers,
  DATABASE_URL: postgres.url,
  KOMBO_API_URL: sim.url,
  KOMBO_API_KEY: sim.apiKey,
  KOMBO_WEBHOOK_SECRET: secret,
  TOPIC_PREFIX: PREFIX,
  KAFKA_PARTITIONS: '3',
  KAFKA_SESSION_TIMEOUT: '6s',
  FETCH_OVERLAP: '5s',
  FETCH_CONCURRENCY: '4',
  FETCH_MAX_ATTEMPTS: '10',
  // Every full fetch spans several turns: pages of 10, one page per turn.
  FETCH_PAGE_SIZE: '10',
  FETCH_MAX_PAGES_PER_TURN: '1',
  FETCH_RETRY_MAX: '5s',
  KOMBO_RATE_LIMIT: '100',
  KOMBO_RATE_LIMIT_PER_INTEGRATION: '20',
  SCHEDULER_TICK: '5s',
  LOG_LEVEL: 'warn',
  KAFKAJS_NO_PARTITIONER_WARNING: '1',
};
/** Role instances, e.g. `fetcher#2`: scaled out, several share each role's consumer group. */
const COUNTS: Record<Role, number> = scaleOut
  ? { sink: 2, fetcher: 3, planner: 2, ingress: 1 }
  : { sink: 1, fetcher: 1, planner: 1, ingress: 1 };
const instances = (Object.entries(COUNTS) as [Role, number][]).flatMap(([role, n]) =>
  Array.from({ length: n }, (_, k) => `${role}#${k + 1}`),
);
const roleOf = (instance: string) => instance.split('#')[0] as Role;
const procs = new Map<string, ChildProcess>();
const kills = new Map<string, number>();
const terms: { instance: string; ms: number; code: number | null }[] = [];
/** Exits nobody asked for: a role must survive broker and database restarts. */
const crashes: string[] = [];
const stoppingOnPurpose = new Set<ChildProcess>();
async function startRole(instance: string): Promise<void> {
  const role = roleOf(instance);
  const port = role === 'ingress' ? ingressPort : await freePort();
  const child = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', path.join(projectRoot, 'src/cli.ts'), 'start', '--role', role],
    {
      env: { ...process.env, ...settings, PORT: String(port), ADMIN_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  toLog(child);
  child.once('exit', (code, signal) => {
    if (!stoppingOnPurpose.has(child) && !stopping) {
      crashes.push(`${instance} exited (${code ?? signal})`);
      log(`${instance} exited by itself (${code ?? signal}); restarting it`);
      void startRole(instance);
    }
  });
  procs.set(instance, child);
}
/** kill -9, or (scaled out, half the time) SIGTERM, whose exit must be 0 and within the budget. */
async function hurt(instance: string, how: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  const p = procs.get(instance);
  if (!p || p.exitCode !== null) return;
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  stoppingOnPurpose.add(p);
  const t0 = Date.now();
  p.kill(how);
  const budget = setTimeout(() => p.kill('SIGKILL'), 40_000);
  const code = await exited;
  clearTimeout(budget);
  if (how === 'SIGTERM') terms.push({ instance, ms: Date.now() - t0, code });
  kills.set(instance, (kills.get(instance) ?? 0) + 1);
}

let stopping = false;
// Its clients survive the Postgres restart (an idle client's lost connection must not crash the harness).
const pool = createPool(postgres.url, { max: 3 });
const kafka = new KafkaClient({ brokers: [kafkaBroker.brokers], clientId: 'chaos' });
/**
 * Samples every committed position once a second (the planner's and the fetcher's Kafka offsets, the
 * sink's offsets in Postgres) and records any that moved backwards: a process that commits for a
 * partition it no longer owns would do that.
 */
function watchOffsets(): { stop: () => void; movedBack: string[] } {
  const highest = new Map<string, bigint>();
  const movedBack: string[] = [];
  const note = (key: string, at: bigint) => {
    const before = highest.get(key);
    if (before !== undefined && at < before) movedBack.push(`${key}: ${before} -> ${at}`);
    if (before === undefined || at > before) highest.set(key, at);
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      for (const [role, topic] of [
        ['planner', eventsTopic(PREFIX)],
        ['fetcher', tasksTopic(PREFIX)],
      ] as const) {
        const at = await kafka.groupOffsets(groupId(PREFIX, role), [topic]).catch(() => new Map<string, bigint>());
        for (const [k, o] of at) if (o >= 0n) note(`${role} ${k}`, o);
      }
      const sink = await pool
        .query<{ topic: string; partition: number; next_offset: string }>(
          'SELECT topic, partition, next_offset FROM kombo_stream.sink_offsets',
        )
        .catch(() => ({ rows: [] as { topic: string; partition: number; next_offset: string }[] }));
      for (const r of sink.rows) note(`sink ${r.topic}:${r.partition}`, BigInt(r.next_offset));
    })().finally(() => {
      busy = false;
    });
  }, 1_000);
  timer.unref();
  return { stop: () => clearInterval(timer), movedBack };
}

let cleaned: Promise<void> | undefined;
const cleanUp = () =>
  (cleaned ??= (async () => {
    stopping = true;
    for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGTERM');
    await sleep(2_000);
    for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    await kafka.close().catch(() => {});
    await pool.end().catch(() => {});
    await sim.stop();
    await stack.stop();
  })());
void signal.received.then(async (s) => {
  log(`${s}: stopping the chaos run without a verdict`);
  await cleanUp();
  process.exit(signalExitCode(s));
});

const chaos = async (): Promise<boolean> => {
  for (const r of instances) await startRole(r);
  const watch = watchOffsets();
  await sleep(8_000);
  log(`creating ${INTEGRATIONS} integrations; live changes on`);
  for (let k = 0; k < INTEGRATIONS; k++)
    await sim.core.createIntegration({ category: k % 2 ? 'ATS' : 'HRIS', size: 15 + (k % 4) * 10 });
  sim.core.startLiveChanges({ changesPerSec: small ? 15 : 25, batch: 3 });
  sim.core.setWebhookFaults({ dropRate: 0.1, duplicateRate: 0.05, reorderRate: 0.05, delayRate: 0.05, delayMs: 2_000 });
  sim.core.setApiFaults({ error5xxRate: 0.05, resetRate: 0.02, truncateRate: 0.02, rate429: 0.02, retryAfterSec: 1 });

  // The plan: every role killed KILLS_PER_ROLE times, the broker and Postgres restarted once each.
  const events: (() => Promise<void>)[] = [];
  for (const r of instances)
    for (let k = 0; k < KILLS_PER_ROLE; k++)
      events.push(async () => {
        const how = scaleOut && Math.random() < 0.5 ? 'SIGTERM' : 'SIGKILL';
        log(`${how === 'SIGKILL' ? 'kill -9' : 'SIGTERM'} ${r}`);
        await hurt(r, how);
        await sleep(1_000 + Math.random() * 2_000);
        await startRole(r);
      });
  events.push(async () => {
    log('restarting the Kafka broker');
    // Scaled out, a fetcher is stopped while the broker is down: it must still exit 0 in its budget.
    await kafkaBroker.restart(
      scaleOut
        ? async () => {
            log('SIGTERM fetcher#1 while the broker is down');
            await hurt('fetcher#1', 'SIGTERM');
          }
        : undefined,
    );
    if (scaleOut) await startRole('fetcher#1');
  });
  events.push(async () => {
    log('restarting Postgres');
    await postgres.restart();
  });
  // Operators act meanwhile: a manual full sync of one integration, and a drift run of another in its
  // own process (either may meet a full fetch in flight: they must join it, not fork or delete).
  const cli = (args: string[]) =>
    new Promise<number | null>((resolve) => {
      const p = spawn(
        process.execPath,
        ['--disable-warning=TimeoutNegativeWarning', path.join(projectRoot, 'src/cli.ts'), ...args],
        { env: { ...process.env, ...settings }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      toLog(p);
      p.once('exit', resolve);
    });
  const someIntegration = () => {
    const all = sim.core.integrations().map((i) => i.id);
    return all[Math.floor(Math.random() * all.length)] as string;
  };
  events.push(async () => {
    const id = someIntegration();
    log(`manual full sync of ${id}`);
    const code = await cli(['sync', id, '--full']);
    if (code !== 0) log(`sync exited ${code} (a restart may have been under way)`);
  });
  events.push(async () => {
    const id = someIntegration();
    log(`drift run of ${id}, concurrently`);
    void cli(['drift', 'run', '--integration', id]).then((code) => {
      if (code !== 0) log(`concurrent drift run exited ${code} (a restart may have been under way)`);
    });
  });
  events.push(async () => {
    log('429 storm (5 s)');
    sim.core.setApiFaults({ stormUntil: Date.now() + 5_000, retryAfterSec: 2 });
  });
  events.sort(() => Math.random() - 0.5);
  const gap = CHAOS_MS / (events.length + 1);
  for (const e of events) {
    await sleep(gap * (0.5 + Math.random()));
    await e();
  }
  await sleep(gap);

  log('chaos over: faults cleared, live changes stopped; letting Kombo finish its webhook retries');
  sim.core.stopLiveChanges();
  sim.core.clearFaults();
  await sim.core.settle();
  await sleep(10_000);
  log('drift pass (kombo-stream drift run)');
  const drift = spawn(
    process.execPath,
    ['--disable-warning=TimeoutNegativeWarning', path.join(projectRoot, 'src/cli.ts'), 'drift', 'run'],
    {
      env: { ...process.env, ...settings },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const driftOut: string[] = [];
  drift.stdout?.on('data', (c: Buffer) => driftOut.push(c.toString()));
  const driftCode = await new Promise((r) => drift.once('exit', r));
  if (driftCode !== 0) throw new Error(`drift run exited ${driftCode}`);

  const ids = sim.core.integrations().map((i) => i.id);
  const deadline = Date.now() + 120_000;
  let diff = await compareWithTruth(pool, 'kombo', sim.core, ids);
  while (diff.length && Date.now() < deadline) {
    await sleep(2_000);
    diff = await compareWithTruth(pool, 'kombo', sim.core, ids);
  }
  const t = summarise(diff);
  const acked = sim.core.webhooks.acknowledged().map((w) => w.id);
  const stored = new Set((await readTopic(kafka, eventsTopic(PREFIX))).map((r) => r.headers['kombo-event-id']));
  const lost = acked.filter((id) => !stored.has(id));
  const records = [...sim.core.webhooks.records.values()];
  const attempts = sim.core.webhooks.attempts;
  const dead = (await readTopic(kafka, dlqTopic(PREFIX))).length;
  const turns = (
    await pool.query(
      `SELECT count(*)::int AS runs, min(turns)::int AS min_turns FROM kombo_stream.fetch_runs
       WHERE mode = 'full' AND status = 'done' AND NOT detached AND endpoint IN ('hris/employees', 'ats/candidates')`,
    )
  ).rows[0];
  watch.stop();
  // A task's own run is resumed, never begun twice; a replay is a no-op. Two finished runs of one
  // task would mean it ran twice to completion.
  const twice = (
    await pool.query(
      `SELECT task_id, count(*)::int AS runs FROM kombo_stream.fetch_runs
       WHERE status = 'done' AND task_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1`,
    )
  ).rows;
  const badStops = terms.filter((t) => t.code !== 0 || t.ms > 30_000);
  const ok =
    diff.length === 0 &&
    lost.length === 0 &&
    crashes.length === 0 &&
    turns.min_turns >= 1 &&
    watch.movedBack.length === 0 &&
    twice.length === 0 &&
    badStops.length === 0;
  const report = {
    integrations: ids.length,
    records: sim.core.integrations().reduce((n, i) => n + i.records, 0),
    kills: Object.fromEntries(kills),
    restarts: { kafka: 1, postgres: 1 },
    webhooks: {
      sent: records.length,
      droppedByFaultInjection: records.filter((r) => r.state === 'dropped').length,
      deliveryAttempts: attempts.length,
      failedAttempts: attempts.filter((a) => a.status < 200 || a.status >= 300).length,
      acknowledged: acked.length,
      acknowledgedButLost: lost.length,
    },
    upstreamFaultsServed: sim.core.faultsServed,
    deadLetters: dead,
    fullFetchesOfEmployeesAndCandidates: turns,
    unexpectedExits: crashes,
    processes: instances.length,
    sigterms: { count: terms.length, slowestMs: Math.max(0, ...terms.map((t) => t.ms)), notCleanOrTooSlow: badStops },
    committedOffsetsMovedBack: watch.movedBack,
    tasksCompletedTwice: twice,
    truth: t,
    verdict: ok ? 'OK' : 'FAILED',
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (!ok) log(`mismatches: ${JSON.stringify(diff.slice(0, 5))}; connector log: ${logFile}`);
  return ok;
};

let ok = false;
try {
  if (forced) {
    ok = forced === 'ok';
    process.stdout.write(`${JSON.stringify({ forced: true, verdict: ok ? 'OK' : 'FAILED' })}\n`);
  } else ok = await chaos();
} finally {
  await cleanUp();
  signal.dispose();
}
process.exitCode = ok ? 0 : 1;
