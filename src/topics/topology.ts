import type { Config } from '../config/config.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import type { TopicSpec } from './kafka.ts';
import { changesTopic, dlqTopic, eventsTopic, recordTopic, tasksTopic } from './names.ts';

/** Every topic the connector writes, with the settings it creates them with. */
export function topicSpecs(config: Config): {
  events: TopicSpec;
  tasks: TopicSpec;
  dlq: TopicSpec;
  records: Map<EndpointName, TopicSpec>;
  /** Change-event topics, where CHANGE_EVENTS asks for them. */
  changes: Map<EndpointName, TopicSpec>;
} {
  const { topicPrefix: prefix, partitions, replicationFactor } = config.kafka;
  const base = { partitions, replicationFactor };
  return {
    // The webhook log: kept a week for replay and audit.
    events: {
      name: eventsTopic(prefix),
      ...base,
      compacted: false,
      config: { 'retention.ms': String(7 * 86_400_000) },
    },
    tasks: { name: tasksTopic(prefix), ...base, compacted: false, config: { 'retention.ms': String(7 * 86_400_000) } },
    dlq: { name: dlqTopic(prefix), ...base, compacted: false, config: { 'retention.ms': String(30 * 86_400_000) } },
    records: new Map(
      config.kombo.endpoints.map((e) => [
        e,
        // Tombstones are kept a day so slow consumers still see deletes before compaction forgets them.
        {
          name: recordTopic(prefix, e),
          ...base,
          compacted: true,
          config: { 'delete.retention.ms': String(86_400_000) },
        },
      ]),
    ),
    // A log of what happened, not state: deleted after the retention, never compacted.
    changes: new Map(
      config.kafka.changeEvents.map((e) => [
        e,
        {
          name: changesTopic(prefix, e),
          ...base,
          compacted: false,
          config: { 'retention.ms': String(config.kafka.changeEventsRetentionMs) },
        },
      ]),
    ),
  };
}
