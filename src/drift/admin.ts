import type { Router } from 'express';
import { isEndpointName } from '../kombo/endpoints.ts';
import { BadTriggerError, offboard, type TriggerDeps } from '../planner/trigger.ts';
import type { DriftContext } from './context.ts';
import { confirmSweep } from './sweep.ts';

/** Admin routes for drift: reports, open guard alerts, confirmation, and offboarding. */
export function driftAdminRoutes(ctx: DriftContext & TriggerDeps): (router: Router) => void {
  return (router) => {
    router.get('/drift', async (req, res) => {
      const integrationId = typeof req.query.integration === 'string' ? req.query.integration : undefined;
      res.json({
        alerts: await ctx.drift.openAlerts(integrationId),
        runs: await ctx.drift.reports(integrationId ? { integrationId } : {}),
      });
    });
    router.post('/integrations/:id/endpoints/:category/:endpoint/drift/confirm', async (req, res) => {
      const endpoint = `${req.params.category}/${req.params.endpoint}`;
      if (!isEndpointName(endpoint)) throw new BadTriggerError(`unknown endpoint ${endpoint}`);
      const result = await confirmSweep(ctx, req.params.id as string, endpoint);
      res.json({ integration_id: req.params.id, endpoint, ...result });
    });
    router.post('/integrations/:id/offboard', async (req, res) => {
      const tasks = await offboard(ctx, req.params.id as string);
      res.status(202).json({ integration_id: req.params.id, tasks });
    });
  };
}
