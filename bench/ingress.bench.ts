import type { AddressInfo } from 'node:net';
import express from 'express';
import { Pool } from 'undici';
import { buildPublicApp, listen } from '../src/app/http.ts';
import { webhookRouter } from '../src/ingress/webhook.ts';
import { signWebhook, verifyWebhook } from '../src/kombo/signature.ts';
import { parseWebhook } from '../src/kombo/webhooks.ts';
import { createLogger } from '../src/observability/log.ts';
import { createMetricsRegistry } from '../src/observability/metrics.ts';
import { topicSpecs } from '../src/topics/topology.ts';
import type { BenchModule } from './types.ts';
import { benchContext, rssSampler } from './util.ts';

const SECRET = 'whsec_bench';

/** Signed data-changed webhooks per second through an HTTP app built from `routers`. */
async function rate(routers: express.RequestHandler[], n: number, concurrency: number): Promise<number> {
  const server = await listen(buildPublicApp({ health: () => ({}), routers }), 0, '127.0.0.1');
  const http = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: concurrency });
  const bodies = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `bench-${i}-${Date.now()}`,
      type: 'data-changed',
      data: {
        integration_id: `personio:bench${i % 50}`,
        integration_tool: 'personio',
        integration_category: 'HRIS',
        changed_models: [{ name: 'hris_employees' }],
      },
    }),
  );
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const body = bodies[next++] as string;
        const res = await http.request({
          method: 'POST',
          path: '/webhooks/kombo',
          headers: { 'x-kombo-signature': signWebhook(SECRET, body) },
          body,
        });
        await res.body.dump();
        if (res.statusCode !== 200) failed++;
      }
    }),
  );
  const ms = performance.now() - t0;
  await http.close();
  server.close();
  if (failed) throw new Error(`${failed} webhooks were not accepted`);
  return (n / ms) * 1000;
}

const bench: BenchModule = {
  name: 'ingress',
  async run(env) {
    const n = env.quick ? 3_000 : 20_000;
    const concurrency = 64;
    const b = await benchContext(env, 'ingress');
    try {
      const topic = topicSpecs(b.config).events;
      await b.kafka.ensureTopics([topic]);
      const router = (producer: ReturnType<typeof b.kafka.producer>) =>
        webhookRouter({
          producer,
          eventsTopic: topic.name,
          secrets: [SECRET],
          bodyLimitBytes: 1 << 20,
          ackTimeoutMs: 30_000,
          logger: createLogger({ level: 'silent' }),
          metrics: createMetricsRegistry({ defaultMetrics: false }),
        });
      env.log('ingress: ours');
      const p1 = b.kafka.producer();
      const rss = rssSampler();
      const ours = await rate([router(p1)], n, concurrency);
      const peak = rss.stop();
      await p1.close();
      env.log('ingress: baseline (one Kafka request per webhook)');
      const p2 = b.kafka.producer({ maxBatchRecords: 1 });
      const baseline = await rate([router(p2)], Math.ceil(n / 4), concurrency);
      await p2.close();
      env.log('ingress: limit (verify and answer, no Kafka)');
      const limitRouter = express.Router();
      limitRouter.post('/webhooks/kombo', express.raw({ type: () => true }), (req, res) => {
        const body = req.body as Buffer;
        if (!verifyWebhook([SECRET], body, req.get('x-kombo-signature')) || !parseWebhook(body).ok)
          res.status(401).end();
        else res.status(200).json({ received: true });
      });
      const limit = await rate([limitRouter], n, concurrency);
      return [
        {
          name: `ingress: ${n} signed webhooks, ${concurrency} concurrent`,
          metric: 'throughput (acked by Kafka, acks=all)',
          unit: 'webhooks/s',
          ours,
          baseline: { name: 'one Kafka request per webhook', value: baseline },
          limit: { name: 'verify + answer, no Kafka', value: limit },
          peakRssMiB: peak,
        },
      ];
    } finally {
      await b.close();
    }
  },
};
export default bench;
