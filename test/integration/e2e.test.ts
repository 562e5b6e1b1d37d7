import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../../src/app/role.ts';
import { type Runtime, startRuntime } from '../../src/app/runtime.ts';
import { freePort } from '../../src/localstack/process.ts';
import { triggerSync } from '../../src/planner/trigger.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth, summarise } from '../../src/sim/verify.ts';
import { StateStore } from '../../src/state/store.ts';
import { quietLogger, testConfig } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';

const SECRET = 'whsec_e2e';
let ctx: TestContext;
let sim: Simulator;
let runtime: Runtime;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  const port = await freePort();
  sim = await startSimulator({
    seed: 99,
    webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret: SECRET, retryBaseMs: 200 },
    syncDurationMs: 150,
    commitLagMs: 300,
  });
  const config = testConfig(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_WEBHOOK_SECRET: SECRET,
    PORT: port,
    KOMBO_RATE_LIMIT: 300,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 50,
    FETCH_OVERLAP: '2s',
    FETCH_CONCURRENCY: 6,
    SCHEDULER_TICK: '1h',
  });
  runtime = await startRuntime(config, ROLES, { logger: quietLogger(), host: '127.0.0.1' });
});
afterAll(async () => {
  await runtime?.stop();
  await sim?.stop();
  await ctx?.close();
});

describe('end to end: 20 integrations with live changes and webhooks', () => {
  it('Postgres equals the simulator truth at quiescence: 0 missing, 0 stale, 0 extra', async () => {
    for (let k = 0; k < 20; k++)
      await sim.core.createIntegration({ category: k % 2 ? 'ATS' : 'HRIS', size: 10 + (k % 5) * 8 });
    sim.core.startLiveChanges({ changesPerSec: 40, batch: 4 });
    await new Promise((r) => setTimeout(r, 15_000));
    sim.core.stopLiveChanges();
    await sim.core.settle();
    const ids = sim.core.integrations().map((i) => i.id);
    expect(ids).toHaveLength(20);
    const converge = async (by: 'content' | 'changed-at') => {
      const deadline = Date.now() + 90_000;
      let diff = await compareWithTruth(ctx.pool, ctx.schema, sim.core, ids, undefined, by);
      while (diff.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1_000));
        diff = await compareWithTruth(ctx.pool, ctx.schema, sim.core, ids, undefined, by);
      }
      return summarise(diff);
    };
    // Webhooks and deltas alone bring every record's own fields up to date...
    expect(await converge('changed-at')).toEqual({ missing: 0, stale: 0, extra: 0 });
    // ...and the drift pass corrects the nested data Kombo's updated_after does not report.
    for (const id of ids)
      await triggerSync(
        {
          config: runtime.deps.config,
          store: new StateStore(ctx.pool, ctx.stateSchema),
          producer: ctx.kafka.producer(),
        },
        id,
        { mode: 'full' },
      );
    expect(await converge('content')).toEqual({ missing: 0, stale: 0, extra: 0 });
    const acked = sim.core.webhooks.acknowledged().filter((w) => w.type === 'data-changed').length;
    expect(acked).toBeGreaterThan(20);
  }, 240_000);
});
