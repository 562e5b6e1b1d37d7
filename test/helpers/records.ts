import type { EndpointName } from '../../src/kombo/endpoints.ts';
import type { OutRecord } from '../../src/topics/kafka.ts';
import { encodeKeyJson, type RecordOp, recordHeaders } from '../../src/topics/records.ts';

/** A second of 2026-01-01 as an ISO time: read times that tests place exactly. */
export const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

export interface RecordSpec {
  fetchedAt: string;
  changedAt?: string;
  name?: string;
  op?: RecordOp;
  deleted?: boolean;
  /** The whole value (null: a tombstone), instead of the tag-shaped one built from the rest. */
  value?: unknown;
  extra?: object;
}

/** Builds record-topic records of an endpoint, as the fetcher produces them (JSON, tag-shaped values). */
export function recordsOf(endpoint: EndpointName) {
  return (id: string, o: RecordSpec, integration = 'lever:one'): OutRecord => {
    const value =
      o.value !== undefined
        ? o.value
        : o.op === 'tombstone' || (o.op === 'purge' && o.value === null)
          ? null
          : {
              id,
              remote_id: id,
              name: o.name ?? id,
              changed_at: o.changedAt ?? o.fetchedAt,
              remote_deleted_at: o.deleted ? o.fetchedAt : null,
              remote_data: { x: 1 },
              ...o.extra,
            };
    return {
      key: encodeKeyJson({ integration_id: integration, id }),
      value: value === null ? null : typeof value === 'string' ? value : JSON.stringify(value),
      headers: recordHeaders({
        integrationId: integration,
        endpoint,
        fetchedAt: o.fetchedAt,
        syncId: 's',
        op: o.op ?? (value === null ? 'tombstone' : 'upsert'),
      }),
    };
  };
}
