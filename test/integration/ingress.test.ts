import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPublicApp, listen } from '../../src/app/http.ts';
import { webhookRouter } from '../../src/ingress/webhook.ts';
import { signWebhook } from '../../src/kombo/signature.ts';
import { freePort } from '../../src/localstack/process.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { KafkaClient, type Producer } from '../../src/topics/kafka.ts';
import { quietLogger } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { readTopic, topicSize } from '../helpers/topics.ts';

const SECRETS = ['whsec_old', 'whsec_new'];
let ctx: TestContext;
let server: Server;
let url: string;
let producer: Producer;
let topic: string;

async function serve(p: Producer, ackTimeoutMs = 5_000): Promise<{ server: Server; url: string }> {
  const app = buildPublicApp({
    health: () => ({ ingress: { state: 'ok' } }),
    routers: [
      webhookRouter({
        producer: p,
        eventsTopic: topic,
        secrets: SECRETS,
        bodyLimitBytes: 4_096,
        ackTimeoutMs,
        logger: quietLogger(),
        metrics: createMetricsRegistry({ defaultMetrics: false }),
      }),
    ],
  });
  const s = await listen(app, 0, '127.0.0.1');
  return { server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  topic = `${ctx.prefix}.events`;
  await ctx.kafka.ensureTopics([{ name: topic, partitions: 3, compacted: false }]);
  producer = ctx.kafka.producer({ retries: 2 });
  ({ server, url } = await serve(producer));
});
afterAll(async () => {
  server?.close();
  await producer?.close();
  await ctx?.close();
});

const event = (id: string, type = 'data-changed', data: unknown = undefined) =>
  JSON.stringify({
    id,
    type,
    data: data ?? {
      integration_id: 'personio:abc',
      integration_tool: 'personio',
      integration_category: 'HRIS',
      changed_models: [{ name: 'hris_employees' }],
    },
  });

async function post(
  body: string | Buffer,
  headers: Record<string, string> = {},
  path = '/webhooks/kombo',
  method = 'POST',
  base = url,
) {
  const res = await request(`${base}${path}`, {
    method: method as 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: method === 'GET' ? null : body,
  });
  return { status: res.statusCode, body: await res.body.text() };
}
const signed = (body: string, secret = 'whsec_new') => ({ 'x-kombo-signature': signWebhook(secret, body) });

describe('POST /webhooks/kombo', () => {
  it('stores a verified webhook, as received, keyed by integration, before answering 200', async () => {
    const body = event('evt-ok-1');
    const r = await post(body, signed(body));
    expect(r.status).toBe(200);
    const records = await readTopic(ctx.kafka, topic);
    const rec = records.find((x) => x.headers['kombo-event-id'] === 'evt-ok-1');
    expect(rec?.value?.toString()).toBe(body);
    expect(rec?.key?.toString()).toBe('personio:abc');
    expect(rec?.headers['kombo-event-type']).toBe('data-changed');
  });

  it('accepts every configured secret (rotation)', async () => {
    const body = event('evt-old-secret');
    expect((await post(body, signed(body, 'whsec_old'))).status).toBe(200);
  });

  it('accepts unknown event types (forward compatible)', async () => {
    const body = event('evt-future', 'brand-new-event', { something: true });
    expect((await post(body, signed(body))).status).toBe(200);
  });

  it('refuses bad input with the right status and produces nothing for it', async () => {
    const before = await topicSize(ctx.kafka, topic);
    const body = event('evt-refused');
    const cases: [Promise<{ status: number }>, number][] = [
      [post(body), 401],
      [post(body, { 'x-kombo-signature': 'AAAA' }), 401],
      [post(body, signed(body, 'whsec_wrong')), 401],
      [post(`${body} `, signed(body)), 401],
      [post('{"broken', signed('{"broken')), 400],
      [post('{"id":"x","type":"data-changed","data":{}}', signed('{"id":"x","type":"data-changed","data":{}}')), 400],
      [post('[]', signed('[]')), 400],
      [post('x'.repeat(5_000), signed('x'.repeat(5_000))), 413],
      [post(body, signed(body), '/webhooks/other'), 404],
      [post(body, signed(body), '/webhooks/kombo', 'GET'), 405],
      [post(body, signed(body), '/webhooks/kombo', 'PUT'), 405],
    ];
    const got = await Promise.all(cases.map(async ([p, want]) => [(await p).status, want]));
    for (const [status, want] of got) expect(status).toBe(want);
    expect(await topicSize(ctx.kafka, topic)).toBe(before);
  });

  it("answers 503 within the bound when Kafka is unreachable; Kombo's retry, once it is back, is stored once", async () => {
    const dead = new KafkaClient({
      brokers: [`127.0.0.1:${await freePort()}`],
      clientId: 'dead',
      requestTimeoutMs: 1_000,
    });
    const deadProducer = dead.producer({ retries: 1 });
    const s = await serve(deadProducer, 1_500);
    const body = event('evt-kafka-down');
    const t0 = Date.now();
    const r = await post(body, signed(body), '/webhooks/kombo', 'POST', s.url);
    const took = Date.now() - t0;
    // The answer, not a hang: Kombo retries a 503 (it would give up on a connection that never answers).
    expect(r.status).toBe(503);
    expect(took).toBeLessThan(4_000);
    s.server.close();
    // The dead client keeps retrying its connection for a while; don't wait for it.
    void dead.close().catch(() => {});
    // Kombo's retry reaches an ingress whose Kafka answers: acknowledged, and in the topic exactly once.
    const retry = await post(body, signed(body), '/webhooks/kombo', 'POST', url);
    expect(retry.status).toBe(200);
    const stored = (await readTopic(ctx.kafka, topic)).filter((x) => x.headers['kombo-event-id'] === 'evt-kafka-down');
    expect(stored).toHaveLength(1);
    expect(stored[0]?.value?.toString()).toBe(body);
  });

  it('serves a bare health check, and neither metrics nor readiness details (those are on the admin listener)', async () => {
    const h = await post('', {}, '/healthz', 'GET');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toEqual({ status: 'healthy' });
    for (const p of ['/metrics', '/readyz', '/admin/integrations'])
      expect((await post('', {}, p, 'GET')).status).toBe(404);
  });
});
