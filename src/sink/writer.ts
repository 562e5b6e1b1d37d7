import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';
import { type Column, rowMd5, type TableLayout } from './layout.ts';
import type { Action } from './reduce.ts';

export interface Failure<T> {
  item: T;
  error: Error;
}

/**
 * Applies the items, isolating the ones Postgres refuses by bisecting under savepoints (as the JDBC
 * sinks "unroll" a failed batch): the good ones are written, the poison ones returned.
 */
export async function applyIsolating<T>(
  client: pg.PoolClient,
  items: readonly T[],
  apply: (client: pg.PoolClient, items: readonly T[]) => Promise<void>,
): Promise<Failure<T>[]> {
  if (items.length === 0) return [];
  await client.query('SAVEPOINT sink_batch');
  try {
    await apply(client, items);
    await client.query('RELEASE SAVEPOINT sink_batch');
    return [];
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT sink_batch');
    await client.query('RELEASE SAVEPOINT sink_batch');
    if (items.length === 1) return [{ item: items[0] as T, error: err as Error }];
    const mid = Math.ceil(items.length / 2);
    return [
      ...(await applyIsolating(client, items.slice(0, mid), apply)),
      ...(await applyIsolating(client, items.slice(mid), apply)),
    ];
  }
}

/** Prepared SQL for one table: built once per layout, parameterised per batch. */
export class TableWriter {
  readonly layout: TableLayout;
  readonly #upsert: string;
  readonly #heal: string;
  readonly #softDelete: string;
  readonly #hardDelete: string;

  constructor(schema: string, layout: TableLayout) {
    this.layout = layout;
    const t = `${quoteIdent(schema)}.${quoteIdent(layout.table)}`;
    const q = (c: Column) => quoteIdent(c.name);
    const fields = layout.fields;
    const recordset = [
      'integration_id text',
      'id text',
      ...fields.map((c) => `${q(c)} ${c.pgType}`),
      '_kombo_fetched_at timestamptz',
      '_kombo_partition bigint',
      '_kombo_offset bigint',
      '_kombo_deleted_at timestamptz',
      '_kombo_content_hash text',
    ].join(', ');
    const cols = [
      'integration_id',
      'id',
      ...fields.map((c) => c.name),
      '_kombo_fetched_at',
      '_kombo_partition',
      '_kombo_offset',
      '_kombo_deleted_at',
      '_kombo_content_hash',
    ];
    const updatable = cols.filter((c) => c !== 'integration_id' && c !== 'id');
    const upsert = (
      where: string,
    ) => `INSERT INTO ${t} AS cur (${cols.map(quoteIdent).join(', ')}, _kombo_row_md5, _kombo_synced_at)
      SELECT ${cols.map((c) => `r.${quoteIdent(c)}`).join(', ')}, ${rowMd5(layout, 'r')}, now()
      FROM jsonb_to_recordset($1::jsonb) AS r(${recordset})
      ON CONFLICT (integration_id, id) DO UPDATE SET
        ${[...updatable, '_kombo_row_md5', '_kombo_synced_at'].map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(',\n        ')}
      WHERE ${where}`;
    // Newer wins (invariant 3): a version read later overwrites; one read at the same time (the same
    // page, or a replay) overwrites if it changed later or equally (idempotent). A missing value
    // (a row whose bookkeeping or changed_at was cleared by hand) counts as oldest.
    const read = (x: string) => `COALESCE(${x}._kombo_fetched_at, '-infinity'::timestamptz)`;
    const changed = (x: string) => `COALESCE(${x}.changed_at, '-infinity'::timestamptz)`;
    const newerWins = fields.some((c) => c.name === 'changed_at')
      ? `(${read('cur')}, ${changed('cur')}) <= (${read('EXCLUDED')}, ${changed('EXCLUDED')})`
      : `${read('cur')} <= ${read('EXCLUDED')}`;
    this.#upsert = upsert(newerWins);
    // Healing repeats the version the record index holds, stamped when the drift pass checked the row:
    // it wins unless the row holds a version read later, whatever the row's (perhaps edited)
    // changed_at; a stamp in the future can only be a hand edit.
    this.#heal = upsert(`${read('cur')} <= ${read('EXCLUDED')} OR cur._kombo_fetched_at > now()`);
    this.#softDelete = `UPDATE ${t} AS t SET _kombo_deleted_at = now(), _kombo_fetched_at = d.fetched_at, _kombo_partition = d.part,
        _kombo_offset = d.off, _kombo_synced_at = now()
      FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[]) AS d(integration_id, id, fetched_at, part, off)
      WHERE t.integration_id = d.integration_id AND t.id = d.id AND ${read('t')} <= d.fetched_at`;
    this.#hardDelete = `DELETE FROM ${t} AS t
      USING unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[]) AS d(integration_id, id, fetched_at, always)
      WHERE t.integration_id = d.integration_id AND t.id = d.id AND (d.always OR ${read('t')} <= d.fetched_at)`;
  }

  #row(a: Extract<Action, { kind: 'upsert' }>): Record<string, unknown> {
    const r = a.record;
    const v = r.value ?? {};
    const row: Record<string, unknown> = { integration_id: r.integrationId, id: r.id };
    for (const c of this.layout.fields) row[c.name] = v[c.name] ?? null;
    row._kombo_fetched_at = r.fetchedAt;
    row._kombo_partition = r.partition;
    row._kombo_offset = r.offset.toString();
    row._kombo_deleted_at = a.deleted ? new Date().toISOString() : null;
    row._kombo_content_hash = r.contentHash;
    return row;
  }

  /** Applies the actions in one round trip per kind. Throws if any row violates a constraint. */
  async apply(client: pg.PoolClient, actions: readonly Action[]): Promise<void> {
    const ups = actions.filter((a): a is Extract<Action, { kind: 'upsert' }> => a.kind === 'upsert');
    const dels = actions.filter((a): a is Extract<Action, { kind: 'delete' }> => a.kind === 'delete');
    for (const [sql, heal] of [
      [this.#upsert, false],
      [this.#heal, true],
    ] as const) {
      const rows = ups.filter((a) => (a.record.op === 'heal') === heal);
      if (rows.length) await client.query(sql, [JSON.stringify(rows.map((a) => this.#row(a)))]);
    }
    const soft = dels.filter((a) => !a.hard);
    const hard = dels.filter((a) => a.hard);
    if (soft.length) {
      await client.query(this.#softDelete, [
        soft.map((a) => a.record.integrationId),
        soft.map((a) => a.record.id),
        soft.map((a) => a.record.fetchedAt),
        soft.map((a) => a.record.partition),
        soft.map((a) => a.record.offset.toString()),
      ]);
    }
    if (hard.length) {
      await client.query(this.#hardDelete, [
        hard.map((a) => a.record.integrationId),
        hard.map((a) => a.record.id),
        hard.map((a) => a.record.fetchedAt),
        hard.map((a) => a.record.op === 'purge'),
      ]);
    }
  }
}
