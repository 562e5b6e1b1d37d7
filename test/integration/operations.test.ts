import { spawn } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../../src/app/role.ts';
import { startRuntime } from '../../src/app/runtime.ts';
import { ENDPOINTS } from '../../src/kombo/endpoints.ts';
import { freePort } from '../../src/localstack/process.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth, summarise } from '../../src/sim/verify.ts';
import { tableLayout } from '../../src/sink/layout.ts';
import { ensureTable } from '../../src/sink/tables.ts';
import { readValueSchema } from '../../src/topics/schemas.ts';
import { spawnNode } from '../helpers/child.ts';
import { quietLogger, testConfig } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually } from '../helpers/topics.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
});
afterAll(async () => ctx?.close());

describe('graceful shutdown under load', () => {
  it('SIGTERM exits 0 within its budget while one integration is throttled for an hour and a page is mid-retry', async () => {
    const sim: Simulator = await startSimulator({
      seed: 33,
      integrations: [
        { category: 'HRIS', size: 20 },
        { category: 'HRIS', size: 20 },
        { category: 'HRIS', size: 20 },
      ],
    });
    const [throttled, failing, fine] = sim.core.integrations().map((i) => i.id) as [string, string, string];
    // The first integration's own HR system asks for an hour; the second's answers 5xx for now.
    sim.core.setApiFaults({ remoteRateLimited: [throttled], failIntegrations: [failing], retryAfterSec: 3_600 });
    const port = await freePort();
    const { StateStore } = await import('../../src/state/store.ts');
    const { triggerSync } = await import('../../src/planner/trigger.ts');
    const config = testConfig(ctx, {
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      PORT: port,
      KOMBO_ENDPOINTS: 'hris/employees',
      FETCH_RETRY_BASE: '20s',
      FETCH_RETRY_MAX: '60s',
      SCHEDULER_TICK: '50ms',
      TOPIC_PREFIX: `${ctx.prefix}.budget`,
      STATE_SCHEMA: `${ctx.stateSchema}_b`,
      PG_SCHEMA: `${ctx.schema}_b`,
    });
    const child = spawnNode(['src/cli.ts', 'start'], {
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      KOMBO_WEBHOOK_SECRET: 'whsec_budget',
      PORT: String(port),
      KOMBO_ENDPOINTS: 'hris/employees',
      FETCH_RETRY_BASE: '20s',
      FETCH_RETRY_MAX: '60s',
      SCHEDULER_TICK: '50ms',
      TOPIC_PREFIX: config.kafka.topicPrefix,
      STATE_SCHEMA: config.postgres.stateSchema,
      PG_SCHEMA: config.postgres.sinkSchema,
      KAFKA_PARTITIONS: '3',
      LOG_LEVEL: 'warn',
    });
    try {
      await eventually(
        () =>
          request(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.statusCode,
            () => 0,
          ),
        (s) => s === 200,
        60_000,
      );
      const { poolFor } = await import('../../src/state/pool.ts');
      const pool = poolFor(config, { max: 2 });
      const store = new StateStore(pool, config.postgres.stateSchema);
      const producer = ctx.kafka.producer();
      for (const id of [throttled, failing, fine]) {
        await store.upsertIntegration({ integration_id: id, tool: 'personio', category: 'HRIS' });
        await triggerSync({ config, store, producer }, id, { mode: 'full' });
      }
      await producer.close();
      // The other integration is not held up by the throttled one: its fetch finishes.
      await eventually(
        () => store.endpointState(fine, 'hris/employees'),
        (s) => s?.status === 'ok',
        30_000,
      );
      // Both others are now waiting: an hour for the throttle, 20 s or more for the next retry.
      await eventually(
        () => store.endpointState(throttled, 'hris/employees'),
        (s) => s?.status === 'running',
        30_000,
      );
      await pool.end();
      const t0 = Date.now();
      child.proc.kill('SIGTERM');
      expect(await child.exited, child.output()).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      child.proc.kill('SIGKILL');
      await sim.stop();
      await ctx.pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.stateSchema}" CASCADE`);
      await ctx.pool.query(`DROP SCHEMA IF EXISTS "${config.postgres.sinkSchema}" CASCADE`);
    }
  }, 180_000);

  it('a start that fails keeps retrying (nothing else alive meanwhile), and SIGTERM during the wait exits 0', async () => {
    // Postgres unreachable: each attempt fails and releases everything it opened. The wait between
    // attempts used to be an unref'd timer, so Node found nothing to wait on and exited with 13.
    const closed = await freePort();
    const child = spawnNode(['src/cli.ts', 'start', '--role', 'sink'], {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/postgres`,
      TOPIC_PREFIX: ctx.prefix,
      LOG_LEVEL: 'warn',
    });
    try {
      await eventually(
        async () => (child.output().match(/start failed; retrying/g) ?? []).length,
        (n) => n >= 3,
        30_000,
      );
      expect(child.proc.exitCode, child.output()).toBeNull();
      child.proc.kill('SIGTERM');
      expect(await child.exited, child.output()).toBe(0);
    } finally {
      child.proc.kill('SIGKILL');
    }
  }, 60_000);

  it('stopping is bounded while work abandoned at its deadline still holds a Postgres client', async () => {
    // As a fetch stuck in a send to a broker that is down holds its integration's lock client.
    const runtime = await startRuntime(testConfig(ctx, { PORT: 0 }), ['sink'], {
      logger: quietLogger(),
      host: '127.0.0.1',
    });
    const held = await runtime.deps.pool.connect();
    const t0 = Date.now();
    await runtime.stop();
    expect(Date.now() - t0).toBeLessThan(15_000);
    held.release();
  }, 60_000);

  it('SIGTERM exits 0 promptly, and across the restart Postgres loses and duplicates nothing', async () => {
    const port = await freePort();
    const secret = 'whsec_graceful';
    const sim: Simulator = await startSimulator({
      seed: 31,
      webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret, retryBaseMs: 300, maxAttempts: 12 },
    });
    // Every row write is audited, to prove none happens twice for the same record version.
    await ctx.pool.query(`CREATE TABLE "${ctx.schema}".audit (tbl text, id text, off bigint)`);
    await ctx.pool.query(
      `CREATE FUNCTION "${ctx.schema}".audit_fn() RETURNS trigger AS $$ BEGIN INSERT INTO "${ctx.schema}".audit VALUES (TG_TABLE_NAME, NEW.id, NEW._kombo_offset); RETURN NEW; END $$ LANGUAGE plpgsql`,
    );
    for (const { name } of ENDPOINTS) {
      const layout = tableLayout(name, readValueSchema(name));
      await ensureTable(ctx.pool, ctx.schema, layout);
      await ctx.pool.query(
        `CREATE TRIGGER audit AFTER INSERT OR UPDATE ON "${ctx.schema}".${layout.table} FOR EACH ROW EXECUTE FUNCTION "${ctx.schema}".audit_fn()`,
      );
    }
    const env = {
      ...process.env,
      KAFKA_BROKERS: ctx.brokers.join(','),
      DATABASE_URL: ctx.databaseUrl,
      TOPIC_PREFIX: ctx.prefix,
      PG_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      KOMBO_WEBHOOK_SECRET: secret,
      PORT: String(port),
      ADMIN_PORT: '0',
      KAFKA_PARTITIONS: '3',
      KAFKA_SESSION_TIMEOUT: '6s',
      KOMBO_RATE_LIMIT: '200',
      KOMBO_RATE_LIMIT_PER_INTEGRATION: '50',
      FETCH_OVERLAP: '3s',
      LOG_LEVEL: 'warn',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    };
    const start = () =>
      spawn(
        process.execPath,
        ['--disable-warning=TimeoutNegativeWarning', path.join(import.meta.dirname, '../../src/cli.ts'), 'start'],
        { env, stdio: 'ignore' },
      );
    try {
      let proc = start();
      await eventually(
        async () =>
          await request(`http://127.0.0.1:${port}/healthz`).then(
            (r) => r.statusCode,
            () => 0,
          ),
        (s) => s === 200,
        60_000,
      );
      for (let k = 0; k < 4; k++) await sim.core.createIntegration({ category: k % 2 ? 'ATS' : 'HRIS', size: 40 });
      sim.core.startLiveChanges({ changesPerSec: 30 });
      await new Promise((r) => setTimeout(r, 6_000));
      const t0 = Date.now();
      proc.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => proc.once('exit', r));
      const took = Date.now() - t0;
      expect(code).toBe(0);
      expect(took).toBeLessThan(30_000);
      await new Promise((r) => setTimeout(r, 2_000)); // webhooks meanwhile are refused: Kombo retries them
      proc = start();
      await new Promise((r) => setTimeout(r, 5_000));
      sim.core.stopLiveChanges();
      await sim.core.settle();
      const ids = sim.core.integrations().map((i) => i.id);
      const diff = await eventually(
        () => compareWithTruth(ctx.pool, ctx.schema, sim.core, ids, undefined, 'changed-at'),
        (d) => d.length === 0,
        90_000,
      );
      expect(summarise(diff)).toEqual({ missing: 0, stale: 0, extra: 0 });
      const dup = await ctx.pool.query(
        `SELECT tbl, id, off, count(*) FROM "${ctx.schema}".audit GROUP BY 1, 2, 3 HAVING count(*) > 1`,
      );
      expect(dup.rows).toEqual([]);
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    } finally {
      await sim.stop();
    }
  }, 240_000);
});

describe('status API', () => {
  it('shows a failing integration as failed, with its error, and the others as ok', async () => {
    const c2 = await createTestContext(import.meta.url);
    const sim = await startSimulator({
      seed: 41,
      integrations: [
        { category: 'HRIS', size: 10 },
        { category: 'HRIS', size: 10 },
      ],
    });
    const [good, bad] = sim.core.integrations().map((i) => i.id) as [string, string];
    sim.core.setApiFaults({ failIntegrations: [bad] });
    const token = 'status-api-test-token-1';
    const runtime = await startRuntime(
      testConfig(c2, {
        KOMBO_API_URL: sim.url,
        KOMBO_API_KEY: sim.apiKey,
        KOMBO_WEBHOOK_SECRET: 'whsec_status',
        ADMIN_TOKEN: token,
        PORT: 0,
        FETCH_MAX_ATTEMPTS: 2,
        FETCH_RETRY_BASE: '10ms',
        KOMBO_ENDPOINTS: 'hris/employees,hris/groups',
        KOMBO_RATE_LIMIT: 100,
      }),
      ROLES,
      { logger: quietLogger(), host: '127.0.0.1' },
    );
    try {
      const admin = async (method: 'GET' | 'POST', p: string) => {
        const r = await request(`${runtime.adminUrl}/admin${p}`, {
          method,
          headers: { authorization: `Bearer ${token}` },
        });
        return (await r.body.json()) as any;
      };
      // Register the integrations as integration-created would, then sync them.
      const { StateStore } = await import('../../src/state/store.ts');
      const store = new StateStore(c2.pool, c2.stateSchema);
      for (const id of [good, bad]) {
        await store.upsertIntegration({ integration_id: id, tool: 'personio', category: 'HRIS' });
        await admin('POST', `/integrations/${id}/sync`);
      }
      // Both endpoints of each must be there: every() of no endpoints would hold before anything ran.
      const all = (l: any, id: string, status: string) => {
        const e = l.integrations.find((i: any) => i.integration_id === id)?.endpoints ?? [];
        return e.length === 2 && e.every((x: any) => x.status === status);
      };
      const list = await eventually(
        () => admin('GET', '/integrations'),
        (l) => all(l, bad, 'failed') && all(l, good, 'ok'),
        60_000,
      );
      const badEndpoints = list.integrations.find((i: any) => i.integration_id === bad).endpoints;
      expect(badEndpoints).toHaveLength(2);
      for (const e of badEndpoints) {
        expect(e.status).toBe('failed');
        expect(e.last_error_code).toBe('KS_ERR_KOMBO_SERVER');
        expect(e.last_error).toMatch(/Kombo answered 5\d\d/);
      }
      expect(list.lag).toEqual(expect.objectContaining({ [`kombo-stream.${c2.prefix}.sink`]: expect.any(Number) }));
      const goodEndpoints = list.integrations.find((i: any) => i.integration_id === good).endpoints;
      expect(goodEndpoints.find((e: any) => e.endpoint === 'hris/employees')).toMatchObject({
        records: 10,
        dead_letters: 0,
        status: 'ok',
      });
      expect(goodEndpoints[0].watermark_age_s).toEqual(expect.any(Number));
      expect(badEndpoints.every((e: any) => e.dead_letters >= 1)).toBe(true);
      const health = await request(`${runtime.url}/healthz`);
      expect(health.statusCode).toBe(200);
      await health.body.dump();
    } finally {
      await runtime.stop();
      await sim.stop();
      await c2.close();
    }
  }, 120_000);
});
