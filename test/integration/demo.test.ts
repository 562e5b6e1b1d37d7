import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { KafkaClient } from '../../src/topics/kafka.ts';
import { spawnNode } from '../helpers/child.ts';
import { topicSize } from '../helpers/topics.ts';

// The README's Ctrl-C path: the first SIGINT ends the live phase; the demo then settles, runs a drift
// pass, compares Postgres with the simulator's truth and prints its verdict, and its exit status is
// the verdict's. (Both runs use the demo's own namespace, so they run one after the other.)
describe('npm run demo, stopped with Ctrl-C', () => {
  const demo = (...extra: string[]) =>
    spawnNode(['src/cli.ts', 'demo', '--integrations', '2', '--records', '60', '--duration', '10m', ...extra]);

  it('settles, verifies, prints an OK verdict, stays up while the data is looked at, and exits 0', async () => {
    const d = demo('--keep');
    await d.waitFor(/Ctrl-C ends the live changes/);
    await new Promise((r) => setTimeout(r, 6_000));
    d.proc.kill('SIGINT');
    await d.waitFor(/Ctrl-C ends it/, 200_000);
    expect(d.output()).toMatch(/stopping live changes; waiting for the pipeline to settle/);
    expect(d.output()).toMatch(
      /verdict: OK: Postgres equals the simulator's truth \(\d+ records in 2 integrations: 0 missing, 0 stale, 0 extra\)/,
    );
    // What it invites the user to do next works while it stays up: the psql query, the topic kcat
    // reads, the metrics.
    const [, url, sql] = /psql "([^"]+)" -c '([^']+)'/.exec(d.output()) ?? [];
    const pool = new pg.Pool({ connectionString: url });
    expect((await pool.query(sql as string)).rows.length).toBeGreaterThan(0);
    await pool.end();
    const [, broker, topic] = /kcat -b (\S+) -C -t (\S+)/.exec(d.output()) ?? [];
    const kafka = new KafkaClient({ clientId: 'demo-test', brokers: [broker as string] });
    expect(await topicSize(kafka, topic as string)).toBeGreaterThan(0n);
    await kafka.close();
    const [, metrics] = /curl (\S+\/metrics)/.exec(d.output()) ?? [];
    expect(await (await fetch(metrics as string)).text()).toMatch(/^kombo_stream_/m);
    expect(d.proc.exitCode).toBeNull();
    d.proc.kill('SIGINT');
    expect(await d.exited).toBe(0);
  }, 240_000);

  it('prints MISMATCH and exits non-zero when Postgres differs from the truth', async () => {
    const d = demo('--inject-mismatch');
    await d.waitFor(/Ctrl-C ends the live changes/);
    await new Promise((r) => setTimeout(r, 3_000));
    d.proc.kill('SIGINT');
    const code = await d.exited;
    expect(d.output()).toMatch(/verdict: MISMATCH: 0 missing, 0 stale, 1 extra/);
    // Not kept up, on a Kafka and Postgres of the user's own (which keep the data): psql and kcat,
    // but no curl to a connector that has stopped.
    expect(d.output()).toMatch(/psql "/);
    expect(d.output()).not.toMatch(/curl /);
    expect(code).toBe(1);
  }, 240_000);
});
