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
});
