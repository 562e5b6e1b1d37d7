import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { projectRoot } from '../src/localstack/paths.ts';
import { freePort } from '../src/localstack/process.ts';
import { startSimulator } from '../src/sim/index.ts';
import { quoteIdent } from '../src/state/migrate.ts';
import type { BenchEnv, BenchModule } from './types.ts';
import { benchContext, peakRssMiB, percentile } from './util.ts';

const SECRET = 'whsec_scale';

/**
 * Scale (issue 9.5): many integrations backfilling at once while a few small ones keep changing. The
 * connector runs as its own process (every role), so its peak RSS is its own. Freshness of the small
 * integrations' changes during the backfill is compared with the same measurement when idle.
 */
const bench: BenchModule = {
  name: 'scale',
  async run(env: BenchEnv) {
    const big = env.quick ? 100 : 990;
    const small = 10;
    const port = await freePort();
    const sim = await startSimulator({
      seed: 5,
      webhook: { url: `http://127.0.0.1:${port}/webhooks/kombo`, secret: SECRET, retryBaseMs: 500, maxAttempts: 20 },
      rateLimit: { limit: 1_000_000, windowMs: 60_000 },
    });
    const b = await benchContext(env, 'scale');
    let proc: ChildProcess | undefined;
    try {
      // Launched as `npm start` launches it (same Node flags, e.g. the heap cap), on this Node.
      const start = (
        JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
          scripts: { start: string };
        }
      ).scripts.start.split(' ');
      proc = spawn(process.execPath, start.slice(1), {
        cwd: projectRoot,
        env: {
          ...process.env,
          KAFKA_BROKERS: env.brokers.join(','),
          DATABASE_URL: env.databaseUrl,
          TOPIC_PREFIX: b.id,
          PG_SCHEMA: b.config.postgres.sinkSchema,
          STATE_SCHEMA: b.config.postgres.stateSchema,
          KOMBO_API_URL: sim.url,
          KOMBO_API_KEY: sim.apiKey,
          KOMBO_WEBHOOK_SECRET: SECRET,
          PORT: String(port),
          ADMIN_PORT: '0',
          KAFKA_PARTITIONS: '6',
          FETCH_CONCURRENCY: '8',
          FETCH_OVERLAP: '5s',
          KOMBO_RATE_LIMIT: '400',
          KOMBO_RATE_LIMIT_PER_INTEGRATION: '20',
          LOG_LEVEL: 'warn',
          KAFKAJS_NO_PARTITIONER_WARNING: '1',
        },
        stdio: 'ignore',
      });
      for (let t = Date.now(); Date.now() - t < 60_000; ) {
        const ok = await request(`http://127.0.0.1:${port}/healthz`).then(
          async (r) => {
            await r.body.dump();
            return r.statusCode === 200;
          },
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const smallIds: string[] = [];
      for (let k = 0; k < small; k++)
        smallIds.push((await sim.core.createIntegration({ category: 'HRIS', size: 20 })).id);
      const sink = quoteIdent(b.config.postgres.sinkSchema);
      const state = quoteIdent(b.config.postgres.stateSchema);
      /** Times until the delta that carries the change finished (in Kafka) and until the row shows. */
      const waitVisible = async (integration: string, id: string, want: string, t0: number, wall: Date) => {
        let fetched: number | undefined;
        for (;;) {
          const r = await b.pool.query(
            `SELECT changed_at FROM ${sink}.hris_employees WHERE integration_id = $1 AND id = $2`,
            [integration, id],
          );
          if (fetched === undefined) {
            const f = await b.pool.query(
              `SELECT 1 FROM ${state}.endpoint_state WHERE integration_id = $1 AND endpoint = 'hris/employees' AND last_fetch_finished_at > $2`,
              [integration, wall],
            );
            if (f.rowCount) fetched = performance.now() - t0;
          }
          if (r.rows[0]?.changed_at?.getTime() === Date.parse(want)) {
            const visible = performance.now() - t0;
            return { visible, fetched: fetched ?? visible };
          }
          if (performance.now() - t0 > 600_000) throw new Error('change never became visible');
          await new Promise((r2) => setTimeout(r2, 20));
        }
      };
      const freshness = async (n: number, during?: () => boolean) => {
        const visible: number[] = [];
        const fetched: number[] = [];
        for (let k = 0; k < n && (!during || during()); k++) {
          const integration = smallIds[k % small] as string;
          const target = sim.core.truth(integration, 'hris/employees', { includeDeleted: false })[k % 15] as {
            id: string;
          };
          const t0 = performance.now();
          const wall = new Date();
          await sim.core.change(integration, [{ op: 'update', endpoint: 'hris/employees', id: target.id }]);
          const want = (
            sim.core.truth(integration, 'hris/employees').find((r) => r.id === target.id) as { changed_at: string }
          ).changed_at;
          const t = await waitVisible(integration, target.id, want, t0, wall);
          visible.push(t.visible);
          fetched.push(t.fetched);
          await new Promise((r) => setTimeout(r, 250));
        }
        return { visible: visible.sort((a, c) => a - c), fetched: fetched.sort((a, c) => a - c) };
      };
      // Let the small integrations' first syncs land, then measure freshness while idle.
      await new Promise((r) => setTimeout(r, 10_000));
      env.log('scale: freshness while idle');
      const idle = await freshness(20);
      env.log(`scale: ${big} integrations start backfilling`);
      const t0 = performance.now();
      for (let k = 0; k < big; k++)
        await sim.core.createIntegration({ category: k % 2 ? 'ATS' : 'HRIS', size: k % 2 ? 330 : 220 });
      const records = sim.core.integrations().reduce((n, i) => n + i.records, 0);
      const bigIds = sim.core
        .integrations()
        .map((i) => i.id)
        .filter((id) => !smallIds.includes(id));
      let backfilling = true;
      const sinkRows = async () => {
        let n = 0;
        for (const t of [
          'hris_employees',
          'hris_employments',
          'hris_time_off_balances',
          'ats_candidates',
          'ats_applications',
        ]) {
          n += Number(
            (
              await b.pool
                .query(`SELECT count(*) FROM ${sink}.${t} WHERE integration_id = ANY($1)`, [bigIds])
                .catch(() => ({ rows: [{ count: 0 }] }))
            ).rows[0].count,
          );
        }
        return n;
      };
      const want = bigIds.reduce((n, id) => {
        const i = sim.core.integration(id);
        return (
          n +
          (i
            ? ['hris/employees', 'hris/employments', 'hris/time-off-balances', 'ats/candidates', 'ats/applications']
                .filter((e) => i.stores.has(e as never))
                .reduce((m, e) => m + sim.core.truth(id, e as never).length, 0)
            : 0)
        );
      }, 0);
      const watcher = (async () => {
        while ((await sinkRows()) < want) await new Promise((r) => setTimeout(r, 5_000));
        backfilling = false;
      })();
      env.log(`scale: ${records} records upstream; measuring small-integration freshness during the backfill`);
      const during = await freshness(1_000_000, () => backfilling);
      await watcher;
      const backfillS = (performance.now() - t0) / 1000;
      const peak = peakRssMiB(proc.pid as number) ?? Number.NaN;
      return [
        ...(['visible', 'fetched'] as const).flatMap((stage) =>
          [50, 99].map((p) => ({
            name: `scale: ${big + small} integrations, ${Math.round(records / 1000)}k records backfilling (${backfillS.toFixed(0)} s)`,
            metric: `small integrations' change ${stage === 'visible' ? 'to row' : 'to delta fetched into Kafka'} p${p} (${during.visible.length} changes)`,
            unit: 'ms',
            ours: percentile(during[stage], p),
            baseline: { name: 'same, connector idle', value: percentile(idle[stage], p) },
            peakRssMiB: peak,
          })),
        ),
        {
          name: `scale: ${big + small} integrations, ${Math.round(records / 1000)}k records backfilling`,
          metric: 'connector peak RSS (all roles, one process)',
          unit: 'MiB',
          ours: peak,
          goal: '< 512 MiB',
          goalMet: peak < 512,
          peakRssMiB: peak,
        },
      ];
    } finally {
      proc?.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 3_000));
      proc?.kill('SIGKILL');
      await sim.stop();
      await b.close();
    }
  },
};
export default bench;
