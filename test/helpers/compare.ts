import type pg from 'pg';
import { ENDPOINTS, type EndpointName, tableName } from '../../src/kombo/endpoints.ts';
import type { SimulatorCore } from '../../src/sim/simulator.ts';
import { quoteIdent } from '../../src/state/migrate.ts';

export interface Mismatch {
  endpoint: EndpointName;
  integration: string;
  missing: string[];
  stale: string[];
  extra: string[];
}

/**
 * Postgres vs the simulator's truth: every live record present with the same changed_at and not
 * marked deleted; every deleted record absent or marked deleted; no rows the truth does not have.
 */
export async function compareWithTruth(
  pool: pg.Pool,
  schema: string,
  sim: SimulatorCore,
  integrations: string[],
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  for (const integration of integrations) {
    const cat = sim.integration(integration)?.category.toLowerCase();
    for (const { name } of ENDPOINTS.filter((e) => e.category === cat)) {
      const truth = sim.truth(integration, name);
      const { rows } = await pool.query<{ id: string; changed_at: Date | null; deleted: boolean; content: string }>(
        `SELECT id, changed_at, _kombo_deleted_at IS NOT NULL AS deleted FROM ${quoteIdent(schema)}.${quoteIdent(tableName(name))} WHERE integration_id = $1`,
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
        if (deleted !== row.deleted || row.changed_at?.toISOString() !== new Date(t.changed_at as string).toISOString())
          m.stale.push(id);
      }
      for (const r of rows) if (!want.has(r.id) && !r.deleted) m.extra.push(r.id);
      if (m.missing.length || m.stale.length || m.extra.length) out.push(m);
    }
  }
  return out;
}
