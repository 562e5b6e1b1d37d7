import type { RecordOp } from '../topics/records.ts';

export interface SinkRecord {
  integrationId: string;
  id: string;
  /** null for a tombstone */
  value: Record<string, unknown> | null;
  fetchedAt: string;
  op: RecordOp;
  contentHash: string | null;
  partition: number;
  offset: bigint;
}

export type Action =
  | { kind: 'upsert'; record: SinkRecord; deleted: boolean }
  /** soft: mark an existing row deleted; hard: delete it (purge always deletes). */
  | { kind: 'delete'; record: SinkRecord; hard: boolean };

const changedAt = (r: SinkRecord) =>
  typeof r.value?.changed_at === 'string' ? Date.parse(r.value.changed_at) : Number.NaN;

/** True when `a` is a later version than `b`: read from upstream later, then changed later, then produced later. */
export function newer(a: SinkRecord, b: SinkRecord): boolean {
  const fa = Date.parse(a.fetchedAt);
  const fb = Date.parse(b.fetchedAt);
  if (fa !== fb) return fa > fb;
  const ca = changedAt(a);
  const cb = changedAt(b);
  if (!Number.isNaN(ca) && !Number.isNaN(cb) && ca !== cb) return ca > cb;
  return a.offset > b.offset;
}

/**
 * One action per key for a batch (invariant 3 within the batch): the latest version wins. A deletion
 * arrives as the record with remote_deleted_at, then a tombstone; in soft mode the two merge into one
 * upsert of the deleted record marked deleted, so a record first seen deleted still gets its row.
 */
export function reduceBatch(records: readonly SinkRecord[], mode: 'soft' | 'hard'): Action[] {
  const latest = new Map<string, SinkRecord>();
  const lastValue = new Map<string, SinkRecord>();
  for (const r of records) {
    const k = `${r.integrationId}\u0000${r.id}`;
    const cur = latest.get(k);
    if (!cur || newer(r, cur)) latest.set(k, r);
    if (r.value) {
      const v = lastValue.get(k);
      if (!v || newer(r, v)) lastValue.set(k, r);
    }
  }
  const actions: Action[] = [];
  for (const [k, r] of latest) {
    if (r.value) {
      if (r.op === 'purge') actions.push({ kind: 'delete', record: r, hard: true });
      else actions.push({ kind: 'upsert', record: r, deleted: false });
      continue;
    }
    const hard = mode === 'hard' || r.op === 'purge';
    const value = lastValue.get(k);
    if (!hard && value && value.fetchedAt === r.fetchedAt)
      actions.push({ kind: 'upsert', record: value, deleted: true });
    else actions.push({ kind: 'delete', record: r, hard });
  }
  return actions;
}
