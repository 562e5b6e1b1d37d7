import { Counter } from 'prom-client';
import type { RoleDeps } from '../app/role.ts';
import { createDriftContext } from '../drift/context.ts';
import { afterFullFetch, DriftMetrics } from '../drift/drift.ts';
import { LifecycleStore } from '../integrations/store.ts';
import { komboClient } from '../kombo/client.ts';
import { enqueueTasks } from '../planner/trigger.ts';
import { FetchRuns } from '../state/fetch-runs.ts';
import type { Producer } from '../topics/kafka.ts';
import { dlqTopic, recordTopic } from '../topics/names.ts';
import { deadLetterHeaders, encodeKeyJson, H } from '../topics/records.ts';
import { type FetchContext, FetchMetrics } from './fetch.ts';
import { sharedLimiter } from './rate-limit.ts';

/**
 * Everything a fetch needs, shared by the fetcher role and `kombo-stream drift run`. Every full fetch
 * that reads all its pages ends with a drift pass.
 */
export function createFetchContext(
  deps: RoleDeps,
  producer: Producer,
  opts: { signal: AbortSignal; onDriftReport?: (row: Awaited<ReturnType<typeof afterFullFetch>>) => void },
): { ctx: FetchContext; close: () => Promise<void> } {
  const { config } = deps;
  const client = komboClient(config, 'to fetch from Kombo');
  const rejectedRecords = new Counter({
    name: 'kombo_stream_fetcher_rejected_records_total',
    help: 'Records that could not go to their topic (unencodable, too large): dead-lettered, the rest went on',
    labelNames: ['endpoint', 'code'],
    registers: [deps.metrics],
  });
  const ctx: FetchContext = {
    ...createDriftContext(deps, producer),
    client,
    lifecycle: new LifecycleStore(deps.pool, config.postgres.stateSchema),
    limiter: sharedLimiter(config, deps.pool),
    runs: new FetchRuns(deps.pool, config.postgres.stateSchema, { staleAfterMs: config.fetcher.runStaleAfterMs }),
    metrics: new FetchMetrics(deps.metrics),
    enqueue: (tasks) => enqueueTasks(producer, config.kafka.topicPrefix, tasks),
    rejectRecords: async (run, rejected) => {
      const topic = recordTopic(config.kafka.topicPrefix, run.endpoint);
      const dlq = await Promise.all(
        rejected.map(async (r) => {
          const value = JSON.stringify(r.value);
          const fits = Buffer.byteLength(value) <= config.kafka.maxRecordBytes / 2;
          return {
            key: encodeKeyJson({ integration_id: run.integrationId, id: r.id }),
            // Too large a record does not fit the dead-letter topic either: its error says how large.
            value: fits ? value : null,
            headers: {
              ...deadLetterHeaders({ code: r.code, message: r.message, role: 'fetcher', topic }),
              [H.integrationId]: run.integrationId,
              [H.endpoint]: run.endpoint,
              [H.syncId]: run.runId,
            },
          };
        }),
      );
      await producer.send(dlqTopic(config.kafka.topicPrefix), dlq);
      await ctx.store.recordsRejected(run.integrationId, run.endpoint, rejected.length, rejected.at(-1)?.code ?? '');
      for (const r of rejected) rejectedRecords.inc({ endpoint: run.endpoint, code: r.code });
      deps.logger.warn(
        {
          integration: run.integrationId,
          endpoint: run.endpoint,
          rejected: rejected.map((r) => ({ id: r.id, code: r.code })),
        },
        'records dead-lettered; the rest of the page went on',
      );
    },
    signal: opts.signal,
  };
  const driftMetrics = new DriftMetrics(deps.metrics, ctx.drift);
  ctx.onFullFetchComplete = async (run) => {
    const row = await afterFullFetch(ctx, driftMetrics, run);
    opts.onDriftReport?.(row);
  };
  return { ctx, close: () => client.close() };
}
