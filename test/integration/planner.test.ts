import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminApp, listen } from '../../src/app/http.ts';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { integrationStatus } from '../../src/app/status.ts';
import { adminRouter } from '../../src/ingress/admin.ts';
import { EVENT_HEADERS } from '../../src/ingress/webhook.ts';
import { ENDPOINT_NAMES } from '../../src/kombo/endpoints.ts';
import { startPlanner } from '../../src/planner/role.ts';
import { Scheduler } from '../../src/planner/scheduler.ts';
import type { FetchTask } from '../../src/planner/task.ts';
import { StateStore } from '../../src/state/store.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import { eventsTopic, tasksTopic } from '../../src/topics/names.ts';
import { topicSpecs } from '../../src/topics/topology.ts';
import { quietLogger, testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

let ctx: TestContext;
let deps: RoleDeps;
let planner: RunningRole;
let producer: Producer;
let store: StateStore;
const TOKEN = 'admin-token-for-tests-0001';
const HRIS_ENDPOINTS = ENDPOINT_NAMES.filter((e) => e.startsWith('hris/')).length;
const ATS_ENDPOINTS = ENDPOINT_NAMES.filter((e) => e.startsWith('ats/')).length;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  deps = await testDeps(ctx, { ADMIN_TOKEN: TOKEN, DELTA_POLL_INTERVAL: '1h' });
  const t = topicSpecs(deps.config);
  await ctx.kafka.ensureTopics([t.events, t.tasks, t.dlq]);
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  producer = ctx.kafka.producer();
  planner = await startPlanner(deps, { scheduler: false, maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  await planner?.stop();
  await producer?.close();
  await ctx?.close();
});

async function publish(...events: { id: string; type: string; data: unknown; key?: string }[]) {
  await producer.send(
    eventsTopic(deps.config.kafka.topicPrefix),
    events.map((e) => ({
      key: e.key ?? null,
      value: JSON.stringify({ id: e.id, type: e.type, data: e.data }),
      headers: { [EVENT_HEADERS.id]: e.id, [EVENT_HEADERS.type]: e.type },
    })),
  );
}
const tasks = async () =>
  (await readTopic(ctx.kafka, tasksTopic(deps.config.kafka.topicPrefix))).map(
    (r) => JSON.parse(r.value?.toString() ?? '') as FetchTask,
  );
const dc = (id: string, integration: string, models: string[]) => ({
  id,
  type: 'data-changed',
  key: integration,
  data: {
    integration_id: integration,
    integration_tool: 'personio',
    integration_category: 'HRIS',
    changed_models: models.map((name) => ({ name })),
  },
});

describe('planner: events -> tasks', () => {
  it('plans deltas for changed models, once per webhook id, keyed by integration', async () => {
    await publish(dc('w1', 'personio:one', ['hris_employments']), dc('w1', 'personio:one', ['hris_employments']));
    const got = await eventually(tasks, (t) => t.length >= 2);
    await new Promise((r) => setTimeout(r, 1_000));
    await publish(dc('w1', 'personio:one', ['hris_employments']));
    await new Promise((r) => setTimeout(r, 1_500));
    const all = await tasks();
    expect(
      all
        .filter((t) => t.reason.endsWith(':w1'))
        .map((t) => t.endpoint)
        .sort(),
    ).toEqual(['hris/employees', 'hris/employments']);
    expect(got.every((t) => t.mode === 'delta' && t.integration_id === 'personio:one')).toBe(true);
    const records = await readTopic(ctx.kafka, tasksTopic(deps.config.kafka.topicPrefix));
    expect(records.every((r) => r.key?.toString() === 'personio:one')).toBe(true);
    const integration = await store.getIntegration('personio:one');
    expect(integration?.webhooks_seen_at).toBeInstanceOf(Date);
  });

  it('a model it does not know plans nothing, and is counted by name', async () => {
    await publish(dc('w-unknown', 'personio:two', ['hris_brand_new_model', 'hris_timesheets']));
    await eventually(tasks, (t) => t.some((x) => x.reason.endsWith(':w-unknown')));
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await tasks()).filter((t) => t.reason.endsWith(':w-unknown')).map((t) => t.endpoint)).toEqual([
      'hris/timesheets',
    ]);
    expect(await deps.metrics.getSingleMetricAsString('kombo_stream_planner_unknown_models_total')).toMatch(
      /kombo_stream_planner_unknown_models_total\{model="hris_brand_new_model"\} 1/,
    );
  });

  it('integration-created -> full fetches of its category; integration-deleted -> purges; unknown -> nothing', async () => {
    await publish(
      {
        id: 'c1',
        type: 'integration-created',
        key: 'greenhouse:new',
        data: { id: 'greenhouse:new', tool: 'greenhouse', category: 'ATS' },
      },
      { id: 'u1', type: 'brand-new-event', data: { x: 1 } },
      {
        id: 'd1',
        type: 'integration-deleted',
        key: 'greenhouse:new',
        data: { id: 'greenhouse:new', tool: 'greenhouse', category: 'ATS', deleted_at: new Date().toISOString() },
      },
    );
    const all = await eventually(
      tasks,
      (t) => t.filter((x) => x.integration_id === 'greenhouse:new').length >= 2 * ATS_ENDPOINTS,
    );
    const mine = all.filter((x) => x.integration_id === 'greenhouse:new');
    expect(mine.filter((t) => t.mode === 'full')).toHaveLength(ATS_ENDPOINTS);
    expect(mine.filter((t) => t.mode === 'purge')).toHaveLength(ATS_ENDPOINTS);
    expect(all.some((t) => t.reason.includes('u1'))).toBe(false);
    expect((await store.getIntegration('greenhouse:new'))?.deleted_at).toBeInstanceOf(Date);
  });
});

describe('scheduler', () => {
  it('two schedulers racing enqueue each due fetch exactly once; webhook integrations are not polled', async () => {
    for (const id of ['bamboohr:a', 'bamboohr:b', 'bamboohr:c'])
      await store.applyIntegrationUpdate({ integration_id: id, tool: 'bamboohr', category: 'HRIS' });
    await store.applyIntegrationUpdate({
      integration_id: 'bamboohr:hooks',
      tool: 'bamboohr',
      category: 'HRIS',
      webhook: true,
    });
    const s = { config: deps.config, store, producer, logger: quietLogger() };
    const a = new Scheduler(s);
    const b = new Scheduler(s);
    await a.tick(); // creates rows due in the future: nothing enqueued yet
    await ctx.pool.query(
      `UPDATE ${store.schema}.schedules SET next_due_at = now() - interval '1 minute' WHERE integration_id LIKE 'bamboohr:%'`,
    );
    const before = new Set((await tasks()).map((t) => t.task_id));
    const [na, nb] = await Promise.all([a.tick(), b.tick()]);
    const after = (await tasks()).filter((t) => !before.has(t.task_id));
    // 3 polled integrations x every HRIS endpoint x (delta + full) + the webhook one's fulls
    expect(na + nb).toBe(3 * HRIS_ENDPOINTS * 2 + HRIS_ENDPOINTS);
    expect(after).toHaveLength(na + nb);
    expect(after.filter((t) => t.integration_id === 'bamboohr:hooks').every((t) => t.mode === 'full')).toBe(true);
    expect(await a.tick()).toBe(0);
  });

  it('polls again an integration whose webhooks stopped, and its status says so', async () => {
    await store.applyIntegrationUpdate({
      integration_id: 'bamboohr:silent',
      tool: 'bamboohr',
      category: 'HRIS',
      webhook: true,
    });
    const sch = new Scheduler({ config: deps.config, store, producer, logger: quietLogger() });
    await sch.tick();
    const due = () =>
      ctx.pool.query(
        `UPDATE ${store.schema}.schedules SET next_due_at = now() - interval '1 minute' WHERE integration_id = 'bamboohr:silent'`,
      );
    await due();
    const fresh = async () => {
      const before = new Set((await tasks()).map((t) => t.task_id));
      await sch.tick();
      return (await tasks()).filter((t) => !before.has(t.task_id) && t.integration_id === 'bamboohr:silent');
    };
    // While its webhooks arrive: only the weekly full fetches.
    expect(new Set((await fresh()).map((t) => t.mode))).toEqual(new Set(['full']));
    expect(
      (await integrationStatus(store, deps.config.planner.deltaPollIntervalMs, 'bamboohr:silent'))[0],
    ).toMatchObject({
      change_detection: 'webhooks',
    });
    // The last one came longer ago than the poll interval: polled again.
    await ctx.pool.query(
      `UPDATE ${store.schema}.integrations SET webhooks_seen_at = now() - make_interval(secs => $1::double precision / 1000 + 60) WHERE integration_id = 'bamboohr:silent'`,
      [deps.config.planner.deltaPollIntervalMs],
    );
    await due();
    const polled = await fresh();
    expect(polled.filter((t) => t.mode === 'delta')).toHaveLength(HRIS_ENDPOINTS);
    expect(
      (await integrationStatus(store, deps.config.planner.deltaPollIntervalMs, 'bamboohr:silent'))[0],
    ).toMatchObject({
      change_detection: 'polling',
    });
  });

  it('skips paused integrations', async () => {
    await store.applyIntegrationUpdate({ integration_id: 'bamboohr:paused', tool: 'bamboohr', category: 'HRIS' });
    await store.setPaused('bamboohr:paused', true);
    const sch = new Scheduler({ config: deps.config, store, producer, logger: quietLogger() });
    await sch.tick();
    await ctx.pool.query(
      `UPDATE ${store.schema}.schedules SET next_due_at = now() - interval '1 minute' WHERE integration_id = 'bamboohr:paused'`,
    );
    expect(await sch.tick()).toBe(0);
  });
});

describe('admin API', () => {
  it('is behind the token and triggers, pauses, resumes and resets watermarks', async () => {
    const app = buildAdminApp({
      metrics: deps.metrics,
      health: () => ({}),
      routers: [adminRouter({ config: deps.config, store, producer })],
    });
    const server = await listen(app, 0, '127.0.0.1');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin`;
    const call = async (method: string, path: string, body?: unknown, token = TOKEN) => {
      const res = await request(`${base}${path}`, {
        method: method as 'GET',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
      return { status: res.statusCode, body: (await res.body.json()) as any };
    };
    try {
      expect((await call('GET', '/integrations', undefined, 'wrong-token')).status).toBe(401);
      const list = await call('GET', '/integrations');
      expect(list.status).toBe(200);
      expect(list.body.integrations.map((i: any) => i.integration_id)).toContain('bamboohr:a');

      const before = new Set((await tasks()).map((t) => t.task_id));
      const full = await call('POST', '/integrations/bamboohr:a/sync', { mode: 'full', endpoints: ['hris/employees'] });
      expect(full.status).toBe(202);
      const added = (await tasks()).filter((t) => !before.has(t.task_id));
      expect(added.map((t) => [t.integration_id, t.endpoint, t.mode])).toEqual([
        ['bamboohr:a', 'hris/employees', 'full'],
      ]);
      const next = await ctx.pool.query(
        `SELECT next_due_at FROM ${store.schema}.schedules WHERE integration_id = 'bamboohr:a' AND endpoint = 'hris/employees' AND kind = 'full'`,
      );
      const due = (next.rows[0].next_due_at as Date).getTime() - Date.now();
      expect(due).toBeGreaterThan(6.9 * 86_400_000);

      expect(
        (await call('POST', '/integrations/bamboohr:a/sync', { mode: 'full', endpoints: ['ats/jobs'] })).status,
      ).toBe(400);
      expect((await call('POST', '/integrations/nobody:x/sync', { mode: 'delta' })).status).toBe(404);

      expect((await call('POST', '/integrations/bamboohr:a/pause')).body.paused).toBe(true);
      expect((await store.getIntegration('bamboohr:a'))?.paused).toBe(true);
      const resumed = await call('POST', '/integrations/bamboohr:a/resume');
      expect(resumed.body.tasks).toHaveLength(HRIS_ENDPOINTS);

      const wm = await call('PUT', '/integrations/bamboohr:a/endpoints/hris/employees/watermark', {
        watermark: '2026-01-01T00:00:00.000Z',
      });
      expect(wm.status).toBe(200);
      const st = await store.endpointStates('bamboohr:a');
      expect(st.find((x) => x.endpoint === 'hris/employees')?.watermark?.toISOString()).toBe(
        '2026-01-01T00:00:00.000Z',
      );
      expect(
        (await call('PUT', '/integrations/bamboohr:a/endpoints/hris/employees/watermark', { watermark: 'yesterday' }))
          .status,
      ).toBe(400);
    } finally {
      server.close();
    }
  });
});
