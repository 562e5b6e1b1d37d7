import type { Config } from '../config/config.ts';
import { DriftStore } from '../drift/store.ts';
import { type LifecycleView, lifecycleView } from '../integrations/list.ts';
import { LifecycleStore } from '../integrations/store.ts';
import { webhooksFlowing } from '../planner/scheduler.ts';
import type { SinkOffsets } from '../sink/offsets.ts';
import { dbNow } from '../state/clock.ts';
import { RecordIndex } from '../state/record-index.ts';
import type { StateStore } from '../state/store.ts';
import type { KafkaClient } from '../topics/kafka.ts';
import { groupId } from '../topics/names.ts';
import { topicSpecs } from '../topics/topology.ts';

export interface EndpointStatus {
  endpoint: string;
  status: string;
  watermark: Date | null;
  /** Seconds since the watermark: how stale the mirror may be for this endpoint. */
  watermark_age_s: number | null;
  last_delta_finished_at: Date | null;
  last_full_finished_at: Date | null;
  records: number;
  deleted_records: number;
  last_error: string | null;
  last_error_code: string | null;
  dead_letters: number;
  /** Records dead-lettered by fetches that went on (see the DLQ), and the latest one's error code. */
  rejected_records: number;
  last_rejected_code: string | null;
  drift_alert: { vanished: number; total: number; raised_at: Date } | null;
}

export interface IntegrationStatus {
  integration_id: string;
  tool: string | null;
  category: string | null;
  paused: boolean;
  deleted_at: Date | null;
  webhooks_seen_at: Date | null;
  /**
   * How its changes are found: `webhooks` while they arrive, `polling` when none ever did or none
   * came within the poll interval (the scheduler polls it then; its webhooks may have stopped).
   */
  change_detection: 'webhooks' | 'polling';
  /** active, paused, setup_pending, needs_attention or deleted; why it is held; what Kombo said. */
  lifecycle: LifecycleView;
  endpoints: EndpointStatus[];
}

/** Per integration and endpoint: fetches, freshness, record counts, errors, dead letters, drift alerts. */
export async function integrationStatus(
  store: StateStore,
  pollIntervalMs: number,
  integrationId?: string,
): Promise<IntegrationStatus[]> {
  const index = new RecordIndex(store.pool, store.stateSchema);
  const drift = new DriftStore(store.pool, store.stateSchema);
  const lifecycle = new LifecycleStore(store.pool, store.stateSchema);
  const [integrations, states, counts, alerts, life] = await Promise.all([
    integrationId === undefined
      ? store.listIntegrations()
      : store.getIntegration(integrationId).then((i) => (i ? [i] : [])),
    store.endpointStates(integrationId),
    index.counts(integrationId),
    drift.openAlerts(integrationId),
    lifecycle.list(),
  ]);
  const lifeOf = new Map(life.map((l) => [l.integration_id, l]));
  const now = await dbNow(store.pool);
  const key = (r: { integration_id: string; endpoint: string }) => `${r.integration_id}\u0000${r.endpoint}`;
  const count = new Map(counts.map((r) => [key(r), r]));
  const alert = new Map(alerts.map((r) => [key(r), r]));
  return integrations.map((i) => ({
    integration_id: i.integration_id,
    tool: i.tool,
    category: i.category,
    paused: i.paused,
    deleted_at: i.deleted_at,
    webhooks_seen_at: i.webhooks_seen_at,
    change_detection: webhooksFlowing(i, now, pollIntervalMs) ? 'webhooks' : 'polling',
    lifecycle: lifecycleView(i, lifeOf.get(i.integration_id)),
    endpoints: states
      .filter((e) => e.integration_id === i.integration_id)
      .sort((a, b) => a.endpoint.localeCompare(b.endpoint))
      .map((e) => {
        const c = count.get(key(e));
        const a = alert.get(key(e));
        return {
          endpoint: e.endpoint,
          status: e.status,
          watermark: e.watermark,
          watermark_age_s: e.watermark ? Math.round((Date.now() - e.watermark.getTime()) / 1000) : null,
          last_delta_finished_at: e.last_delta_finished_at,
          last_full_finished_at: e.last_full_finished_at,
          records: c?.live ?? 0,
          deleted_records: c?.deleted ?? 0,
          last_error: e.last_error,
          last_error_code: e.last_error_code,
          dead_letters: e.dead_letters,
          rejected_records: e.rejected_records,
          last_rejected_code: e.last_rejected_code,
          drift_alert: a ? { vanished: Number(a.vanished), total: Number(a.total), raised_at: a.raised_at } : null,
        };
      }),
  }));
}

/**
 * Consumer lag per group: records the planner, the fetcher and the sink have yet to process. The
 * sink's own position is the offset stored with its rows (what Kafka holds trails it).
 */
export async function consumerLag(
  config: Config,
  kafka: KafkaClient,
  offsets: SinkOffsets,
): Promise<Record<string, number>> {
  const prefix = config.kafka.topicPrefix;
  const t = topicSpecs(config);
  const behind = async (group: string, topics: string[]) => {
    const committed = await kafka.groupOffsets(group, topics);
    let lag = 0n;
    for (const topic of topics) {
      for (const [p, end] of await kafka.endOffsets(topic)) {
        const at = committed.get(`${topic}:${p}`) ?? -1n;
        lag += end - (at < 0n ? 0n : at);
      }
    }
    return Number(lag);
  };
  const sinkPositions = await offsets.positions(groupId(prefix, 'sink'));
  let sinkLag = 0n;
  for (const spec of t.records.values()) {
    for (const [p, end] of await kafka.endOffsets(spec.name).catch(() => new Map<number, bigint>()))
      sinkLag += end - (sinkPositions.get(`${spec.name}:${p}`) ?? 0n);
  }
  return {
    [groupId(prefix, 'planner')]: await behind(groupId(prefix, 'planner'), [t.events.name]).catch(() => -1),
    [groupId(prefix, 'fetcher')]: await behind(groupId(prefix, 'fetcher'), [t.tasks.name]).catch(() => -1),
    [groupId(prefix, 'sink')]: Number(sinkLag),
  };
}
