import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPublicApp, listen } from '../../src/app/http.ts';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { startIngress } from '../../src/ingress/role.ts';
import { endpointsForModels } from '../../src/kombo/models.ts';
import { signWebhook } from '../../src/kombo/signature.ts';
import { startPlanner } from '../../src/planner/role.ts';
import { eventsTopic, tasksTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic, topicSize } from '../helpers/topics.ts';

const SECRET = 'whsec_hostile';
let ctx: TestContext;
let deps: RoleDeps;
let ingress: RunningRole;
let planner: RunningRole;
let server: import('node:http').Server;
let http: Pool;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  deps = await testDeps(ctx, { KOMBO_WEBHOOK_SECRET: SECRET, WEBHOOK_BODY_LIMIT: 16_384 });
  ingress = await startIngress(deps);
  planner = await startPlanner(deps, { scheduler: false, maxWaitTimeInMs: 100 });
  server = await listen(
    buildPublicApp({
      health: () => ({ ingress: ingress.health() }),
      routers: [...(ingress.routers ?? [])],
    }),
    0,
    '127.0.0.1',
  );
  http = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 32 });
});
afterAll(async () => {
  await http?.close();
  server?.close();
  await planner?.stop();
  await ingress?.stop();
  await ctx?.close();
});

const valid = (id: string) =>
  JSON.stringify({
    id,
    type: 'data-changed',
    data: {
      integration_id: 'personio:hostile',
      integration_tool: 'personio',
      integration_category: 'HRIS',
      changed_models: [{ name: 'hris_employees' }],
    },
  });

/** A zoo of bad requests, each with the status it must get. */
function hostile(i: number): {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Buffer | null;
  want: number;
} {
  const body = valid(`h-${i}`);
  const sig = signWebhook(SECRET, body);
  const h = { 'content-type': 'application/json' };
  switch (i % 12) {
    case 0:
      return { method: 'POST', path: '/webhooks/kombo', headers: h, body, want: 401 }; // unsigned
    case 1:
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': signWebhook('whsec_wrong', body) },
        body,
        want: 401,
      };
    case 2:
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': sig.slice(0, -1) },
        body,
        want: 401,
      }; // truncated signature
    case 3:
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': sig },
        body: body.replace('hris_employees', 'hris_employeez'),
        want: 401,
      }; // tampered body
    case 4: {
      const b = randomBytes(64 + (i % 200));
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': signWebhook(SECRET, b) },
        body: b,
        want: 400,
      }; // signed garbage
    }
    case 5: {
      const b = JSON.stringify({ id: 123, type: ['data-changed'], data: 'oops' });
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': signWebhook(SECRET, b) },
        body: b,
        want: 400,
      }; // oddly typed
    }
    case 6: {
      const b = JSON.stringify({
        id: `x${i}`,
        type: 'data-changed',
        data: { integration_id: 7, changed_models: 'all' },
      });
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': signWebhook(SECRET, b) },
        body: b,
        want: 400,
      };
    }
    case 7: {
      const b = 'x'.repeat(20_000);
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': signWebhook(SECRET, b) },
        body: b,
        want: 413,
      }; // oversized
    }
    case 8:
      return { method: 'GET', path: '/webhooks/kombo', headers: h, body: null, want: 405 };
    case 9:
      return { method: 'POST', path: `/webhooks/${i}`, headers: { ...h, 'x-kombo-signature': sig }, body, want: 404 };
    case 10:
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': `${sig}${'A'.repeat(i % 50)}=` },
        body,
        want: 401,
      };
    default: {
      const b = `{"id": "deep", "type": "data-changed", "data": ${'['.repeat(3000)}${']'.repeat(3000)}}`;
      return {
        method: 'POST',
        path: '/webhooks/kombo',
        headers: { ...h, 'x-kombo-signature': signWebhook(SECRET, b) },
        body: b,
        want: 400,
      }; // deeply nested
    }
  }
}

describe('hostile input against the ingress', () => {
  it('answers 10k malformed, oversized, unsigned, wrongly signed and oddly typed requests correctly, producing nothing', async () => {
    const topic = eventsTopic(deps.config.kafka.topicPrefix);
    const before = await topicSize(ctx.kafka, topic);
    const N = 10_000;
    const wrong: string[] = [];
    for (let i = 0; i < N; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, N - i) }, async (_, k) => {
          const r = hostile(i + k);
          const res = await http.request({
            method: r.method as 'POST',
            path: r.path,
            headers: r.headers,
            body: r.body,
          });
          await res.body.dump();
          if (res.statusCode !== r.want) wrong.push(`case ${(i + k) % 12}: ${res.statusCode} != ${r.want}`);
        }),
      );
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(await topicSize(ctx.kafka, topic)).toBe(before);
    // still up and well
    const ok = await http.request({
      method: 'POST',
      path: '/webhooks/kombo',
      headers: { 'x-kombo-signature': signWebhook(SECRET, valid('after-storm')) },
      body: valid('after-storm'),
    });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
  }, 120_000);

  it('accepts replays of a valid webhook (no timestamp in the signature) and plans it once', async () => {
    const body = valid('replayed-1');
    // One task per endpoint the model re-fetches, however often the webhook came.
    const once = endpointsForModels(['hris_employees'], deps.config.kombo.endpoints).length;
    const headers = { 'x-kombo-signature': signWebhook(SECRET, body) };
    for (let k = 0; k < 5; k++) {
      const res = await http.request({ method: 'POST', path: '/webhooks/kombo', headers, body });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const planned = await eventually(
      async () =>
        (await readTopic(ctx.kafka, tasksTopic(deps.config.kafka.topicPrefix))).filter((r) =>
          r.value?.toString().includes('replayed-1'),
        ),
      (t) => t.length >= once,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const again = (await readTopic(ctx.kafka, tasksTopic(deps.config.kafka.topicPrefix))).filter((r) =>
      r.value?.toString().includes('replayed-1'),
    );
    expect(planned.length).toBe(once);
    expect(again.length).toBe(once);
  });
});
