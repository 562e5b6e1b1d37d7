import type { Server } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from '../observability/metrics.ts';
import type { RoleHealth } from './role.ts';

export interface HttpParts {
  metrics: Registry;
  /** Each running part's health; the process is ready when all are ok. */
  health: () => Record<string, RoleHealth>;
  /** Dependency probes for readiness (Kafka, Postgres): resolve when reachable. */
  probes?: Record<string, () => Promise<void>>;
  routers?: RequestHandler[];
}

async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(t);
  }
}

const healthCode = (h: Record<string, RoleHealth>) => {
  const states = Object.values(h).map((x) => x.state);
  return states.includes('failed') ? 500 : states.includes('starting') ? 503 : 200;
};
const healthWord = (code: number) => (code === 200 ? 'healthy' : code === 503 ? 'starting' : 'unhealthy');

function finish(app: Express): Express {
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'KS_ERR_NOT_FOUND', message: 'no such route' } });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const e = err as { status?: number; code?: string; message?: string };
    const status = e.status && e.status >= 400 && e.status < 600 ? e.status : 500;
    res
      .status(status)
      .json({ error: { code: e.code ?? 'KS_ERR_INTERNAL', message: status < 500 ? e.message : 'internal error' } });
  });
  return app;
}

/**
 * The internet-facing listener (PORT): the role routes (webhooks) and a bare `/healthz` for a load
 * balancer, whose answer is only healthy, starting or unhealthy. Nothing here names a host, a user,
 * a version or a role.
 */
export function buildPublicApp(parts: Pick<HttpParts, 'health' | 'routers'>): Express {
  const app = express();
  app.disable('x-powered-by');
  for (const r of parts.routers ?? []) app.use(r);
  app.get('/healthz', (_req, res) => {
    const code = healthCode(parts.health());
    res.status(code).json({ status: healthWord(code) });
  });
  return finish(app);
}

/**
 * The internal listener (ADMIN_PORT, bound to ADMIN_HOST): the admin API, `/metrics` in Prometheus
 * text format, and `/healthz` and `/readyz` in detail, with the semantics of Kafka Connect's
 * `/health` (200 healthy; 503 while starting; 500 when broken).
 */
export function buildAdminApp(parts: HttpParts): Express {
  const app = express();
  app.disable('x-powered-by');
  for (const r of parts.routers ?? []) app.use(r);
  app.get('/healthz', (_req, res) => {
    const h = parts.health();
    const code = healthCode(h);
    res.status(code).json({ status: healthWord(code), roles: h });
  });
  app.get('/readyz', async (_req, res) => {
    const h = parts.health();
    const checks: Record<string, string> = {};
    let ok = true;
    await Promise.all(
      Object.entries(parts.probes ?? {}).map(async ([name, probe]) => {
        try {
          await withTimeout(probe(), 3_000);
          checks[name] = 'ok';
        } catch (err) {
          ok = false;
          checks[name] = (err as Error).message;
        }
      }),
    );
    const code = ok ? healthCode(h) : 503;
    res.status(code).json({ status: code === 200 ? 'ready' : 'not ready', checks, roles: h });
  });
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', parts.metrics.contentType).send(await parts.metrics.metrics());
  });
  return finish(app);
}

export async function listen(app: Express, port: number, host = '0.0.0.0'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once('error', reject);
  });
}
