import type pg from 'pg';
import { quoteIdent } from '../state/migrate.ts';
import { inSchemaDdl } from '../state/pool.ts';
import { type Column, rowMd5, type TableLayout } from './layout.ts';
import { newer, type SinkRecord } from './reduce.ts';
import { liveColumns } from './tables.ts';

/**
 * Bookkeeping of a version. Validity is read time, not changed_at: a version is valid from when the
 * connector first read it from Kombo (its page's read time, Postgres's clock, `_kombo_fetched_at` of
 * the current table) until the next differing version of the record was first read. changed_at does
 * not move for nested changes (a renamed group inside an employee), so it cannot order versions.
 */
const VERSION_COLUMNS = [
  '_kombo_valid_from timestamptz NOT NULL',
  '_kombo_valid_to timestamptz',
  // create, update or delete: derived from the neighbouring versions, so a late version keeps it true
  "_kombo_op text NOT NULL DEFAULT 'update'",
  '_kombo_deleted boolean NOT NULL DEFAULT false',
  '_kombo_content_hash text',
  '_kombo_row_md5 text',
  '_kombo_partition bigint',
  '_kombo_offset bigint',
  '_kombo_recorded_at timestamptz NOT NULL DEFAULT now()',
];

/** What users read: every version, the current one included (a view). */
export const historyTable = (layout: TableLayout) => `${layout.table}_history`;
/** What is stored: every version but a record's only one, which the current table already holds. */
export const versionsTable = (layout: TableLayout) => `${layout.table}_versions`;

/**
 * The current table's row `m` as a version of its record (a record with no stored version has only
 * that one), column by column of `<table>_versions`. Deleted when the sink marked the row deleted or
 * the record itself says so (a deleted record read first, before its tombstone arrives).
 */
function rowAsVersion(layout: TableLayout, column: string, md5 = 'm._kombo_row_md5'): string {
  const deleted = `(m._kombo_deleted_at IS NOT NULL${layout.fields.some((f) => f.name === 'remote_deleted_at') ? ' OR m.remote_deleted_at IS NOT NULL' : ''})`;
  switch (column) {
    case '_kombo_valid_from':
      return 'm._kombo_fetched_at';
    case '_kombo_valid_to':
      return 'NULL::timestamptz';
    case '_kombo_op':
      return `CASE WHEN ${deleted} THEN 'delete' ELSE 'create' END`;
    case '_kombo_deleted':
      return deleted;
    case '_kombo_recorded_at':
      return 'm._kombo_synced_at';
    case '_kombo_row_md5':
      return md5;
    default:
      return `m.${quoteIdent(column)}`;
  }
}

/**
 * Creates `<table>_versions` (add-only, as the current table), the view `<table>_history` over it and
 * the current table, and the point-in-time functions: `<table>_as_of(t)` (the records as they were at
 * t, deleted ones left out) and `<table>_changes(after, until)` (every version first read in
 * (after, until], deletions included). Several sinks starting at once take turns.
 */
export async function ensureHistory(pool: pg.Pool, schema: string, layout: TableLayout): Promise<void> {
  const s = quoteIdent(schema);
  const v = `${s}.${quoteIdent(versionsTable(layout))}`;
  const h = `${s}.${quoteIdent(historyTable(layout))}`;
  const t = `${s}.${quoteIdent(layout.table)}`;
  const col = (c: Column) => `${quoteIdent(c.name)} ${c.pgType}`;
  await inSchemaDdl(pool, schema, async (c) => {
    const kinds = new Map(
      (
        await c.query<{ relname: string; relkind: string }>(
          `SELECT relname, relkind FROM pg_class WHERE relnamespace = to_regnamespace($1) AND relname = ANY($2)`,
          [quoteIdent(schema), [historyTable(layout), versionsTable(layout)]],
        )
      ).rows.map((r) => [r.relname, r.relkind]),
    );
    // An earlier build kept every version in a table of the view's name: its rows are versions.
    if (kinds.get(historyTable(layout)) === 'r' && !kinds.has(versionsTable(layout))) {
      await c.query(`ALTER TABLE ${h} RENAME TO ${quoteIdent(versionsTable(layout))}`);
      await c.query(`DROP INDEX IF EXISTS ${s}.${quoteIdent(`${historyTable(layout)}_from`)}`);
    }
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${v} (
         integration_id text NOT NULL,
         id text NOT NULL,
         ${[...layout.fields.map(col), ...VERSION_COLUMNS].join(',\n         ')},
         PRIMARY KEY (integration_id, id, _kombo_valid_from)
       )`,
    );
    for (const f of layout.fields) await c.query(`ALTER TABLE ${v} ADD COLUMN IF NOT EXISTS ${col(f)}`);
    // BRIN, not a b-tree: versions arrive nearly in read order, so block ranges stay narrow for
    // `_changes(after, until)`, and keeping it costs next to nothing per version written.
    await c.query(
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${versionsTable(layout)}_from_brin`)} ON ${v} USING brin (_kombo_valid_from)`,
    );
    // The view's columns in the stored table's order: a field added later comes last in both, so the
    // view is replaced in place, and what users built on it (their views, grants) stays.
    const stored = (
      await c.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
         ORDER BY ordinal_position`,
        [schema, versionsTable(layout)],
      )
    ).rows;
    const columns = stored.map((r) => r.column_name);
    // A column the stored versions have and the table has not (a field the schema since dropped,
    // kept by an older table taken over) is null for the row's version.
    const live = await liveColumns(c, schema, layout.table);
    const fromRow = (x: string, type: string) =>
      x.startsWith('_kombo_') || live.has(x) ? rowAsVersion(layout, x) : `NULL::${type}`;
    // A record with no stored version has one version: its row, read at _kombo_fetched_at (any later
    // version of it stores this one first, see HistoryWriter.prepare).
    await c.query(
      `CREATE OR REPLACE VIEW ${h} AS
         SELECT ${columns.map(quoteIdent).join(', ')} FROM ${v}
         UNION ALL
         SELECT ${stored.map((x) => `${fromRow(x.column_name, x.data_type)} AS ${quoteIdent(x.column_name)}`).join(', ')}
         FROM ${t} m
         WHERE m._kombo_fetched_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ${v} x WHERE x.integration_id = m.integration_id AND x.id = m.id)`,
    );
    await c.query(
      `CREATE OR REPLACE FUNCTION ${s}.${quoteIdent(`${layout.table}_as_of`)}(at timestamptz)
       RETURNS SETOF ${h} LANGUAGE sql STABLE AS $$
         SELECT * FROM ${h} WHERE _kombo_valid_from <= at AND (_kombo_valid_to IS NULL OR _kombo_valid_to > at)
           AND NOT _kombo_deleted $$`,
    );
    await c.query(
      `CREATE OR REPLACE FUNCTION ${s}.${quoteIdent(`${layout.table}_changes`)}(after timestamptz, until timestamptz)
       RETURNS SETOF ${h} LANGUAGE sql STABLE AS $$
         SELECT * FROM ${h} WHERE _kombo_valid_from > after AND _kombo_valid_from <= until
         ORDER BY _kombo_valid_from, integration_id, id $$`,
    );
  });
}

/**
 * Writes every version a batch carries into `<table>_history`, in the sink's transaction: so exactly
 * once with the current row (a redelivered batch is skipped by the stored offset, a record produced
 * twice has the same read time and is kept once). Versions are placed by read time whatever order
 * they arrive in, so one read earlier and delivered late becomes history, never the newest; a version
 * equal to the one before it (a heal or a replay) adds nothing; a deletion closes the interval with
 * a delete version; a purge (offboarding) removes the record's history.
 */
export class HistoryWriter {
  readonly #insert: string;
  readonly #tombstone: string;
  readonly #close: string;
  readonly #squash: string;
  readonly #purge: string;
  readonly #prepare: string;
  readonly #stored: string;
  readonly #layout: TableLayout;

  constructor(schema: string, layout: TableLayout) {
    this.#layout = layout;
    const h = `${quoteIdent(schema)}.${quoteIdent(versionsTable(layout))}`;
    const fields = layout.fields.map((c) => quoteIdent(c.name));
    const keys = `(SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(integration_id, id)) k`;
    // The current table's row of a record with no stored version is its only version: stored before
    // the table's row changes, so every version after it has it to follow. Its checksum is taken
    // anew: a row edited by hand is stored as the mirror held it, and the heal that follows is a
    // version of its own instead of an equal re-read that would keep the edit for good.
    const stored = [
      'integration_id',
      'id',
      ...layout.fields.map((c) => c.name),
      ...VERSION_COLUMNS.map((c) => c.split(' ')[0] as string),
    ];
    this.#prepare = `INSERT INTO ${h} (${stored.map(quoteIdent).join(', ')})
      SELECT ${stored.map((x) => rowAsVersion(layout, x, rowMd5(layout, 'm'))).join(', ')}
      FROM ${quoteIdent(schema)}.${quoteIdent(layout.table)} m JOIN ${keys} USING (integration_id, id)
      WHERE m._kombo_fetched_at IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM ${h} x WHERE x.integration_id = m.integration_id AND x.id = m.id)
      ON CONFLICT (integration_id, id, _kombo_valid_from) DO NOTHING`;
    this.#stored = `SELECT DISTINCT x.integration_id, x.id FROM ${h} x JOIN ${keys} USING (integration_id, id)`;
    const recordset = [
      'integration_id text',
      'id text',
      ...layout.fields.map((c) => `${quoteIdent(c.name)} ${c.pgType}`),
      '_kombo_valid_from timestamptz',
      '_kombo_deleted boolean',
      '_kombo_content_hash text',
      '_kombo_partition bigint',
      '_kombo_offset bigint',
    ].join(', ');
    const cols = [...fields, '_kombo_deleted', '_kombo_content_hash', '_kombo_partition', '_kombo_offset'];
    const op = (prevMd5: string, prevDeleted: string) =>
      `CASE WHEN c._kombo_deleted THEN 'delete' WHEN ${prevMd5} IS NULL OR ${prevDeleted} THEN 'create' ELSE 'update' END`;
    // Versions are compared by their data columns (the sink's row checksum, stored once per version),
    // not by a header a producer might have left out. A version equal to the one in effect when it was
    // read is no version: the earlier read stands. Within the batch, a key's versions follow each
    // other; the first is compared with the stored one in effect at its read time.
    this.#insert = `WITH r AS (
        SELECT r.*, ${rowMd5(layout, 'r')} AS m FROM jsonb_to_recordset($1::jsonb) AS r(${recordset})),
      b AS (
        SELECT r.*, lag(r.m) OVER w AS bm, lag(r._kombo_deleted) OVER w AS bd, row_number() OVER w AS n
        FROM r WINDOW w AS (PARTITION BY r.integration_id, r.id ORDER BY r._kombo_valid_from)),
      t AS (
        SELECT b.*, top.m AS tm, top.d AS td, top.f > b._kombo_valid_from AS later
        FROM b LEFT JOIN LATERAL (
          SELECT x._kombo_row_md5 AS m, x._kombo_deleted AS d, x._kombo_valid_from AS f FROM ${h} x
          WHERE x.integration_id = b.integration_id AND x.id = b.id
          ORDER BY x._kombo_valid_from DESC LIMIT 1) top ON true),
      c AS (
        SELECT t.*, CASE WHEN t.n > 1 THEN t.bm WHEN t.later THEN p.m ELSE t.tm END AS pm,
          CASE WHEN t.n > 1 THEN t.bd WHEN t.later THEN p.d ELSE t.td END AS pd
        -- The newest stored version is the one in effect, unless this one was read before it (late):
        -- only then is the version in effect at its read time looked up.
        FROM t LEFT JOIN LATERAL (
          SELECT x._kombo_row_md5 AS m, x._kombo_deleted AS d FROM ${h} x
          WHERE t.later AND t.n = 1 AND x.integration_id = t.integration_id AND x.id = t.id
            AND x._kombo_valid_from <= t._kombo_valid_from
          ORDER BY x._kombo_valid_from DESC LIMIT 1) p ON true),
      ins AS (
        INSERT INTO ${h} (integration_id, id, _kombo_valid_from, ${cols.join(', ')}, _kombo_row_md5, _kombo_op)
        SELECT c.integration_id, c.id, c._kombo_valid_from, ${cols.map((x) => `c.${x}`).join(', ')}, c.m, ${op('c.pm', 'c.pd')}
        FROM c WHERE c.pm IS DISTINCT FROM c.m OR c.pd IS DISTINCT FROM c._kombo_deleted
        ON CONFLICT (integration_id, id, _kombo_valid_from) DO NOTHING
        RETURNING integration_id, id, _kombo_valid_from)
      SELECT ins.integration_id, ins.id, (c.n > 1 OR c.pm IS NOT NULL OR c.later IS TRUE) AS neighbours,
        c.later IS TRUE AS later
      FROM ins JOIN c USING (integration_id, id, _kombo_valid_from)`;
    // A tombstone carries no value: the delete version repeats the version in effect when it was read.
    this.#tombstone = `INSERT INTO ${h} (integration_id, id, ${fields.join(', ')}, _kombo_valid_from, _kombo_deleted,
        _kombo_content_hash, _kombo_partition, _kombo_offset, _kombo_row_md5, _kombo_op)
      SELECT d.integration_id, d.id, ${fields.map((f) => `p.${f}`).join(', ')}, d.at, true, p._kombo_content_hash,
        d.part, d.off, p._kombo_row_md5, 'delete'
      FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[]) AS d(integration_id, id, at, part, off)
      CROSS JOIN LATERAL (SELECT * FROM ${h} x WHERE x.integration_id = d.integration_id AND x.id = d.id
        AND x._kombo_valid_from <= d.at ORDER BY x._kombo_valid_from DESC LIMIT 1) p
      WHERE NOT p._kombo_deleted
      ON CONFLICT (integration_id, id, _kombo_valid_from) DO NOTHING
      RETURNING integration_id, id, true AS neighbours, false AS later`;
    const touched = `SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS t(integration_id, id)`;
    const ordered = `SELECT h.integration_id, h.id, h._kombo_valid_from, h._kombo_valid_to, h._kombo_op,
        lag(h._kombo_row_md5) OVER w AS pm, lag(h._kombo_deleted) OVER w AS pd, h._kombo_row_md5 AS m,
        h._kombo_deleted AS deleted, lead(h._kombo_valid_from) OVER w AS next_from
      FROM ${h} h JOIN (${touched}) t USING (integration_id, id)
      WINDOW w AS (PARTITION BY h.integration_id, h.id ORDER BY h._kombo_valid_from)`;
    const key = 'h.integration_id = v.integration_id AND h.id = v.id AND h._kombo_valid_from = v._kombo_valid_from';
    // Each version is valid until the next one of its record was read; a version placed before it
    // (read earlier, delivered late) may change what it is (a create after a delete).
    const vop = `CASE WHEN v.deleted THEN 'delete' WHEN v.pm IS NULL OR v.pd THEN 'create' ELSE 'update' END`;
    this.#close = `UPDATE ${h} h SET _kombo_valid_to = v.next_from, _kombo_op = ${vop} FROM (${ordered}) v
      WHERE ${key} AND (h._kombo_valid_to IS DISTINCT FROM v.next_from OR h._kombo_op IS DISTINCT FROM ${vop})`;
    // A version read late, before a later one equal to it, makes that later one no version.
    this.#squash = `DELETE FROM ${h} h USING (${ordered}) v WHERE ${key} AND v.pm = v.m AND v.pd = v.deleted`;
    this.#purge = `DELETE FROM ${h} h USING (${touched}) t WHERE h.integration_id = t.integration_id AND h.id = t.id`;
  }

  #row(r: SinkRecord): Record<string, unknown> {
    const v = r.value ?? {};
    const row: Record<string, unknown> = { integration_id: r.integrationId, id: r.id };
    for (const f of this.#layout.fields) row[f.name] = v[f.name] ?? null;
    row._kombo_valid_from = r.fetchedAt;
    row._kombo_deleted = v.remote_deleted_at != null;
    row._kombo_content_hash = r.contentHash;
    row._kombo_partition = r.partition;
    row._kombo_offset = r.offset.toString();
    return row;
  }

  /**
   * Before the current table takes a batch: stores the only version of each record the batch
   * touches that has no stored version yet (it is about to be followed, or overwritten).
   */
  async prepare(client: pg.PoolClient, records: readonly SinkRecord[]): Promise<void> {
    if (records.length === 0) return;
    await client.query(this.#prepare, [records.map((r) => r.integrationId), records.map((r) => r.id)]);
  }

  /**
   * `taken`: the offsets of the records the current table took (its row is that version). Only
   * such a record can stand as its row; one the table did not take is stored.
   */
  async apply(client: pg.PoolClient, records: readonly SinkRecord[], taken: ReadonlySet<bigint>): Promise<void> {
    const byKey = new Map<string, SinkRecord[]>();
    for (const r of records) {
      const k = `${r.integrationId}\u0000${r.id}`;
      const list = byKey.get(k);
      if (list) list.push(r);
      else byKey.set(k, [r]);
    }
    const values: SinkRecord[] = [];
    const tombstones: SinkRecord[] = [];
    const purged: SinkRecord[] = [];
    // A record's first version that nothing follows yet is its row in the current table (the view
    // shows it from there): a backfill writes no history at all. After prepare, a record has stored
    // versions exactly when the table had its row before this batch.
    const isLone = (v: readonly SinkRecord[]) =>
      v.length === 1 && v[0]?.value != null && v[0].op !== 'purge' && taken.has(v[0].offset);
    const lone = [...byKey.values()].filter(isLone).map((v) => v[0] as SinkRecord);
    const stored = lone.length
      ? new Set(
          (
            await client.query<{ integration_id: string; id: string }>(this.#stored, [
              lone.map((r) => r.integrationId),
              lone.map((r) => r.id),
            ])
          ).rows.map((r) => `${r.integration_id}\u0000${r.id}`),
        )
      : new Set<string>();
    for (const [k, versions] of byKey) {
      if (isLone(versions) && !stored.has(k)) continue;
      versions.sort((a, b) => (newer(a, b) ? 1 : newer(b, a) ? -1 : 0));
      // Offboarding forgets the record, history included; nothing read before it counts.
      const purge = versions.findLastIndex((r) => r.op === 'purge');
      if (purge >= 0) purged.push(versions[purge] as SinkRecord);
      for (const r of versions.slice(purge + 1)) (r.value ? values : tombstones).push(r);
    }
    const keys = (rs: readonly { integration_id?: string; integrationId?: string; id: string }[]) => [
      rs.map((r) => r.integrationId ?? r.integration_id),
      rs.map((r) => r.id),
    ];
    if (purged.length) await client.query(this.#purge, keys(purged));
    // A record's first version, with none after it, has no neighbour to adjust: the common case of a
    // backfill costs one statement.
    const added: { integration_id: string; id: string; neighbours: boolean; later: boolean }[] = [];
    if (values.length)
      added.push(...(await client.query(this.#insert, [JSON.stringify(values.map((r) => this.#row(r)))])).rows);
    if (tombstones.length)
      added.push(
        ...(
          await client.query(this.#tombstone, [
            ...keys(tombstones),
            tombstones.map((r) => r.fetchedAt),
            tombstones.map((r) => r.partition),
            tombstones.map((r) => r.offset.toString()),
          ])
        ).rows,
      );
    const late = added.filter((a) => a.later);
    if (late.length) await client.query(this.#squash, keys(late));
    const placed = added.filter((a) => a.neighbours);
    if (placed.length) await client.query(this.#close, keys(placed));
  }
}
