/**
 * Serialisation of record keys and values. JSON by default; Avro through a Schema Registry when one
 * is configured (implemented beside this module). Every producer and consumer of record topics goes
 * through a RecordSerde, so the format is chosen in one place.
 */
import { KomboStreamError } from '../errors.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import type { ChangeEvent } from './change-events.ts';
import { encodeKeyJson, type RecordKey } from './records.ts';

/** A Kombo record as returned by the API: a JSON object. */
export type KomboRecord = Record<string, unknown> & { id: string };

export interface RecordSerde {
  readonly format: 'json' | 'avro';
  encodeKey(endpoint: EndpointName, key: RecordKey): Promise<Buffer>;
  encodeValue(endpoint: EndpointName, record: KomboRecord): Promise<Buffer>;
  decodeKey(endpoint: EndpointName, data: Buffer): Promise<RecordKey>;
  decodeValue(endpoint: EndpointName, data: Buffer): Promise<KomboRecord>;
  /** A change event for the endpoint's `.changes` topic, keyed as the record. */
  encodeChange(endpoint: EndpointName, key: RecordKey, event: ChangeEvent): Promise<{ key: Buffer; value: Buffer }>;
}

/** A key or value that cannot be decoded: a poison record, never retriable. */
export class SerdeError extends KomboStreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KS_ERR_SERDE', message, options);
  }
}

function parseObject(data: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new SerdeError(`${what} is not JSON: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SerdeError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

export const jsonSerde: RecordSerde = {
  format: 'json',
  async encodeKey(_endpoint, key) {
    return Buffer.from(encodeKeyJson(key));
  },
  async encodeValue(_endpoint, record) {
    return Buffer.from(JSON.stringify(record));
  },
  async decodeKey(_endpoint, data) {
    const k = parseObject(data, 'key');
    if (typeof k.integration_id !== 'string' || typeof k.id !== 'string') {
      throw new SerdeError('key lacks string integration_id and id');
    }
    return { integration_id: k.integration_id, id: k.id };
  },
  async decodeValue(_endpoint, data) {
    const v = parseObject(data, 'value');
    if (typeof v.id !== 'string') throw new SerdeError('value lacks a string id');
    return v as KomboRecord;
  },
  async encodeChange(_endpoint, key, event) {
    return { key: Buffer.from(encodeKeyJson(key)), value: Buffer.from(JSON.stringify(event)) };
  },
};
