import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/app/runtime.ts';
import { startRuntime } from '../../src/app/runtime.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth } from '../../src/sim/verify.ts';
import { quietLogger, testConfig } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually } from '../helpers/topics.ts';

const SECRET = 'whsec_pipeline_test';
let ctx: TestContext;
let sim: Simulator;
let runtime: Runtime;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  // The connector's port must be known before the simulator can point its webhooks at it.
  const { freePort } = await import('../../src/localstack/process.ts');
  const port = await freePort();
  sim = await startSimulator({
    seed: 5,
    integrations: [
      { category: 'HRIS', size: 40 },
      { category: 'ATS', size: 30 },
    ],
    webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret: SECRET, retryBaseMs: 100 },
  });
  const config = testConfig(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_WEBHOOK_SECRET: SECRET,
    PORT: port,
    KOMBO_RATE_LIMIT: 200,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 100,
    FETCH_OVERLAP: '2s',
    SCHEDULER_TICK: '1h',
  });
  runtime = await startRuntime(config, ['ingress', 'planner', 'fetcher', 'sink'], {
    logger: quietLogger(),
    host: '127.0.0.1',
  });
});
afterAll(async () => {
  await runtime?.stop();
  await sim?.stop();
  await ctx?.close();
});

describe('the whole pipeline', () => {
  it('mirrors integrations announced by webhook, then follows changes, into Postgres', async () => {
    const ids = sim.core.integrations().map((i) => i.id);
    // Existing integrations are announced like new ones: the planner plans their first full fetch.
    for (const i of sim.core.integrations()) {
      sim.core.webhooks.send('integration-created', { id: i.id, tool: i.tool, category: i.category });
    }
    let diff = await eventually(
      () => compareWithTruth(ctx.pool, ctx.schema, sim.core, ids),
      (d) => d.length === 0,
      60_000,
    );
    expect(diff).toEqual([]);
    for (const id of ids) {
      const changes = Array.from({ length: 15 }, () => ({
        op: 'update' as const,
        endpoint: (id.startsWith('lever') || id.startsWith('greenhouse')
          ? 'ats/candidates'
          : 'hris/employees') as never,
      }));
      await sim.core.change(id, changes);
    }
    await sim.core.change(
      ids[0] as string,
      [
        { op: 'delete', endpoint: 'hris/employees' },
        { op: 'nested', relation: 'employee-groups' },
        { op: 'create', endpoint: 'hris/employees' },
      ],
      'FULL', // the kind of Kombo sync that marks deletions
    );
    diff = await eventually(
      () => compareWithTruth(ctx.pool, ctx.schema, sim.core, ids),
      (d) => d.length === 0,
      60_000,
    );
    expect(diff).toEqual([]);
  });
});
