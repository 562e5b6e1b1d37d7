import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnNode } from '../helpers/child.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';

// 15,000 records of ~5 KB: about 75 MB of last values, more than the child's whole 64 MiB heap, so a
// sweep, a sink check or a confirmation that loaded every affected record at once would die.
const ROWS = 15_000;
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
});
afterAll(async () => ctx?.close());

describe('drift passes stream what they touch', () => {
  it('heals, sweeps and confirms 15k large records in a process with a 64 MiB heap', async () => {
    const child = spawnNode(['--max-old-space-size=64', 'test/fixtures/drift-memory.ts'], {
      ROWS: String(ROWS),
      PREFIX: ctx.prefix,
      SINK_SCHEMA: ctx.schema,
      STATE_SCHEMA: ctx.stateSchema,
    });
    const code = await child.exited;
    expect(code, child.output()).toBe(0);
    expect(JSON.parse(child.output().trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      emitted: ROWS,
      blocked: ROWS,
      deleted: ROWS,
    });
  }, 180_000);
});
