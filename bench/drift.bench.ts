import { createFetchContext } from '../src/fetcher/context.ts';
import { executeFetch } from '../src/fetcher/fetch.ts';
import { ENDPOINTS } from '../src/kombo/endpoints.ts';
import { newTask } from '../src/planner/task.ts';
import { startSimulator } from '../src/sim/index.ts';
import { StateStore } from '../src/state/store.ts';
import type { BenchModule } from './types.ts';
import { benchContext, rssSampler, timed } from './util.ts';

/**
 * The weekly full fetch over unchanged data (invariant 5): with the record index it writes nothing to
 * Kafka. The baseline is the same full fetch without an index (the first one, the backfill), which
 * writes every record; both in the same run.
 */
const bench: BenchModule = {
  name: 'drift',
  async run(env) {
    const size = env.quick ? 4_000 : 20_500;
    const sim = await startSimulator({
      seed: 3,
      integrations: [{ category: 'HRIS', size }],
      rateLimit: { limit: 1_000_000, windowMs: 60_000 },
    });
    const b = await benchContext(env, 'drift', {
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      KOMBO_RATE_LIMIT: 1_000,
      KOMBO_RATE_LIMIT_PER_INTEGRATION: 1_000,
      KOMBO_ENDPOINTS: 'all',
    });
    try {
      const integration = sim.core.integrations()[0];
      if (!integration) throw new Error('no integration');
      await new StateStore(b.pool, b.config.postgres.stateSchema).upsertIntegration({
        integration_id: integration.id,
        category: 'HRIS',
      });
      await b.kafka.ensureTopics([
        ...(await import('../src/topics/topology.ts')).topicSpecs(b.config).records.values(),
      ]);
      const producer = b.kafka.producer();
      const cfg = { ...b.config, fetcher: { ...b.config.fetcher, maxPagesPerTurn: Number.MAX_SAFE_INTEGER } };
      const { ctx, close } = createFetchContext({ ...b.deps, config: cfg }, producer, {
        signal: new AbortController().signal,
      });
      const fullPass = async () => {
        for (const { name } of ENDPOINTS.filter((e) => e.category === 'hris')) {
          await executeFetch(
            ctx,
            newTask({
              integration_id: integration.id,
              endpoint: name,
              mode: 'full',
              reason: 'bench',
              requested_at: new Date(),
            }),
          );
        }
      };
      env.log(`drift: backfill of ${integration.records} records`);
      const backfill = await timed(fullPass);
      const afterBackfill = await b.topicRecords();
      env.log('drift: full pass over unchanged records');
      const rss = rssSampler();
      const pass = await timed(fullPass);
      const peak = rss.stop();
      const written = (await b.topicRecords()) - afterBackfill;
      await close();
      await producer.close();
      return [
        {
          name: `drift: weekly full fetch over ${Math.round(integration.records / 1000)}k unchanged records`,
          metric: 'records written to Kafka',
          unit: 'records',
          ours: Number(written),
          baseline: { name: 'same fetch without the record index (backfill)', value: Number(afterBackfill) },
          goal: 'writes 0',
          goalMet: written === 0n,
          peakRssMiB: peak,
        },
        {
          name: `drift: weekly full fetch over ${Math.round(integration.records / 1000)}k unchanged records`,
          metric: 'duration',
          unit: 's',
          ours: pass.ms / 1000,
          baseline: { name: 'backfill (writes everything)', value: backfill.ms / 1000 },
          peakRssMiB: peak,
        },
      ];
    } finally {
      await b.close();
      await sim.stop();
    }
  },
};
export default bench;
