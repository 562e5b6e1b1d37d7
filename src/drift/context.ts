import type pg from 'pg';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/log.ts';
import { SinkOffsets } from '../sink/offsets.ts';
import { RecordIndex } from '../state/record-index.ts';
import { StateStore } from '../state/store.ts';
import type { KafkaClient, Producer } from '../topics/kafka.ts';
import type { RecordSerde } from '../topics/serde.ts';
import { DriftStore } from './store.ts';

/** What sweeps, confirmations and sink checks need: no Kombo client, so the admin API can confirm a sweep too. */
export interface DriftContext {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  store: StateStore;
  index: RecordIndex;
  drift: DriftStore;
  sinkOffsets: SinkOffsets;
  kafka: KafkaClient;
  producer: Producer;
  serde: RecordSerde;
}

export function createDriftContext(
  deps: { config: Config; logger: Logger; pool: pg.Pool; serde: RecordSerde; kafka: KafkaClient },
  producer: Producer,
): DriftContext {
  const schema = deps.config.postgres.stateSchema;
  return {
    ...deps,
    producer,
    store: new StateStore(deps.pool, schema),
    index: new RecordIndex(deps.pool, schema),
    drift: new DriftStore(deps.pool, schema),
    sinkOffsets: new SinkOffsets(deps.pool, schema),
  };
}
