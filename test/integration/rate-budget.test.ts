import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawSettings } from '../../src/config/config.ts';
import { RateLimiter } from '../../src/fetcher/rate-limit.ts';
import { freePort } from '../../src/localstack/process.ts';
import { newTask } from '../../src/planner/task.ts';
import { enqueueTasks } from '../../src/planner/trigger.ts';
import { SimServer } from '../../src/sim/server.ts';
import { SimulatorCore } from '../../src/sim/simulator.ts';
import { dbNow } from '../../src/state/clock.ts';
import { createPool } from '../../src/state/pool.ts';
import { RateBudget } from '../../src/state/rate-budget.ts';
import { StateStore } from '../../src/state/store.ts';
import { topicSpecs } from '../../src/topics/topology.ts';
import { type Child, spawnNode } from '../helpers/child.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { startProxy } from '../helpers/proxy.ts';
import { eventually } from '../helpers/topics.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  await testDeps(ctx);
});
afterAll(async () => ctx?.close());

/** A process of its own as far as the budget can tell: its own connections, its own limiter. */
function processLimiter(rates: { globalPerSec: number; perIntegrationPerSec: number }, url = ctx.databaseUrl) {
  const pool = createPool(url, { max: 2 });
  return { limiter: new RateLimiter(new RateBudget(pool, ctx.stateSchema, rates)), close: () => pool.end() };
}

describe('one rate budget for every process', () => {
  it('a 429 seen by one process holds the others: the key for everyone, an integration for itself', async () => {
    const a = processLimiter({ globalPerSec: 1_000, perIntegrationPerSec: 1_000 });
    const b = processLimiter({ globalPerSec: 1_000, perIntegrationPerSec: 1_000 });
    try {
      await a.limiter.pauseFor(700);
      const t0 = performance.now();
      await b.limiter.acquire('anyone');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(600);
      // An hour of REMOTE.RATE_LIMIT_EXCEEDED for one integration: the others go on, and its wait
      // ends as soon as the process stops.
      await a.limiter.pauseFor(3_600_000, 'throttled');
      const t1 = performance.now();
      await b.limiter.acquire('other');
      expect(performance.now() - t1).toBeLessThan(300);
      const stop = new AbortController();
      const waiting = b.limiter.acquire('throttled', stop.signal);
      setTimeout(() => stop.abort(new Error('stopping')), 100);
      await expect(waiting).rejects.toThrow('stopping');
      expect(performance.now() - t1).toBeLessThan(1_000);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("shares an integration's budget between processes, and one integration's spent budget holds no other", async () => {
    // Two processes read the same integration at once (a drift run beside a fetcher): 5/s between them.
    const rates = { globalPerSec: 1_000, perIntegrationPerSec: 5 };
    const procs = [processLimiter(rates), processLimiter(rates)];
    const granted: number[] = [];
    const signal = AbortSignal.timeout(3_000);
    const t0 = performance.now();
    const loop = async (l: RateLimiter) => {
      while (!signal.aborted) {
        await l.acquire('shared', signal).catch(() => {});
        if (!signal.aborted) granted.push(performance.now() - t0);
      }
    };
    try {
      const loops = procs.flatMap((p) => [loop(p.limiter), loop(p.limiter), loop(p.limiter)]);
      await new Promise((r) => setTimeout(r, 1_500));
      const t1 = performance.now();
      await procs[1]?.limiter.acquire('unrelated');
      expect(performance.now() - t1).toBeLessThan(300);
      await Promise.all(loops);
      // A full burst at the start, then the rate: 5 + 3 s x 5/s. Each process alone would take as much.
      expect(granted.length).toBeLessThanOrEqual(20);
      expect(granted.length).toBeGreaterThanOrEqual(15);
    } finally {
      for (const p of procs) await p.close();
    }
  });

  it('without Postgres nothing goes out: the request fails like other Postgres trouble, and goes once Postgres is back', async () => {
    const db = new URL(ctx.databaseUrl);
    const proxy = await startProxy({ host: db.hostname, port: Number(db.port) });
    const through = new URL(ctx.databaseUrl);
    through.hostname = '127.0.0.1';
    through.port = String(proxy.port);
    const p = processLimiter({ globalPerSec: 1_000, perIntegrationPerSec: 1_000 }, through.toString());
    try {
      await p.limiter.acquire('x');
      await proxy.down();
      await expect(p.limiter.acquire('x')).rejects.toThrow();
      await proxy.up();
      await p.limiter.acquire('x');
    } finally {
      await p.close();
      await proxy.close();
    }
  });
});

describe('three fetcher processes against one API key', () => {
  const RATE = 10;
  it(`send at most KOMBO_RATE_LIMIT (${RATE}/s) between them, plus one burst`, async () => {
    // Enough work to keep three processes at their limit for much longer than the measurement:
    // 40 full fetches of 15 pages each.
    const sim = new SimServer(
      new SimulatorCore({
        seed: 44,
        integrations: Array.from({ length: 40 }, () => ({ category: 'HRIS', size: 150 })),
      }),
    );
    const url = `${await sim.listen()}/v1`;
    const arrivals: number[] = [];
    sim.server.on('request', (req) => {
      if (req.url?.startsWith('/v1/hris/')) arrivals.push(performance.now());
    });
    const settings: RawSettings = {
      KOMBO_API_URL: url,
      KOMBO_API_KEY: sim.core.apiKey,
      KOMBO_RATE_LIMIT: RATE,
      KOMBO_RATE_LIMIT_PER_INTEGRATION: RATE,
      KOMBO_ENDPOINTS: 'hris/employees',
      FETCH_PAGE_SIZE: 10,
      FETCH_MAX_SINK_LAG: 0,
      KAFKA_PARTITIONS: 6,
      TOPIC_PREFIX: `${ctx.prefix}.three`,
      STATE_SCHEMA: `${ctx.stateSchema}_three`,
    };
    const deps = await testDeps(ctx, settings);
    const { config } = deps;
    const topics = topicSpecs(config);
    await ctx.kafka.ensureTopics([topics.tasks, topics.dlq, ...topics.records.values()]);
    const store = new StateStore(ctx.pool, config.postgres.stateSchema);
    for (const i of sim.core.integrations())
      await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: i.category });
    const env = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)]));
    const fetchers: { child: Child; port: number; admin: number }[] = [];
    const pages = async (f: (typeof fetchers)[number]) => {
      const text = await (await request(`http://127.0.0.1:${f.admin}/metrics`)).body.text();
      return Number(/^kombo_stream_fetcher_pages_total\{endpoint="hris\/employees"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    try {
      for (let n = 0; n < 3; n++) {
        const [port, admin] = [await freePort(), await freePort()];
        const child = spawnNode(['src/cli.ts', 'start', '--role', 'fetcher'], {
          ...env,
          PG_SCHEMA: ctx.schema,
          PORT: String(port),
          ADMIN_PORT: String(admin),
          LOG_LEVEL: 'warn',
        });
        fetchers.push({ child, port, admin });
      }
      for (const f of fetchers) {
        const health = await eventually(
          () =>
            request(`http://127.0.0.1:${f.port}/healthz`).then(
              (r) => r.statusCode,
              () => 0,
            ),
          (s) => s === 200,
          90_000,
        );
        expect(health, f.child.output()).toBe(200);
      }
      const requestedAt = await dbNow(ctx.pool);
      const producer = ctx.kafka.producer();
      await enqueueTasks(
        producer,
        config.kafka.topicPrefix,
        sim.core.integrations().map((i) =>
          newTask({
            integration_id: i.id,
            endpoint: 'hris/employees',
            mode: 'full',
            reason: 'test',
            requested_at: requestedAt,
          }),
        ),
      );
      await producer.close();
      await eventually(
        async () => arrivals.length,
        (n) => n > 0,
        60_000,
      );
      // Measured once every process has its share of the tasks and the first burst is spent.
      await new Promise((r) => setTimeout(r, 4_000));
      const from = performance.now();
      const before = await Promise.all(fetchers.map(pages));
      await new Promise((r) => setTimeout(r, 9_000));
      const to = performance.now();
      const after = await Promise.all(fetchers.map(pages));
      const inWindow = arrivals.filter((t) => t >= from && t < to);
      let most = 0;
      for (let i = 0, j = 0; i < inWindow.length; i++) {
        while ((inWindow[i] as number) - (inWindow[j] as number) >= 3_000) j++;
        most = Math.max(most, i - j + 1);
      }
      const seconds = (to - from) / 1000;
      const perProcess = after.map((n, i) => n - (before[i] ?? 0));
      const summary = { requests: inWindow.length, seconds, most3s: most, perProcess };
      // All three were fetching all along (a process without work would prove nothing) ...
      for (const n of perProcess) expect(n, JSON.stringify(summary)).toBeGreaterThan(0);
      const still = await eventually(
        async () => arrivals.at(-1) ?? 0,
        (t) => t >= to,
        5_000,
      );
      expect(still, `requests went on after the window: ${JSON.stringify(summary)}`).toBeGreaterThanOrEqual(to);
      // ... and together they stayed within the rate over the whole window and over every 3 s of it
      // (one burst of RATE tokens allowed), while using most of it.
      expect(inWindow.length, JSON.stringify(summary)).toBeLessThanOrEqual(RATE * seconds + RATE);
      expect(most, JSON.stringify(summary)).toBeLessThanOrEqual(RATE * 3 + RATE);
      expect(inWindow.length, JSON.stringify(summary)).toBeGreaterThanOrEqual(RATE * seconds * 0.7);
      // Throttled, they still stop at once when told.
      const t0 = Date.now();
      for (const f of fetchers) f.child.proc.kill('SIGTERM');
      for (const f of fetchers) expect(await f.child.exited, f.child.output()).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      for (const f of fetchers) f.child.proc.kill('SIGKILL');
      await sim.close();
      await ctx.pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.stateSchema}" CASCADE`);
    }
  }, 180_000);
});
