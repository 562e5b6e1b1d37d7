import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Prometheus registry per process, passed to every part (no global default registry, so tests
 * can run several parts side by side). Metric names: `kombo_stream_<part>_<what>_<unit>`.
 */
export function createMetricsRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'kombo_stream_' });
  return registry;
}

export type { Registry };
