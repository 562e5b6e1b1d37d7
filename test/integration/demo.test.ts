import { describe, expect, it } from 'vitest';
import { spawnNode } from '../helpers/child.ts';

// The README's Ctrl-C path: the first SIGINT ends the live phase; the demo then settles, runs a drift
// pass, compares Postgres with the simulator's truth and prints its verdict, and its exit status is
// the verdict's. (Both runs use the demo's own namespace, so they run one after the other.)
describe('npm run demo, stopped with Ctrl-C', () => {
  const demo = (...extra: string[]) =>
    spawnNode(['src/cli.ts', 'demo', '--integrations', '2', '--records', '60', '--duration', '10m', ...extra]);

  it('settles, verifies and prints an OK verdict, exiting 0', async () => {
    const d = demo();
    await d.waitFor(/Ctrl-C ends the live changes/);
    await new Promise((r) => setTimeout(r, 6_000));
    d.proc.kill('SIGINT');
    const code = await d.exited;
    expect(d.output()).toMatch(/stopping live changes; waiting for the pipeline to settle/);
    expect(d.output()).toMatch(
      /verdict: OK: Postgres equals the simulator's truth \(\d+ records in 2 integrations: 0 missing, 0 stale, 0 extra\)/,
    );
    expect(code).toBe(0);
  }, 240_000);

  it('prints MISMATCH and exits non-zero when Postgres differs from the truth', async () => {
    const d = demo('--inject-mismatch');
    await d.waitFor(/Ctrl-C ends the live changes/);
    await new Promise((r) => setTimeout(r, 3_000));
    d.proc.kill('SIGINT');
    const code = await d.exited;
    expect(d.output()).toMatch(/verdict: MISMATCH: 0 missing, 0 stale, 1 extra/);
    expect(code).toBe(1);
  }, 240_000);
});
