import type { EndpointStore, Entity } from './model.ts';
import { hash32 } from './random.ts';

/** A Kombo-shaped API error: HTTP status plus the body Kombo sends. */
export class SimApiError extends Error {
  readonly status: number;
  readonly komboCode: string;
  readonly title: string;
  constructor(status: number, komboCode: string, title: string, message: string) {
    super(message);
    this.status = status;
    this.komboCode = komboCode;
    this.title = title;
  }
  body(): string {
    return JSON.stringify({
      status: 'error',
      error: { code: this.komboCode, title: this.title, message: this.message, log_url: null },
    });
  }
}

export const inputInvalid = (message: string) =>
  new SimApiError(400, 'PLATFORM.INPUT_INVALID', 'The input is invalid.', message);

/** The parameters every list endpoint takes (kombo-api.md §2.2): the only ones the simulator implements. */
const COMMON_PARAMETERS = new Set([
  'cursor',
  'page_size',
  'updated_after',
  'include_deleted',
  'ignore_unsupported_filters',
  'ids',
  'remote_ids',
]);

export interface ListQuery {
  pageSize: number;
  updatedAfter: number | undefined;
  includeDeleted: boolean;
  ids: Set<string> | undefined;
  remoteIds: Set<string> | undefined;
  afterSeq: number;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?)?Z?$/;

function list(v: string | null): Set<string> | undefined {
  if (v === null) return undefined;
  return new Set(
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * Parses Kombo's common list parameters. The cursor carries a fingerprint of the filters: Kombo
 * requires the same filters on every page, and a cursor replayed with other filters is refused.
 */
export function parseListQuery(params: URLSearchParams): ListQuery {
  // Kombo filters by endpoint-specific parameters (employment_statuses, job_ids, ...); answering
  // them unfiltered would hand a client records it asked to leave out.
  for (const name of params.keys())
    if (!COMMON_PARAMETERS.has(name))
      throw inputInvalid(
        `The simulator does not implement the filter "${name}"; it takes ${[...COMMON_PARAMETERS].join(', ')}.`,
      );
  const ps = params.get('page_size');
  const pageSize = ps === null ? 100 : Number(ps);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 250) {
    throw inputInvalid('page_size must be an integer between 1 and 250.');
  }
  const ua = params.get('updated_after');
  let updatedAfter: number | undefined;
  if (ua !== null) {
    if (!DATE_TIME.test(ua) || Number.isNaN(Date.parse(ua.endsWith('Z') || !ua.includes('T') ? ua : `${ua}Z`))) {
      throw inputInvalid('updated_after must be an ISO 8601 date-time.');
    }
    updatedAfter = Date.parse(ua.endsWith('Z') || !ua.includes('T') ? ua : `${ua}Z`);
  }
  for (const flag of ['include_deleted', 'ignore_unsupported_filters']) {
    const v = params.get(flag);
    if (v !== null && v !== 'true' && v !== 'false') throw inputInvalid(`${flag} must be true or false.`);
  }
  const inc = params.get('include_deleted');
  const q: ListQuery = {
    pageSize,
    updatedAfter,
    includeDeleted: inc === 'true',
    ids: list(params.get('ids')),
    remoteIds: list(params.get('remote_ids')),
    afterSeq: 0,
  };
  const cursor = params.get('cursor');
  if (cursor !== null) q.afterSeq = decodeCursor(cursor, filterPrint(q));
  return q;
}

function filterPrint(q: ListQuery): number {
  return hash32(
    q.updatedAfter ?? '',
    q.includeDeleted ? 1 : 0,
    [...(q.ids ?? [])].sort().join(','),
    [...(q.remoteIds ?? [])].sort().join(','),
  );
}

export function encodeCursor(afterSeq: number, q: ListQuery): string {
  return Buffer.from(JSON.stringify({ s: afterSeq, f: filterPrint(q) })).toString('base64url');
}

function decodeCursor(cursor: string, print: number): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw inputInvalid('The cursor is invalid.');
  }
  const c = parsed as { s?: unknown; f?: unknown };
  if (!c || typeof c.s !== 'number' || !Number.isInteger(c.s) || c.s < 0) throw inputInvalid('The cursor is invalid.');
  if (c.f !== print)
    throw inputInvalid('The cursor was issued for other filters; send the same filters on every page.');
  return c.s;
}

/** The time updated_after compares: the record's own changed_at or its latest nested change. */
export const changeTime = (e: Entity) => (e.t > e.c ? e.t : e.c);

/**
 * One page: records after the cursor position that pass the filters, in insertion order. Costs
 * O(records scanned), which is O(page) for unfiltered pages.
 */
export function selectPage(store: EndpointStore, q: ListQuery): { page: Entity[]; next: number | undefined } {
  if (q.ids)
    for (const id of q.ids)
      if (!store.byId.has(id))
        throw new SimApiError(404, 'PLATFORM.INPUT_INVALID', 'Not found.', `No record with id ${id}.`);
  const page: Entity[] = [];
  const list = store.list;
  let i = store.indexAfter(q.afterSeq);
  for (; i < list.length && page.length < q.pageSize; i++) {
    const e = list[i] as Entity;
    if (!store.has(e)) continue;
    if (e.d && !q.includeDeleted) continue;
    if (q.updatedAfter !== undefined && changeTime(e) <= q.updatedAfter) continue;
    if (q.ids && !q.ids.has(e.id)) continue;
    if (q.remoteIds && !q.remoteIds.has(e.remoteId)) continue;
    page.push(e);
  }
  // A next cursor whenever records remain to scan; the last page may then be empty, as Kombo's can be.
  const more = i < list.length;
  return { page, next: more ? (page.at(-1)?.seq ?? (list[i - 1] as Entity).seq) : undefined };
}
