import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { buildAdminApp, buildPublicApp, listen } from '../../src/app/http.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';

const leaky = 'password authentication failed for user "kombo_prod" at db-7.internal.example:5432';
const parts = {
  metrics: createMetricsRegistry({ defaultMetrics: false }),
  health: () => ({ sink: { state: 'ok' as const } }),
  probes: {
    postgres: async () => {
      throw new Error(leaky);
    },
    kafka: async () => {},
  },
};
const get = async (server: Server, p: string) => {
  const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`);
  return { status: res.statusCode, text: await res.body.text() };
};

describe('the two listeners', () => {
  it('the public one answers a bare /healthz and nothing that names hosts, users, versions or roles', async () => {
    const server = await listen(buildPublicApp(parts), 0, '127.0.0.1');
    try {
      const h = await get(server, '/healthz');
      expect(h.status).toBe(200);
      expect(JSON.parse(h.text)).toEqual({ status: 'healthy' });
      for (const p of ['/readyz', '/metrics', '/admin/integrations']) expect((await get(server, p)).status).toBe(404);
      for (const leak of ['kombo_prod', 'db-7', 'sink', 'x-powered-by']) expect(h.text).not.toContain(leak);
    } finally {
      server.close();
    }
  });

  it('the internal one has the details: readiness with causes, roles, metrics', async () => {
    const server = await listen(buildAdminApp(parts), 0, '127.0.0.1');
    try {
      const r = await get(server, '/readyz');
      expect(r.status).toBe(503);
      expect(JSON.parse(r.text)).toMatchObject({
        checks: { postgres: leaky, kafka: 'ok' },
        roles: { sink: { state: 'ok' } },
      });
      expect((await get(server, '/metrics')).status).toBe(200);
    } finally {
      server.close();
    }
  });
});
