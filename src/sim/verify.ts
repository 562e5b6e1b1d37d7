import type pg from 'pg';
import { ENDPOINTS, type EndpointName, tableName } from '../kombo/endpoints.ts';
import { quoteIdent } from '../state/migrate.ts';
import { contentHash } from '../topics/content-hash.ts';
import type { SimulatorCore } from './simulator.ts';

export interface Mismatch {
  endpoint: EndpointName;
  integration: string;
  missing: string[];
  stale: string[];
  extra: string[];
}

/** Totals over mismatches, for reports. */
export function summarise(m: readonly Mismatch[]): { missing: number; stale: number; extra: number } {
  return m.reduce(
    (a, x) => ({
      missing: a.missing + x.missing.length,
      stale: a.stale + x.stale.length,
      extra: a.extra + x.extra.length,
    }),
    {
      missing: 0,
      stale: 0,
      extra: 0,
    },
  );
}

/**
 * Postgres vs the simulator's truth: every live record present with the same content and not
 * marked deleted; every deleted record absent or marked deleted; no rows the truth does not have.
 */
export async function compareWithTruth(
  pool: pg.Pool,
  schema: string,
  sim: SimulatorCore,
  integrations: string[],
  endpoints?: readonly EndpointName[],
  /**
   * content: the row holds exactly the record's current content. changed-at: the record's own fields
   * are current (changed_at matches), which is all updated_after promises: Kombo does not report some
   * nested changes (e.g. a renamed group inside employees), which only a full (drift) fetch corrects.
   */
  by: 'content' | 'changed-at' = 'content',
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  for (const integration of integrations) {
    const cat = sim.integration(integration)?.category.toLowerCase();
    for (const { name } of ENDPOINTS.filter((e) => e.category === cat && (!endpoints || endpoints.includes(e.name)))) {
      const truth = sim.truth(integration, name);
      const { rows } = await pool.query<{ id: string; hash: string | null; deleted: boolean; changed_at: Date | null }>(
        `SELECT id, _kombo_content_hash AS hash, _kombo_deleted_at IS NOT NULL AS deleted, changed_at FROM ${quoteIdent(schema)}.${quoteIdent(tableName(name))} WHERE integration_id = $1`,
        [integration],
      );
      const got = new Map(rows.map((r) => [r.id, r]));
      const m: Mismatch = { endpoint: name, integration, missing: [], stale: [], extra: [] };
      const want = new Set<string>();
      for (const t of truth) {
        const id = t.id as string;
        want.add(id);
        const row = got.get(id);
        const deleted = t.remote_deleted_at !== null;
        if (!row) {
          if (!deleted) m.missing.push(id);
          continue;
        }
        // Content, not just changed_at: a nested-only change leaves changed_at as it was.
        const current =
          by === 'content'
            ? row.hash === contentHash(t)
            : row.changed_at?.getTime() === Date.parse(t.changed_at as string);
        if (deleted !== row.deleted || !current) m.stale.push(id);
      }
      for (const r of rows) if (!want.has(r.id) && !r.deleted) m.extra.push(r.id);
      if (m.missing.length || m.stale.length || m.extra.length) out.push(m);
    }
  }
  return out;
}
