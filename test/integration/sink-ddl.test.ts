import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHistory } from '../../src/sink/history.ts';
import { tableLayout } from '../../src/sink/layout.ts';
import { ensureTable } from '../../src/sink/tables.ts';
import { valueSchema } from '../../src/topics/schemas.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
});
afterAll(async () => ctx?.close());

describe("the sink's tables when several sinks start at once", () => {
  it('are created once, whoever comes first; nobody fails on the catalogue', async () => {
    // Scaled-out sinks start together: concurrent CREATE ... IF NOT EXISTS of one name failed with
    // "duplicate key value violates unique constraint pg_class_relname_nsp_index".
    const layouts = (['hris/employees', 'ats/tags'] as const).map((e) => tableLayout(e, valueSchema(e)));
    const start = async () => {
      for (const layout of layouts) {
        await ensureTable(ctx.pool, ctx.schema, layout);
        await ensureHistory(ctx.pool, ctx.schema, layout);
      }
    };
    const results = await Promise.allSettled(Array.from({ length: 6 }, start));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const tables = await ctx.pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
      [ctx.schema],
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['ats_tags', 'ats_tags_history', 'ats_tags_versions', 'hris_employees']),
    );
  });

  it('keeps what users built on a history view across restarts and added fields, and takes over an older table', async () => {
    const base = tableLayout('ats/tags', valueSchema('ats/tags'));
    // A field the schema gains in the middle of its list.
    const grown = { ...base, fields: [base.fields[0], { name: 'colour', pgType: 'text' }, ...base.fields.slice(1)] };
    const q = (sql: string) => ctx.pool.query(sql);
    const s = `"${ctx.schema}"`;
    await q(`CREATE VIEW ${s}.tag_names AS SELECT id, name FROM ${s}.ats_tags_history`);
    await q(`DROP ROLE IF EXISTS kombo_history_reader`);
    await q(`CREATE ROLE kombo_history_reader`);
    await q(`GRANT SELECT ON ${s}.ats_tags_history TO kombo_history_reader`);
    await ensureTable(ctx.pool, ctx.schema, grown as typeof base);
    await ensureHistory(ctx.pool, ctx.schema, grown as typeof base);
    await ensureHistory(ctx.pool, ctx.schema, grown as typeof base);
    expect((await q(`SELECT to_regclass('${ctx.schema}.tag_names') IS NOT NULL AS kept`)).rows).toEqual([
      { kept: true },
    ]);
    const granted = await q(
      `SELECT has_table_privilege('kombo_history_reader', '${ctx.schema}.ats_tags_history', 'SELECT') AS ok`,
    );
    expect(granted.rows).toEqual([{ ok: true }]);
    const cols = await q(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = '${ctx.schema}' AND table_name = 'ats_tags_history'`,
    );
    expect(cols.rows.map((r) => r.column_name)).toContain('colour');
    await q(`DROP VIEW ${s}.tag_names`);
    await q(`REVOKE ALL ON ${s}.ats_tags_history FROM kombo_history_reader`);
    await q(`DROP ROLE kombo_history_reader`);

    // An earlier build kept every version in a table named like the view: its versions carry over.
    const old = `${ctx.schema}_old`;
    await q(`CREATE SCHEMA "${old}"`);
    try {
      await q(`CREATE TABLE "${old}".ats_tags_history (LIKE ${s}.ats_tags_versions INCLUDING ALL)`);
      await q(`INSERT INTO "${old}".ats_tags_history (integration_id, id, name, _kombo_valid_from, _kombo_op)
               VALUES ('i', 'kept', 'from before', '2026-01-01T00:00:00Z', 'create')`);
      await ensureTable(ctx.pool, old, base);
      await ensureHistory(ctx.pool, old, base);
      const rows = await q(`SELECT id, name FROM "${old}".ats_tags_history`);
      expect(rows.rows).toEqual([{ id: 'kept', name: 'from before' }]);
    } finally {
      await q(`DROP SCHEMA "${old}" CASCADE`);
    }
  });
});
