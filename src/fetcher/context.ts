import type { RoleDeps } from '../app/role.ts';
import { createDriftContext } from '../drift/context.ts';
import { afterFullFetch, DriftMetrics } from '../drift/drift.ts';
import { ConfigError } from '../errors.ts';
import { KomboClient } from '../kombo/client.ts';
import { enqueueTasks } from '../planner/trigger.ts';
import { FetchRuns } from '../state/fetch-runs.ts';
import type { Producer } from '../topics/kafka.ts';
import { type FetchContext, FetchMetrics } from './fetch.ts';
import { RateLimiter } from './rate-limit.ts';

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
  if (!config.kombo.apiKey)
    throw new ConfigError([{ key: 'KOMBO_API_KEY', message: 'is required to fetch from Kombo' }]);
  const client = new KomboClient({
    apiUrl: config.kombo.apiUrl,
    apiKey: config.kombo.apiKey,
    timeoutMs: config.fetcher.timeoutMs,
    maxResponseBytes: config.fetcher.maxResponseBytes,
    maxRetryWaitMs: config.fetcher.maxRetryWaitMs,
  });
  const ctx: FetchContext = {
    ...createDriftContext(deps, producer),
    client,
    limiter: new RateLimiter(config.fetcher.rateLimit),
    runs: new FetchRuns(deps.pool, config.postgres.stateSchema, { staleAfterMs: config.fetcher.runStaleAfterMs }),
    metrics: new FetchMetrics(deps.metrics),
    enqueue: (tasks) => enqueueTasks(producer, config.kafka.topicPrefix, tasks),
    signal: opts.signal,
  };
  const driftMetrics = new DriftMetrics(deps.metrics, ctx.drift);
  ctx.onFullFetchComplete = async (run) => {
    const row = await afterFullFetch(ctx, driftMetrics, run);
    opts.onDriftReport?.(row);
  };
  return { ctx, close: () => client.close() };
}
