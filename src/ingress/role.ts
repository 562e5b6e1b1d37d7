import type { RoleDeps, RunningRole } from '../app/role.ts';
import { ConfigError } from '../errors.ts';
import { topicSpecs } from '../topics/topology.ts';
import { webhookRouter } from './webhook.ts';

/** The ingress role: Kombo's webhooks in, verified events out to `<prefix>.events`. */
export async function startIngress(deps: RoleDeps): Promise<RunningRole> {
  const { config } = deps;
  if (config.kombo.webhookSecrets.length === 0) {
    throw new ConfigError([{ key: 'KOMBO_WEBHOOK_SECRET', message: 'is required by the ingress role' }]);
  }
  const { events } = topicSpecs(config);
  await deps.kafka.ensureTopics([events]);
  // Few retries: a webhook must be answered within ackTimeoutMs; Kombo retries a 503 itself.
  const producer = deps.kafka.producer({ retries: 2 });
  const router = webhookRouter({
    producer,
    eventsTopic: events.name,
    secrets: config.kombo.webhookSecrets,
    bodyLimitBytes: config.ingress.bodyLimitBytes,
    ackTimeoutMs: config.ingress.ackTimeoutMs,
    logger: deps.logger.child({ role: 'ingress' }),
    metrics: deps.metrics,
  });
  return {
    role: 'ingress',
    routers: [router],
    health: () => ({ state: 'ok' }),
    stop: () => producer.close(),
  };
}
