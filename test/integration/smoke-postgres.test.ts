import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
});
afterAll(async () => ctx?.close());

describe('the test Postgres', () => {
  it("reads back what it wrote, inside the file's own schema", async () => {
    await ctx.pool.query(`CREATE TABLE "${ctx.schema}".things (id text PRIMARY KEY, body jsonb NOT NULL)`);
    await ctx.pool.query(`INSERT INTO "${ctx.schema}".things VALUES ($1, $2), ($3, $4)`, [
      'a',
      { n: 1 },
      'b',
      { n: 2 },
    ]);
    await ctx.pool.query(`UPDATE "${ctx.schema}".things SET body = $2 WHERE id = $1`, ['a', { n: 3 }]);
    const { rows } = await ctx.pool.query(`SELECT id, body FROM "${ctx.schema}".things ORDER BY id`);
    expect(rows).toEqual([
      { id: 'a', body: { n: 3 } },
      { id: 'b', body: { n: 2 } },
    ]);
    const { rows: schemas } = await ctx.pool.query(
      'SELECT table_schema FROM information_schema.tables WHERE table_name = $1',
      ['things'],
    );
    expect(schemas.map((r) => r.table_schema)).toContain(ctx.schema);
  });
});
