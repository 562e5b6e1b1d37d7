/**
 * The record-topic contract: how a Kombo record is keyed and which metadata rides in headers.
 * The value is the record exactly as Kombo returned it (JSON text, or Avro via the registry).
 */
import type { EndpointName } from '../kombo/endpoints.ts';

export interface RecordKey {
  integration_id: string;
  id: string;
}

/** Header names (all values are UTF-8 strings). */
export const H = {
  integrationId: 'kombo-integration-id',
  endpoint: 'kombo-endpoint',
  /** ISO-8601 time the fetch that read this version started; orders versions in the sink. */
  fetchedAt: 'kombo-fetched-at',
  /** The fetch (task run) that produced the record. */
  syncId: 'kombo-sync-id',
  op: 'kombo-op',
  /** Full-fetch generation that last saw the record (drift compaction). */
  generation: 'kombo-generation',
  contentHash: 'kombo-content-hash',
} as const;

/**
 * upsert: created or changed; delete: the last value with remote_deleted_at set (a tombstone follows);
 * tombstone: null value; purge: the integration was offboarded, every trace of the key must go (the
 * sink deletes the row whatever its delete mode); heal: a re-emission of the last value to repair a
 * downstream copy.
 */
export type RecordOp = 'upsert' | 'delete' | 'tombstone' | 'purge' | 'heal';

export interface RecordMeta {
  integrationId: string;
  endpoint: EndpointName;
  fetchedAt: string;
  syncId: string;
  op: RecordOp;
  generation?: string;
  contentHash?: string;
}

/** Keys serialise with a fixed field order, so equal keys are equal bytes (compaction relies on it). */
export function encodeKeyJson(key: RecordKey): string {
  return JSON.stringify({ integration_id: key.integration_id, id: key.id });
}

export function recordHeaders(meta: RecordMeta): Record<string, string> {
  const h: Record<string, string> = {
    [H.integrationId]: meta.integrationId,
    [H.endpoint]: meta.endpoint,
    [H.fetchedAt]: meta.fetchedAt,
    [H.syncId]: meta.syncId,
    [H.op]: meta.op,
  };
  if (meta.generation !== undefined) h[H.generation] = meta.generation;
  if (meta.contentHash !== undefined) h[H.contentHash] = meta.contentHash;
  return h;
}

/**
 * The headers of a dead letter: why (a stable code and a message) and whence (the topic, and the
 * partition and offset where the record came from a topic; the role that gave up on it).
 */
export function deadLetterHeaders(d: {
  code: string;
  message: string;
  role: 'fetcher' | 'sink';
  topic: string;
  partition?: number;
  offset?: string;
}): Record<string, string> {
  return {
    'kombo-error-code': d.code,
    'kombo-error-message': d.message.slice(0, 1_000),
    'kombo-origin-topic': d.topic,
    ...(d.partition === undefined ? {} : { 'kombo-origin-partition': String(d.partition) }),
    ...(d.offset === undefined ? {} : { 'kombo-origin-offset': d.offset }),
    'kombo-origin-role': d.role,
  };
}
