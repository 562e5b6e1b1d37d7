import type { EndpointName } from '../kombo/endpoints.ts';
import type { IndexEntry, IndexWrite } from '../state/record-index.ts';
import { contentHash } from '../topics/content-hash.ts';
import type { OutRecord } from '../topics/kafka.ts';
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

/** Drops fields the operator excluded: they never reach Kafka, the index or the sink. */
export function scrub(
  record: Record<string, unknown>,
  exclude: readonly string[] | undefined,
): Record<string, unknown> {
  if (!exclude?.length) return record;
  const out = { ...record };
  for (const f of exclude) delete out[f];
  return out;
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
        changedAt: typeof value.changed_at === 'string' ? value.changed_at : null,
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
