import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { spawnNode } from '../helpers/child.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';

let ctx: TestContext;
let sim: Simulator;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({ seed: 3 });
  await ctx.pool.query(`DROP SCHEMA "${ctx.stateSchema}" CASCADE`);
});
afterAll(async () => {
  await sim?.stop();
  await ctx?.close();
});

const ADMIN_TOKEN = 'doctor-admin-token-3f9a0c';
const run = async (command: string[], env: Record<string, string> = {}) => {
  const child = spawnNode(['src/cli.ts', ...command], {
    TOPIC_PREFIX: ctx.prefix,
    PG_SCHEMA: ctx.schema,
    STATE_SCHEMA: ctx.stateSchema,
    KAFKA_PARTITIONS: '3',
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    ADMIN_TOKEN,
    ...env,
  });
  return { code: await child.exited, out: child.output() };
};
const stateExists = async () =>
  (await ctx.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [ctx.stateSchema])).rowCount === 1;

describe('kombo-stream doctor', () => {
  it('prints every effective setting with its source, secrets masked, and finds nothing wrong', async () => {
    const { code, out } = await run(['doctor']);
    expect(code, out).toBe(0);
    expect(out).toMatch(/ADMIN_TOKEN\s+\(set, hidden\)\s+\(environment\)/);
    expect(out).toMatch(/PORT\s+8080\s+\(default\)/);
    expect(out).toMatch(/ok\s+Kafka: reached/);
    expect(out).toMatch(/ok\s+Postgres: connected as/);
    expect(out).toMatch(/ok\s+Kombo: the API key is accepted/);
    expect(out).toContain('All good.');
    expect(out).not.toContain(ADMIN_TOKEN);
    expect(out).not.toContain(sim.apiKey);
  }, 60_000);

  it('reports each problem with what to do, exits non-zero, and changes nothing', async () => {
    // A record topic that someone created by hand, uncompacted and with another partition count.
    const topic = `${ctx.prefix}.hris.employees`;
    await ctx.kafka.ensureTopics([{ name: topic, partitions: 1, compacted: false }]);
    // Only this test's prefix: other test files create topics in parallel.
    const ours = async () => new Set((await ctx.kafka.listTopics()).filter((t) => t.startsWith(`${ctx.prefix}.`)));
    const before = await ours();
    const { code, out } = await run(['doctor'], { KOMBO_API_KEY: 'not-the-key' });
    expect(code, out).toBe(1);
    expect(out).toMatch(
      new RegExp(
        `FAIL\\s+Kafka: ${topic.replaceAll('.', '\\.')} has cleanup.policy=delete.*set cleanup.policy=compact`,
      ),
    );
    expect(out).toMatch(/has 1 partitions, KAFKA_PARTITIONS says 3: set KAFKA_PARTITIONS=1/);
    expect(out).toMatch(/FAIL\s+Kombo: .* refused the API key \(401\): check KOMBO_API_KEY/);
    expect(out).toContain('3 problem(s) found.');
    expect(out).not.toContain('not-the-key');
    // Read-only: no topic created, no state schema created.
    expect(await ours()).toEqual(before);
    expect(await stateExists()).toBe(false);
  }, 60_000);

  it('status, too, reads without creating: before the connector ever ran it says so', async () => {
    const { code, out } = await run(['status']);
    expect(code).toBe(1);
    expect(out).toMatch(/no connector state in schema .* start the connector once/);
    expect(await stateExists()).toBe(false);
  }, 60_000);
});
