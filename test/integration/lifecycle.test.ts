import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, startRuntime } from '../../src/app/runtime.ts';
import type { Config } from '../../src/config/config.ts';
import { sharedLimiter } from '../../src/fetcher/rate-limit.ts';
import { addIntegrations, UnknownKomboIntegrationsError } from '../../src/integrations/onboard.ts';
import { LifecycleStore } from '../../src/integrations/store.ts';
import { komboClient } from '../../src/kombo/client.ts';
import { ENDPOINT_NAMES, ENDPOINTS, type EndpointName } from '../../src/kombo/endpoints.ts';
import { freePort } from '../../src/localstack/process.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth } from '../../src/sim/verify.ts';
import { StateStore } from '../../src/state/store.ts';
import { tasksTopic } from '../../src/topics/names.ts';
import { spawnNode } from '../helpers/child.ts';
import { quietLogger, testConfig } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic, topicSize } from '../helpers/topics.ts';

// An account with integrations connected before the connector existed, an integration whose first
// sync takes a while, and integrations that change state at Kombo: what a team meets on day one.
const SECRET = 'whsec_lifecycle_test';
let ctx: TestContext;
let sim: Simulator;
let runtime: Runtime | undefined;
let config: Config;
let store: StateStore;
let lifecycle: LifecycleStore;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  const port = await freePort();
  sim = await startSimulator({
    seed: 17,
    // Connected before the connector: no webhook ever announced them.
    integrations: [
      { category: 'HRIS', size: 30, unavailable: ['hris/timesheets'] },
      { category: 'ATS', size: 20 },
    ],
    webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret: SECRET, retryBaseMs: 100 },
  });
  config = testConfig(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_WEBHOOK_SECRET: SECRET,
    PORT: port,
    KOMBO_RATE_LIMIT: 200,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 100,
    FETCH_OVERLAP: '2s',
    FETCH_PAGE_SIZE: 10,
    FETCH_MAX_PAGES_PER_TURN: 2,
    SCHEDULER_TICK: '300ms',
    INTEGRATION_RECHECK_INTERVAL: '1s',
    INTEGRATION_REFRESH_INTERVAL: '1s',
    // Webhooks arrive: no polling would blur what the lifecycle does.
    DELTA_POLL_INTERVAL: '1h',
  });
  runtime = await startRuntime(config, ['ingress', 'planner', 'fetcher', 'sink'], {
    logger: quietLogger(),
    host: '127.0.0.1',
  });
  store = new StateStore(ctx.pool, config.postgres.stateSchema);
  lifecycle = new LifecycleStore(ctx.pool, config.postgres.stateSchema);
});
afterAll(async () => {
  await runtime?.stop();
  await sim?.stop();
  await ctx?.close();
});

const mirrored = (ids: string[], endpoints?: EndpointName[]) =>
  eventually(
    () => compareWithTruth(ctx.pool, ctx.schema, sim.core, ids, endpoints),
    (d) => d.length === 0,
    90_000,
  );
/** Endpoints of a category. */
const of = (category: string) => ENDPOINTS.filter((e) => e.category === category).length;
const stateOf = async (id: string) => (await lifecycle.get(id))?.hold ?? 'active';

describe('integration lifecycle', () => {
  it('onboards existing integrations by id: an unknown id adds none; then each is mirrored, with only the models it has', async () => {
    const [hris, ats] = sim.core.integrations().map((i) => i.id) as [string, string];
    const client = komboClient(config, 'test');
    const producer = ctx.kafka.producer();
    const deps = { config, store, lifecycle, client, producer, limiter: sharedLimiter(config, ctx.pool) };
    const tasksBefore = await topicSize(ctx.kafka, tasksTopic(config.kafka.topicPrefix));
    await expect(addIntegrations(deps, [hris, 'typo-id', ats])).rejects.toBeInstanceOf(UnknownKomboIntegrationsError);
    expect(await store.listIntegrations()).toEqual([]);
    expect(await topicSize(ctx.kafka, tasksTopic(config.kafka.topicPrefix))).toBe(tasksBefore);

    // The CLI, from a file of ids, as the README's first-day procedure does it.
    const file = path.join(tmpdir(), `ids-${process.pid}.txt`);
    await writeFile(file, `# our customers\n${hris}\n\n${ats}\n`);
    const cli = spawnNode(['src/cli.ts', 'integrations', 'add', '--from-file', file], {
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      TOPIC_PREFIX: ctx.prefix,
      PG_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
    });
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toMatch(
      new RegExp(`added ${hris} \\(HRIS [a-z]+\\): active; ${of('hris') - 1} fetches queued`),
    );
    expect(cli.output()).toMatch(new RegExp(`added ${ats} \\(ATS [a-z]+\\): active; ${of('ats')} fetches queued`));
    expect(await mirrored([hris, ats])).toEqual([]);
    // Its tool has no timesheets: never asked for, so nothing failed or was dead-lettered for it.
    expect((await lifecycle.get(hris))?.unavailable).toEqual({ 'hris/timesheets': 'READ_MODEL_UNAVAILABLE' });
    expect((await store.endpointStates(hris)).map((s) => s.endpoint)).not.toContain('hris/timesheets');
    expect((await store.endpointStates()).filter((s) => s.dead_letters > 0 || s.status === 'failed')).toEqual([]);
    // Adding again changes nothing.
    const again = await addIntegrations(deps, [hris]);
    expect(again).toMatchObject([{ integration_id: hris, already_known: true, queued: 0 }]);
    const list = spawnNode(['src/cli.ts', 'integrations', 'list'], {
      TOPIC_PREFIX: ctx.prefix,
      PG_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
    });
    expect(await list.exited).toBe(0);
    expect(list.output()).toMatch(new RegExp(`${hris}  HRIS [a-z]+  active  not available: hris/timesheets`));
    await producer.close();
    await client.close();
  }, 180_000);

  it('parks an integration whose first sync is pending, without polling it, and mirrors it once the sync is done', async () => {
    sim.core.syncDurationMs = 8_000;
    const creating = sim.core.createIntegration({ category: 'HRIS', size: 25 });
    const id = await eventually(async () => sim.core.integrations().find((i) => !i.setupDone)?.id, Boolean, 10_000);
    await eventually(
      () => stateOf(id as string),
      (s) => s === 'setup_pending',
      10_000,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    // Parked: each endpoint's first task asks at most once (those already queued when the 409 came
    // run and are refused), and nothing asks again while it waits (it used to poll each endpoint
    // every 30 s for two hours; the re-check here is every second). The sync ends after 8 s.
    const asked = sim.core.listRequests.get(id as string) ?? 0;
    expect(asked).toBeLessThanOrEqual(of('hris'));
    await new Promise((r) => setTimeout(r, 2_000));
    expect(sim.core.integration(id as string)?.setupDone).toBe(false);
    expect(sim.core.listRequests.get(id as string) ?? 0).toBe(asked);
    await creating;
    sim.core.syncDurationMs = 0;
    expect(await mirrored([id as string])).toEqual([]);
    expect(await stateOf(id as string)).toBe('active');
  }, 120_000);

  it('holds an integration Kombo set inactive, sends it nothing meanwhile, and catches up when it is active again', async () => {
    const [hris] = sim.core.integrations().map((i) => i.id) as [string];
    sim.core.setLifecycle(hris, { status: 'INACTIVE' });
    await eventually(
      () => stateOf(hris),
      (s) => s === 'attention',
      20_000,
    );
    const held = await lifecycle.get(hris);
    expect(held).toMatchObject({ hold_code: 'INTEGRATION.INACTIVE', kombo_status: 'INACTIVE' });
    const admin = await fetch(`${runtime?.adminUrl}/metrics`);
    expect(await admin.text()).toMatch(/kombo_stream_integrations\{state="needs_attention"\} 1/);
    // A change at Kombo while it is held: its webhook is planned, and the fetch is not sent.
    const asked = sim.core.listRequests.get(hris) ?? 0;
    await sim.core.change(hris, [{ op: 'update', endpoint: 'hris/employees' }]);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(sim.core.listRequests.get(hris) ?? 0).toBe(asked);
    sim.core.setLifecycle(hris, { status: 'ACTIVE' });
    await eventually(
      () => stateOf(hris),
      (s) => s === 'active',
      20_000,
    );
    expect(await mirrored([hris])).toEqual([]);
  }, 120_000);

  it('re-fetches everything when data that expired (a scope-config change) is valid again', async () => {
    const [, ats] = sim.core.integrations().map((i) => i.id) as [string, string];
    const fullRuns = async () =>
      (await readTopic(ctx.kafka, tasksTopic(config.kafka.topicPrefix))).filter(
        (r) =>
          r.value?.toString().includes(`"integration_id":"${ats}"`) && r.value?.toString().includes('data-revalidated'),
      ).length;
    sim.core.setLifecycle(ats, { dataExpiredAt: Date.now() });
    await eventually(async () => (await lifecycle.get(ats))?.data_expired_at, Boolean, 20_000);
    expect(await fullRuns()).toBe(0);
    sim.core.setLifecycle(ats, { dataExpiredAt: null });
    expect(await eventually(fullRuns, (n) => n === of('ats'), 20_000)).toBe(of('ats'));
    expect(await mirrored([ats])).toEqual([]);
  }, 120_000);

  it('stops fetching a model a fetch finds unavailable, without dead letters, and goes on with the rest', async () => {
    const [, ats] = sim.core.integrations().map((i) => i.id) as [string, string];
    // Not announced (read_models still lists it; the refresher reads it every second): only a fetch can find out.
    sim.core.integration(ats)?.life.refusedUnannounced.add('ats/offers');
    await sim.core.change(ats, [
      { op: 'update', endpoint: 'ats/offers' },
      { op: 'update', endpoint: 'ats/candidates' },
    ]);
    await eventually(async () => (await lifecycle.get(ats))?.unavailable['ats/offers'], Boolean, 20_000);
    expect((await lifecycle.get(ats))?.unavailable['ats/offers']).toBe('INTEGRATION.MODEL_NOT_AVAILABLE');
    // The rows it had stay as they were (Kombo serves no more of them); everything else goes on.
    expect(
      await mirrored(
        [ats],
        ENDPOINT_NAMES.filter((e) => e !== 'ats/offers'),
      ),
    ).toEqual([]);
    const offers = (await store.endpointStates(ats)).find((s) => s.endpoint === 'ats/offers');
    expect(offers?.dead_letters).toBe(0);
  }, 120_000);
});
