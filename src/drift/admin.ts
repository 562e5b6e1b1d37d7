import type { Router } from 'express';
import { isEndpointName } from '../kombo/endpoints.ts';
import { BadTriggerError, offboard, type TriggerDeps } from '../planner/trigger.ts';
import type { DriftContext } from './context.ts';
import { driftReport, openAlerts } from './drift.ts';
import { confirmSweep } from './sweep.ts';

/** Admin routes for drift: reports, open guard alerts, confirmation, and offboarding. */
export function driftAdminRoutes(ctx: DriftContext & TriggerDeps): (router: Router) => void {
  return (router) => {
    router.get('/drift', async (req, res) => {
      const integrationId = typeof req.query.integration === 'string' ? req.query.integration : undefined;
      res.json({
        alerts: await openAlerts(ctx.store),
        runs: await driftReport(ctx.store, integrationId ? { integrationId } : {}),
      });
    });
    router.post('/integrations/:id/endpoints/:category/:endpoint/drift/confirm', async (req, res) => {
      const endpoint = `${req.params.category}/${req.params.endpoint}`;
      if (!isEndpointName(endpoint)) throw new BadTriggerError(`unknown endpoint ${endpoint}`);
      const result = await confirmSweep(ctx, req.params.id as string, endpoint);
      if (!result)
        return res.status(404).json({
          error: { code: 'KS_ERR_NO_DRIFT_ALERT', message: `no open drift alert for ${req.params.id} ${endpoint}` },
        });
      res.json({ integration_id: req.params.id, endpoint, ...result });
    });
    router.post('/integrations/:id/offboard', async (req, res) => {
      const tasks = await offboard(ctx, req.params.id as string);
      res.status(202).json({ integration_id: req.params.id, tasks });
    });
  };
}
