import { ROLES } from '../src/app/role.ts';
import { startRuntime } from '../src/app/runtime.ts';
import { freePort } from '../src/localstack/process.ts';
import { createLogger } from '../src/observability/log.ts';
import { triggerSync } from '../src/planner/trigger.ts';
import { startSimulator } from '../src/sim/index.ts';
import { compareWithTruth } from '../src/sim/verify.ts';
import { quoteIdent } from '../src/state/migrate.ts';
import { StateStore } from '../src/state/store.ts';
import type { BenchEnv, BenchModule } from './types.ts';
import { benchContext, percentile, rssSampler } from './util.ts';

const SECRET = 'whsec_fresh';

/**
 * End-to-end freshness: an upstream change (Kombo's sync ends, its webhook goes out) until the row
 * shows it in Postgres. Ours: webhooks. Baseline: polling every 5 s, as without webhooks. Limit: the
 * webhook itself being acknowledged (stored in Kafka), which nothing downstream can beat.
 */
async function measure(env: BenchEnv, webhooks: boolean, changes: number) {
  const port = await freePort();
  const sim = await startSimulator({
    seed: 17,
    ...(webhooks
      ? { webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret: SECRET, retryBaseMs: 100 } }
      : {}),
  });
  const b = await benchContext(env, webhooks ? 'fresh' : 'poll', {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_WEBHOOK_SECRET: SECRET,
    PORT: port,
    KOMBO_ENDPOINTS: 'hris/employees,hris/employments',
    FETCH_OVERLAP: '2s',
    DELTA_POLL_INTERVAL: webhooks ? '3h' : '5s',
    SCHEDULER_TICK: '250ms',
    KOMBO_RATE_LIMIT: 500,
    KOMBO_RATE_LIMIT_PER_INTEGRATION: 100,
    KAFKA_PARTITIONS: 3,
  });
  const runtime = await startRuntime(b.config, ROLES, { logger: createLogger({ level: 'silent' }), host: '127.0.0.1' });
  const rss = rssSampler();
  try {
    const store = new StateStore(b.pool, b.config.postgres.stateSchema);
    for (let k = 0; k < 3; k++) {
      if (webhooks) await sim.core.createIntegration({ category: 'HRIS', size: 200 });
      else {
        const i = await sim.core.createIntegration({ category: 'HRIS', size: 200 });
        await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: 'HRIS' });
        const producer = b.kafka.producer();
        await triggerSync({ config: b.config, store, producer }, i.id, { mode: 'full' });
        await producer.close();
      }
    }
    const ids = sim.core.integrations().map((i) => i.id);
    for (let t = Date.now(); Date.now() - t < 120_000; ) {
      if (
        (await compareWithTruth(b.pool, b.config.postgres.sinkSchema, sim.core, ids, ['hris/employees'], 'changed-at'))
          .length === 0
      )
        break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const visible: number[] = [];
    const acked: number[] = [];
    for (let k = 0; k < changes; k++) {
      const integration = ids[k % ids.length] as string;
      const target = sim.core.truth(integration, 'hris/employees', { includeDeleted: false })[k] as { id: string };
      const t0 = performance.now();
      const result = await sim.core.change(integration, [{ op: 'update', endpoint: 'hris/employees', id: target.id }]);
      void result;
      const want = (
        sim.core.truth(integration, 'hris/employees').find((r) => r.id === target.id) as { changed_at: string }
      ).changed_at;
      const lastHook = webhooks ? [...sim.core.webhooks.records.values()].at(-1) : undefined;
      let ackSeen = false;
      for (;;) {
        if (lastHook && !ackSeen && lastHook.state === 'acknowledged') {
          acked.push(performance.now() - t0);
          ackSeen = true;
        }
        const r = await b.pool.query(
          `SELECT changed_at FROM ${quoteIdent(b.config.postgres.sinkSchema)}.hris_employees WHERE integration_id = $1 AND id = $2`,
          [integration, target.id],
        );
        if (r.rows[0]?.changed_at?.getTime() === Date.parse(want)) break;
        if (performance.now() - t0 > 60_000) throw new Error('change never became visible');
        await new Promise((r2) => setTimeout(r2, 10));
      }
      visible.push(performance.now() - t0);
      if (lastHook && !ackSeen) acked.push(performance.now() - t0);
    }
    return { visible: visible.sort((a, c) => a - c), acked: acked.sort((a, c) => a - c), peak: rss.stop() };
  } finally {
    await runtime.stop();
    await sim.stop();
    await b.close();
  }
}

const bench: BenchModule = {
  name: 'freshness',
  async run(env) {
    const n = env.quick ? 15 : 60;
    env.log('freshness: webhooks (ours)');
    const ours = await measure(env, true, n);
    env.log('freshness: polling every 5 s (baseline)');
    const poll = await measure(env, false, Math.ceil(n / 3));
    return [50, 99].map((p) => ({
      name: `end-to-end freshness, webhook -> row visible (${n} changes)`,
      metric: `p${p}`,
      unit: 'ms',
      ours: percentile(ours.visible, p),
      baseline: { name: 'delta polling every 5 s, no webhooks', value: percentile(poll.visible, p) },
      limit: { name: 'webhook stored in Kafka (ack)', value: percentile(ours.acked, p) },
      peakRssMiB: ours.peak,
    }));
  },
};
export default bench;
