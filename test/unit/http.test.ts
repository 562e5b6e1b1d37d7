import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { buildHttpApp, listen } from '../../src/app/http.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';

describe('the public listener', () => {
  it('reports a dependency down on /readyz without its error (hosts, users, versions)', async () => {
    const app = buildHttpApp({
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      health: () => ({ sink: { state: 'ok' } }),
      probes: {
        postgres: async () => {
          throw new Error('password authentication failed for user "kombo_prod" at db-7.internal.example:5432');
        },
        kafka: async () => {},
      },
    });
    const server = await listen(app, 0, '127.0.0.1');
    try {
      const res = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      const text = await res.body.text();
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(text).checks).toEqual({ postgres: 'unreachable', kafka: 'ok' });
      for (const leak of ['kombo_prod', 'db-7', 'internal', '5432', 'password']) expect(text).not.toContain(leak);
    } finally {
      server.close();
    }
  });
});
