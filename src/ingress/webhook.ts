import express, { type Router } from 'express';
import { Counter, Histogram } from 'prom-client';
import { SIGNATURE_HEADER, verifyWebhook } from '../kombo/signature.ts';
import { eventIntegrationId, parseWebhook } from '../kombo/webhooks.ts';
import type { Logger } from '../observability/log.ts';
import type { Registry } from '../observability/metrics.ts';
import type { Producer } from '../topics/kafka.ts';

/** Headers on `<prefix>.events` records; the value is the webhook body exactly as received. */
export const EVENT_HEADERS = {
  id: 'kombo-event-id',
  type: 'kombo-event-type',
  receivedAt: 'kombo-received-at',
} as const;

export interface WebhookDeps {
  producer: Producer;
  eventsTopic: string;
  secrets: readonly string[];
  bodyLimitBytes: number;
  /** Longest wait for Kafka's acknowledgement before answering 503 (Kombo then retries). */
  ackTimeoutMs: number;
  /** Sends queued beyond this answer 503 at once instead of waiting (backpressure). */
  maxPendingSends?: number;
  logger: Logger;
  metrics: Registry;
}

type Outcome = 'accepted' | 'unauthorized' | 'malformed' | 'too_large' | 'unavailable';

/**
 * POST /webhooks/kombo. Verifies the signature over the raw bytes before anything else, validates the
 * payload, stores it in Kafka and answers 200 only after the acknowledgement (invariant 1). Nothing is
 * produced for a request that is refused.
 */
export function webhookRouter(deps: WebhookDeps): Router {
  const requests = new Counter({
    name: 'kombo_stream_ingress_webhooks_total',
    help: 'Webhook requests by outcome',
    labelNames: ['outcome', 'type'],
    registers: [deps.metrics],
  });
  const latency = new Histogram({
    name: 'kombo_stream_ingress_ack_seconds',
    help: 'Time from a verified webhook to Kafka acknowledgement',
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [deps.metrics],
  });
  const refuse = (res: express.Response, status: number, outcome: Outcome, message: string, type = 'unknown') => {
    requests.inc({ outcome, type });
    res.status(status).json({ error: { code: `KS_ERR_WEBHOOK_${outcome.toUpperCase()}`, message } });
  };

  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: deps.bodyLimitBytes });
  router.post('/webhooks/kombo', (req, res, next) => {
    raw(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { type?: string; status?: number };
      if (e.type === 'entity.too.large')
        return refuse(res, 413, 'too_large', `body exceeds ${deps.bodyLimitBytes} bytes`);
      return refuse(res, e.status && e.status < 500 ? e.status : 400, 'malformed', 'unreadable body');
    });
  });
  router.post('/webhooks/kombo', async (req, res) => {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const signature = req.get(SIGNATURE_HEADER);
    if (!verifyWebhook(deps.secrets, body, signature)) {
      return refuse(res, 401, 'unauthorized', signature ? 'signature does not match' : `missing ${SIGNATURE_HEADER}`);
    }
    const parsed = parseWebhook(body);
    if (!parsed.ok) return refuse(res, 400, 'malformed', parsed.reason);
    const event = parsed.event;
    if (deps.producer.pending >= (deps.maxPendingSends ?? 10_000)) {
      return refuse(res, 503, 'unavailable', 'too many webhooks waiting for Kafka; retry later', event.type);
    }
    const started = performance.now();
    const key = eventIntegrationId(event) ?? null;
    const send = deps.producer.send(deps.eventsTopic, [
      {
        key,
        value: body,
        headers: {
          [EVENT_HEADERS.id]: event.id,
          [EVENT_HEADERS.type]: event.type,
          [EVENT_HEADERS.receivedAt]: new Date().toISOString(),
        },
      },
    ]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deps.ackTimeoutMs);
    });
    try {
      const result = await Promise.race([send.then(() => 'acked' as const), timeout]);
      if (result === 'timeout') {
        // The send may still complete later: a duplicate at worst, which the planner deduplicates by id.
        send.catch(() => {});
        deps.logger.warn({ eventId: event.id, type: event.type }, 'Kafka did not acknowledge in time; answered 503');
        return refuse(res, 503, 'unavailable', 'event store unavailable; retry later', event.type);
      }
      latency.observe((performance.now() - started) / 1000);
      requests.inc({ outcome: 'accepted', type: event.type });
      res.status(200).json({ received: true, id: event.id });
    } catch (err) {
      deps.logger.warn({ err, eventId: event.id }, 'producing the webhook failed; answered 503');
      refuse(res, 503, 'unavailable', 'event store unavailable; retry later', event.type);
    } finally {
      clearTimeout(timer);
    }
  });
  router.all('/webhooks/kombo', (_req, res) => {
    res
      .set('allow', 'POST')
      .status(405)
      .json({ error: { code: 'KS_ERR_METHOD', message: 'use POST' } });
  });
  return router;
}
