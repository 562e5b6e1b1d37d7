import type { EndpointName } from '../kombo/endpoints.ts';
import type { RecordSchema } from './schemas.ts';

/**
 * Change events (`<record topic>.changes`): one per version a fetch found changed, in Debezium's
 * envelope where it fits, plus the paths of the fields that changed. Kombo's guide tells customers to
 * compare nested data to find out what changed (changed_at does not move for nested changes); these
 * events do it for them.
 */
export interface ChangeEvent {
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  /** c: created (or re-created after a deletion), u: updated, d: deleted. */
  op: 'c' | 'u' | 'd';
  source: {
    connector: 'kombo-stream';
    integration_id: string;
    endpoint: EndpointName;
    /** When the version was read from Kombo (Postgres's clock): its place in the record's history. */
    read_at: string;
    /** The fetch run that read it. */
    run_id: string;
    /** The new version's content hash (the before's for a deletion): with the key, a duplicate's identity. */
    content_hash: string | null;
  };
  /** When the event was made. */
  ts_ms: number;
  /**
   * The fields that differ between before and after, as paths: `first_name`, `work_location.name`,
   * `employments[id=E1].job_title`, `tags[2]`; an array element added or removed is its own path.
   * Empty for a deletion: the whole record went, and `before` says what it was.
   */
  changed: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Kombo's nested records carry ids: those are matched by id, anything else by position. */
const hasIds = (a: readonly unknown[]) => a.every((x) => isObject(x) && typeof x.id === 'string');

function diff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isObject(a) && isObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (hasIds(a) && hasIds(b)) {
      const byId = (xs: readonly unknown[]) => new Map(xs.map((x) => [(x as { id: string }).id, x]));
      const ma = byId(a);
      const mb = byId(b);
      for (const id of new Set([...ma.keys(), ...mb.keys()])) {
        const p = `${path}[id=${id}]`;
        if (!ma.has(id) || !mb.has(id)) out.push(p);
        else diff(ma.get(id), mb.get(id), p, out);
      }
      return;
    }
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length || i >= b.length) out.push(`${path}[${i}]`);
      else diff(a[i], b[i], `${path}[${i}]`, out);
    }
    return;
  }
  // Absent and null are one value: Kombo omits optional keys, and the Avro form has them as null.
  if ((a ?? null) !== (b ?? null)) out.push(path);
}

/** The paths that differ between two versions of a record (either may be absent). */
export function changedPaths(before: Record<string, unknown> | null, after: Record<string, unknown> | null): string[] {
  const out: string[] = [];
  diff(before ?? {}, after ?? {}, '', out);
  return out;
}

/**
 * The event for a version a fetch found changed. `before` is the previous version the connector
 * read (the record index's), absent for a record never seen; a version with remote_deleted_at set
 * is a deletion, whose `after` is null (Debezium's form) and whose `before` is the last live version.
 */
export function changeEvent(
  before: { value: Record<string, unknown>; deleted: boolean } | undefined,
  after: Record<string, unknown> | null,
  source: Omit<ChangeEvent['source'], 'connector'>,
  now = Date.now(),
): ChangeEvent {
  const deleted = after === null || after.remote_deleted_at != null;
  const prior = before && !before.deleted ? before.value : null;
  return {
    before: prior,
    after: deleted ? null : after,
    op: deleted ? 'd' : prior ? 'u' : 'c',
    source: { connector: 'kombo-stream', ...source },
    ts_ms: now,
    changed: deleted ? [] : changedPaths(prior, after),
  };
}

/**
 * The Avro schema of an endpoint's change events: the envelope around the record's own schema (the
 * record topic's contract), `after` referring to it by its full name.
 */
export function changeEventSchema(value: RecordSchema): RecordSchema {
  const fullName = value.namespace ? `${value.namespace}.${value.name}` : value.name;
  return {
    type: 'record',
    name: `${value.name}ChangeEvent`,
    namespace: 'dev.kombostream.changes',
    doc: 'A version a fetch found changed, in the shape of a Debezium change event, with the changed paths.',
    fields: [
      { name: 'before', type: ['null', value], default: null },
      { name: 'after', type: ['null', fullName], default: null },
      { name: 'op', type: 'string', doc: 'c (created or re-created), u (updated), d (deleted)' },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'ChangeSource',
          fields: [
            { name: 'connector', type: 'string' },
            { name: 'integration_id', type: 'string' },
            { name: 'endpoint', type: 'string' },
            { name: 'read_at', type: { type: 'string', 'kombo.format': 'date-time' } },
            { name: 'run_id', type: 'string' },
            { name: 'content_hash', type: ['null', 'string'], default: null },
          ],
        },
      },
      { name: 'ts_ms', type: 'long' },
      { name: 'changed', type: { type: 'array', items: 'string' } },
    ],
  };
}
