import type { Config } from '../config/config.ts';
import { jsonSerde, type RecordSerde } from './serde.ts';

/** JSON unless a Schema Registry is configured, then Avro. */
export async function createSerde(config: Config): Promise<RecordSerde> {
  if (!config.schemaRegistryUrl) return jsonSerde;
  const { AvroSerde } = await import('./avro.ts');
  return AvroSerde.create({
    url: config.schemaRegistryUrl,
    prefix: config.kafka.topicPrefix,
    ...config.schemaRegistry,
  });
}
