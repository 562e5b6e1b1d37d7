import { createFetchContext } from '../src/fetcher/context.ts';
import { executeFetch } from '../src/fetcher/fetch.ts';
import { KomboClient } from '../src/kombo/client.ts';
import { ENDPOINTS } from '../src/kombo/endpoints.ts';
import { newTask } from '../src/planner/task.ts';
import { startSimulator } from '../src/sim/index.ts';
import { StateStore } from '../src/state/store.ts';
import { recordTopic } from '../src/topics/names.ts';
import { encodeKeyJson } from '../src/topics/records.ts';
import { topicSpecs } from '../src/topics/topology.ts';
import type { BenchModule } from './types.ts';
import { benchContext, rssSampler, timed } from './util.ts';

/**
 * A backfill: records per second from Kombo's API (the simulator) into the record topics, with the
 * record index. Limit: reading the same pages without emitting anything. Baseline: the naive
 * approach, each record produced with its own awaited request (no batching, no index).
 */
const bench: BenchModule = {
  name: 'fetch',
  async run(env) {
    const size = env.quick ? 2_000 : 10_000;
    const sim = await startSimulator({
      seed: 8,
      integrations: [{ category: 'HRIS', size }],
      rateLimit: { limit: 1_000_000, windowMs: 60_000 },
    });
    const b = await benchContext(env, 'fetch', {
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      KOMBO_RATE_LIMIT: 10_000,
      KOMBO_RATE_LIMIT_PER_INTEGRATION: 10_000,
    });
    const integration = sim.core.integrations()[0];
    if (!integration) throw new Error('no integration');
    const hris = ENDPOINTS.filter((e) => e.category === 'hris').map((e) => e.name);
    try {
      await new StateStore(b.pool, b.config.postgres.stateSchema).upsertIntegration({
        integration_id: integration.id,
        category: 'HRIS',
      });
      await b.kafka.ensureTopics([...topicSpecs(b.config).records.values()]);
      const client = new KomboClient({ apiUrl: sim.url, apiKey: sim.apiKey });
      env.log('fetch: limit (read every page, emit nothing)');
      const read = await timed(async () => {
        let n = 0;
        for (const ep of hris) {
          let cursor: string | null = null;
          do {
            const page = await client.listPage(integration.id, ep, {
              pageSize: 250,
              includeDeleted: true,
              ...(cursor ? { cursor } : {}),
            });
            n += page.results.length;
            cursor = page.next;
          } while (cursor);
        }
        return n;
      });
      env.log('fetch: ours');
      const producer = b.kafka.producer();
      const cfg = { ...b.config, fetcher: { ...b.config.fetcher, maxPagesPerTurn: Number.MAX_SAFE_INTEGER } };
      const { ctx, close } = createFetchContext({ ...b.deps, config: cfg }, producer, {
        signal: new AbortController().signal,
      });
      const rss = rssSampler();
      const ours = await timed(async () => {
        for (const ep of hris)
          await executeFetch(
            ctx,
            newTask({
              integration_id: integration.id,
              endpoint: ep,
              mode: 'delta',
              reason: 'bench',
              requested_at: new Date(),
            }),
          );
      });
      const peak = rss.stop();
      await close();
      env.log('fetch: baseline (a Kafka request per record)');
      const sample = Math.min(2_000, read.value);
      const naive = b.kafka.producer({ maxBatchRecords: 1 });
      const base = await timed(async () => {
        let n = 0;
        let cursor: string | null = null;
        do {
          const page = await client.listPage(integration.id, 'hris/employees', {
            pageSize: 250,
            includeDeleted: true,
            ...(cursor ? { cursor } : {}),
          });
          for (const r of page.results) {
            if (n++ >= sample) return;
            await naive.send(recordTopic(b.id, 'hris/employees'), [
              { key: encodeKeyJson({ integration_id: integration.id, id: String(r.id) }), value: JSON.stringify(r) },
            ]);
          }
          cursor = page.next;
        } while (cursor);
      });
      await naive.close();
      await producer.close();
      await client.close();
      return [
        {
          name: `fetch: backfill of ${Math.round(read.value / 1000)}k records`,
          metric: 'throughput (into Kafka, acked)',
          unit: 'records/s',
          ours: (read.value / ours.ms) * 1000,
          baseline: { name: `a request per record (${sample} records)`, value: (sample / base.ms) * 1000 },
          limit: { name: 'read pages only', value: (read.value / read.ms) * 1000 },
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
