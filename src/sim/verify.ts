import type pg from 'pg';
import { ENDPOINTS, type EndpointName, tableName } from '../kombo/endpoints.ts';
import { type Column, tableLayout } from '../sink/layout.ts';
import { quoteIdent } from '../state/migrate.ts';
import { canonicalJson } from '../topics/content-hash.ts';
import { readValueSchema } from '../topics/schemas.ts';
import type { SimulatorCore } from './simulator.ts';

export interface Mismatch {
  endpoint: EndpointName;
  integration: string;
  missing: string[];
  stale: string[];
  extra: string[];
  /** The first differing fields, for a human reading the report. */
  examples: { id: string; field: string; want: unknown; got: unknown }[];
}

/** Totals over mismatches, for reports. */
export function summarise(m: readonly Mismatch[]): { missing: number; stale: number; extra: number } {
  return m.reduce(
    (a, x) => ({
      missing: a.missing + x.missing.length,
      stale: a.stale + x.stale.length,
      extra: a.extra + x.extra.length,
    }),
    { missing: 0, stale: 0, extra: 0 },
  );
}

/**
 * Whether a column holds a record's field, compared as data: the row's own value (as Postgres
 * renders it in to_jsonb) against the simulator's, by the column's type. Nothing the connector
 * computed (hashes, checksums) takes part.
 */
function sameValue(c: Column, want: unknown, got: unknown): boolean {
  if (want === undefined || want === null) return got === null || got === undefined;
  if (got === null || got === undefined) return false;
  switch (c.pgType) {
    case 'timestamptz':
      return Date.parse(String(want)) === Date.parse(String(got));
    case 'date':
      return String(want).slice(0, 10) === String(got);
    case 'time': {
      const pad = (t: string) => (t.length === 5 ? `${t}:00` : t);
      return pad(String(want)) === pad(String(got));
    }
    case 'jsonb':
      return canonicalJson(want) === canonicalJson(got);
    case 'double precision':
    case 'bigint':
      return Number(want) === Number(got);
    default:
      return want === got;
  }
}

/**
 * Postgres vs the simulator's truth, field by field: every live record present, not marked deleted,
 * with each column equal to the record's field; every deleted record absent or marked deleted; no
 * rows the truth does not have.
 */
export async function compareWithTruth(
  pool: pg.Pool,
  schema: string,
  sim: SimulatorCore,
  integrations: string[],
  endpoints?: readonly EndpointName[],
  /**
   * content: every column. changed-at: the record's own (top-level scalar) fields only, which is all
   * updated_after promises: Kombo does not report some nested changes (e.g. a renamed group inside
   * employees), which only a full (drift) fetch corrects.
   */
  by: 'content' | 'changed-at' = 'content',
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  for (const integration of integrations) {
    const cat = sim.integration(integration)?.category.toLowerCase();
    for (const { name } of ENDPOINTS.filter((e) => e.category === cat && (!endpoints || endpoints.includes(e.name)))) {
      const columns = tableLayout(name, readValueSchema(name)).fields.filter(
        (c) => by === 'content' || c.pgType !== 'jsonb',
      );
      const { rows } = await pool.query<{ id: string; deleted: boolean; row: Record<string, unknown> }>(
        `SELECT t.id, t._kombo_deleted_at IS NOT NULL AS deleted, to_jsonb(t) AS row
         FROM ${quoteIdent(schema)}.${quoteIdent(tableName(name))} t WHERE t.integration_id = $1`,
        [integration],
      );
      const got = new Map(rows.map((r) => [r.id, r]));
      const m: Mismatch = { endpoint: name, integration, missing: [], stale: [], extra: [], examples: [] };
      const want = new Set<string>();
      for (const t of sim.truth(integration, name)) {
        const id = t.id as string;
        want.add(id);
        const row = got.get(id);
        const deleted = t.remote_deleted_at !== null && t.remote_deleted_at !== undefined;
        if (!row) {
          if (!deleted) m.missing.push(id);
          continue;
        }
        const differs = columns.filter((c) => !sameValue(c, t[c.name], row.row[c.name]));
        if (deleted !== row.deleted || differs.length) m.stale.push(id);
        for (const c of differs.slice(0, 2))
          if (m.examples.length < 5) m.examples.push({ id, field: c.name, want: t[c.name], got: row.row[c.name] });
      }
      for (const r of rows) if (!want.has(r.id) && !r.deleted) m.extra.push(r.id);
      if (m.missing.length || m.stale.length || m.extra.length) out.push(m);
    }
  }
  return out;
}
