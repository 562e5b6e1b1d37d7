import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { integrationStatus } from '../app/status.ts';
import type { Config } from '../config/config.ts';
import { DriftAlertChangedError, FullFetchInFlightError, KomboStreamError, NoDriftAlertError } from '../errors.ts';
import { sharedLimiter } from '../fetcher/rate-limit.ts';
import { addIntegrations, UnknownKomboIntegrationsError } from '../integrations/onboard.ts';
import { LifecycleStore } from '../integrations/store.ts';
import type { KomboClient } from '../kombo/client.ts';
import { endpointsOfCategory } from '../planner/plan.ts';
import {
  BadTriggerError,
  fullsInFlight,
  resumeSyncs,
  triggerSync,
  UnknownIntegrationError,
} from '../planner/trigger.ts';
import type { StateStore } from '../state/store.ts';
import type { Producer } from '../topics/kafka.ts';

export interface AdminDeps {
  config: Config;
  store: StateStore;
  producer: Producer;
  /** Extra routes other parts mount under /admin (drift reports and confirmations). */
  extend?: (router: Router) => void;
  /** Consumer lag per group, when the process can see Kafka. */
  lag?: () => Promise<Record<string, number>>;
  /** Kombo, where the process has an API key: onboarding looks integrations up there. */
  client?: KomboClient;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer-token check in constant time (hashing first makes the lengths equal). */
export function tokenMatches(expected: string, header: string | undefined): boolean {
  const got = /^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(expected), digest(got)) && got.length > 0;
}

const syncBody = z.object({
  mode: z.enum(['delta', 'full']).default('delta'),
  endpoints: z.array(z.string()).optional(),
});
const addBody = z.object({ ids: z.array(z.string().min(1)).min(1).max(10_000) });
const watermarkBody = z.object({ watermark: z.iso.datetime({ offset: true }).nullable() });

/**
 * The admin API (`/admin/*`, Bearer ADMIN_TOKEN): integrations and their sync status, manual syncs,
 * pause/resume, and watermark resets (re-fetch from a given time, as Connect lets operators reset
 * offsets). Without a configured token the routes do not exist.
 */
export function adminRouter(deps: AdminDeps): Router {
  const token = deps.config.http.adminToken;
  const router = express.Router();
  if (!token) return router;
  const admin = express.Router();
  admin.use((req, res, next) => {
    if (!tokenMatches(token, req.get('authorization'))) {
      res.status(401).json({ error: { code: 'KS_ERR_ADMIN_UNAUTHORIZED', message: 'admin token required' } });
      return;
    }
    next();
  });
  admin.use(express.json({ limit: '64kb' }));
  const { store } = deps;

  admin.get('/integrations', async (_req, res) => {
    res.json({
      integrations: await integrationStatus(store, deps.config.planner.deltaPollIntervalMs),
      ...(deps.lag ? { lag: await deps.lag() } : {}),
    });
  });
  admin.post('/integrations', async (req, res) => {
    const { ids } = addBody.parse(req.body ?? {});
    if (!deps.client)
      return void res.status(503).json({
        error: {
          code: 'KS_ERR_NO_KOMBO_ACCESS',
          message: 'KOMBO_API_KEY is not set in this process: integrations cannot be looked up',
        },
      });
    const lifecycle = new LifecycleStore(store.pool, store.stateSchema);
    const added = await addIntegrations(
      { ...deps, lifecycle, client: deps.client, limiter: sharedLimiter(deps.config, store.pool) },
      ids,
    );
    res.status(201).json({ integrations: added });
  });
  admin.get('/integrations/:id', async (req, res) => {
    const [i] = await integrationStatus(store, deps.config.planner.deltaPollIntervalMs, req.params.id as string);
    if (!i) throw new UnknownIntegrationError(req.params.id as string);
    res.json(i);
  });
  admin.post('/integrations/:id/sync', async (req, res) => {
    const body = syncBody.parse(req.body ?? {});
    const id = req.params.id as string;
    const tasks = await triggerSync(deps, id, {
      mode: body.mode,
      ...(body.endpoints ? { endpoints: body.endpoints } : {}),
      reason: `admin:${body.mode}`,
    });
    // A full sync of an endpoint whose full fetch is in flight joins that one (one per endpoint at a time).
    const joining =
      body.mode === 'full'
        ? await fullsInFlight(
            deps,
            id,
            tasks.map((t) => t.endpoint),
          )
        : [];
    res.status(202).json({ tasks, joining });
  });
  for (const [path, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    admin.post(`/integrations/:id/${path}`, async (req, res) => {
      const id = req.params.id as string;
      if (!(await store.setPaused(id, paused))) throw new UnknownIntegrationError(id);
      // Resuming catches up at once from the unchanged watermarks, and queues again the full fetches
      // that a pause (or a failure) cut off.
      const tasks = paused ? [] : await resumeSyncs(deps, id);
      res.json({ integration_id: id, paused, tasks });
    });
  }
  admin.put('/integrations/:id/endpoints/:category/:endpoint/watermark', async (req, res) => {
    const id = req.params.id as string;
    const endpoint = `${req.params.category}/${req.params.endpoint}`;
    const integration = await store.getIntegration(id);
    if (!integration) throw new UnknownIntegrationError(id);
    if (
      !endpointsOfCategory(integration.category ?? undefined, deps.config.kombo.endpoints).includes(endpoint as never)
    ) {
      throw new BadTriggerError(`${endpoint} is not mirrored for ${id}`);
    }
    const { watermark } = watermarkBody.parse(req.body ?? {});
    await store.setWatermark(id, endpoint, watermark === null ? null : new Date(watermark));
    res.json({ integration_id: id, endpoint, watermark });
  });
  deps.extend?.(admin);
  admin.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof UnknownKomboIntegrationsError)
      return res.status(404).json({ error: { code: err.code, message: err.message }, unknown: err.ids });
    if (err instanceof UnknownIntegrationError || err instanceof NoDriftAlertError)
      return res.status(404).json({ error: { code: err.code, message: err.message } });
    if (err instanceof DriftAlertChangedError || err instanceof FullFetchInFlightError)
      return res.status(409).json({ error: { code: err.code, message: err.message } });
    if (err instanceof BadTriggerError)
      return res.status(400).json({ error: { code: err.code, message: err.message } });
    if (err instanceof z.ZodError) {
      return res.status(400).json({
        error: {
          code: 'KS_ERR_BAD_REQUEST',
          message: err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        },
      });
    }
    if (err instanceof KomboStreamError)
      return res.status(err.retriable ? 503 : 400).json({ error: { code: err.code, message: err.message } });
    next(err);
  });
  router.use('/admin', admin);
  return router;
}
