import { isRetriable } from '../errors.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import type { IndexEntry, IndexWrite } from '../state/record-index.ts';
import { changeEvent } from '../topics/change-events.ts';
import { contentHash } from '../topics/content-hash.ts';
import { type OutRecord, recordSize } from '../topics/kafka.ts';
import { type RecordOp, recordHeaders } from '../topics/records.ts';
import type { KomboRecord, RecordSerde } from '../topics/serde.ts';

export interface EmitMeta {
  integrationId: string;
  endpoint: EndpointName;
  fetchedAt: string;
  syncId: string;
  generation?: string;
}

export interface Diff {
  /** New or changed content (deletions included): to emit. */
  changed: IndexWrite[];
  /** Same content as last emitted: suppressed. */
  unchanged: string[];
}

/**
 * Drops the fields the operator excluded (paths; arrays are stepped into): they never reach Kafka,
 * the record index, the sink, a dead letter or a log line.
 */
export function scrub(
  record: Record<string, unknown>,
  exclude: readonly string[] | undefined,
): Record<string, unknown> {
  if (!exclude?.length) return record;
  const drop = (v: unknown, path: readonly string[]): unknown => {
    if (Array.isArray(v)) return v.map((x) => drop(x, path));
    if (!v || typeof v !== 'object' || path.length === 0) return v;
    const [head, ...rest] = path as [string, ...string[]];
    if (!(head in v)) return v;
    const out = { ...(v as Record<string, unknown>) };
    if (rest.length === 0) delete out[head];
    else out[head] = drop(out[head], rest);
    return out;
  };
  return exclude.reduce((r, p) => drop(r, p.split('.')) as Record<string, unknown>, record);
}

/**
 * NUL characters (U+0000) dropped from every string and key. Kombo does return them (an HR system's
 * stray byte), but Postgres can hold none in text or jsonb, so the record index and the sink could
 * not store such a record; dropping them everywhere, Kafka included, keeps every copy equal.
 */
export function withoutNul<T>(v: T): T {
  if (typeof v === 'string') return (v.includes('\u0000') ? v.replaceAll('\u0000', '') : v) as T;
  if (Array.isArray(v)) return v.map(withoutNul) as T;
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [withoutNul(k), withoutNul(x)])) as T;
  return v;
}

/** One record per id: a page that repeats an id (an upstream paging glitch) keeps its last occurrence. */
export function uniqueById(records: readonly Record<string, unknown>[]): {
  records: Record<string, unknown>[];
  repeated: number;
} {
  const byId = new Map<string, Record<string, unknown>>();
  for (const r of records) byId.set(String(r.id), r);
  return { records: [...byId.values()], repeated: records.length - byId.size };
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** changed_at as the index stores it: an unreadable one is kept in the record, not in the index. */
function changedAtOf(v: unknown): string | null {
  return typeof v === 'string' && ISO_DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)) ? v : null;
}

/** Compares a page with the record index (invariant 5). */
export function diffPage(records: readonly Record<string, unknown>[], known: ReadonlyMap<string, IndexEntry>): Diff {
  const changed: IndexWrite[] = [];
  const unchanged: string[] = [];
  for (const value of records) {
    const id = String(value.id);
    const hash = contentHash(value);
    if (known.get(id)?.hash === hash) unchanged.push(id);
    else
      changed.push({
        id,
        hash,
        deleted: value.remote_deleted_at !== null && value.remote_deleted_at !== undefined,
        changedAt: changedAtOf(value.changed_at),
        value,
      });
  }
  return { changed, unchanged };
}

/**
 * Kafka records for changes: an upsert is the record; a deletion is the record with
 * remote_deleted_at set followed by a tombstone for the same key (DESIGN: deletes), so subscribers
 * see what was deleted and compaction can forget the key.
 */
export async function toRecords(
  serde: RecordSerde,
  meta: EmitMeta,
  changes: readonly { id: string; value: Record<string, unknown>; deleted: boolean }[],
  opts: { op?: (deleted: boolean) => RecordOp; tombstoneOp?: RecordOp } = {},
): Promise<OutRecord[]> {
  const out: OutRecord[] = [];
  for (const c of changes) {
    const key = await serde.encodeKey(meta.endpoint, { integration_id: meta.integrationId, id: c.id });
    const base = {
      integrationId: meta.integrationId,
      endpoint: meta.endpoint,
      fetchedAt: meta.fetchedAt,
      syncId: meta.syncId,
      ...(meta.generation === undefined ? {} : { generation: meta.generation }),
    };
    const op = opts.op?.(c.deleted) ?? (c.deleted ? 'delete' : 'upsert');
    out.push({
      key,
      value: await serde.encodeValue(meta.endpoint, c.value as KomboRecord),
      headers: recordHeaders({ ...base, op, contentHash: contentHash(c.value) }),
    });
    if (c.deleted)
      out.push({ key, value: null, headers: recordHeaders({ ...base, op: opts.tombstoneOp ?? 'tombstone' }) });
  }
  return out;
}

export interface Rejected {
  id: string;
  value: Record<string, unknown>;
  code: string;
  message: string;
}

/**
 * Kafka records for the changes, one change at a time, so a record that cannot be one (its value does
 * not fit the Avro schema, or is larger than the topic takes) is set aside with its error instead of
 * failing the page: the rest of the page goes on.
 */
export async function toRecordsIsolating(
  serde: RecordSerde,
  meta: EmitMeta,
  changes: readonly IndexWrite[],
  maxRecordBytes: number,
): Promise<{ out: OutRecord[]; emitted: IndexWrite[]; rejected: Rejected[] }> {
  const out: OutRecord[] = [];
  const emitted: IndexWrite[] = [];
  const rejected: Rejected[] = [];
  for (const c of changes) {
    let records: OutRecord[];
    try {
      records = await toRecords(serde, meta, [c]);
    } catch (err) {
      // The registry's trouble is the whole page's, retried; only the record's own misfit is set aside.
      if (isRetriable(err)) throw err;
      rejected.push({ id: c.id, value: c.value, code: 'KS_ERR_RECORD_UNENCODABLE', message: (err as Error).message });
      continue;
    }
    const bytes = recordSize(records[0] as OutRecord);
    if (bytes > maxRecordBytes) {
      rejected.push({
        id: c.id,
        value: c.value,
        code: 'KS_ERR_RECORD_TOO_LARGE',
        message: `the record is ${bytes} bytes, more than the ${maxRecordBytes} a topic record may have (KAFKA_MAX_RECORD_BYTES)`,
      });
      continue;
    }
    out.push(...records);
    emitted.push(c);
  }
  return { out, emitted, rejected };
}

/**
 * Change events for the versions a fetch (or a sweep) emitted: `before` is the version the record
 * index held (the one read before), so they are made only for what truly changed. At least once: a
 * page retried after its records were produced produces its events again, with the same key and
 * content hash (a subscriber's way to drop the repeat).
 */
export async function changeRecords(
  serde: RecordSerde,
  meta: { integrationId: string; endpoint: EndpointName; readAt: string; runId: string },
  versions: readonly { id: string; value: Record<string, unknown> | null; hash: string | null }[],
  before: ReadonlyMap<string, { value: Record<string, unknown>; deleted: boolean }>,
): Promise<OutRecord[]> {
  const out: OutRecord[] = [];
  for (const v of versions) {
    const prior = before.get(v.id);
    const event = changeEvent(prior, v.value, {
      integration_id: meta.integrationId,
      endpoint: meta.endpoint,
      read_at: meta.readAt,
      run_id: meta.runId,
      content_hash: v.hash,
    });
    const { key, value } = await serde.encodeChange(
      meta.endpoint,
      { integration_id: meta.integrationId, id: v.id },
      event,
    );
    out.push({
      key,
      value,
      headers: recordHeaders({
        integrationId: meta.integrationId,
        endpoint: meta.endpoint,
        fetchedAt: meta.readAt,
        syncId: meta.runId,
        op: event.op === 'd' ? 'delete' : 'upsert',
      }),
    });
  }
  return out;
}
