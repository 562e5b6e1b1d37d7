import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../src/localstack/paths.ts';
import { freePort } from '../../src/localstack/process.ts';
import { type Child, spawnNode } from '../helpers/child.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually } from '../helpers/topics.ts';

interface Service {
  profiles?: string[];
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}

let ctx: TestContext | undefined;
/** The services running, by name; one that exits while listed fails the run. */
const running = new Map<string, Child>();
afterAll(async () => {
  const all = [...running.values()].reverse();
  running.clear();
  for (const c of all) {
    c.proc.kill('SIGTERM');
    await c.exited;
  }
  await ctx?.close();
});

/**
 * No Docker engine runs here, so `docker compose --profile demo up` is replayed: each service of the
 * profile runs as a process of its own with the command and environment compose gives it (the image's
 * entry point is the CLI), in depends_on order, waiting for a service_healthy one to answer its
 * health check. Service names become 127.0.0.1 and container ports free ports; Kafka and Postgres,
 * which compose starts from public images, are this run's.
 */
describe('docker compose --profile demo', () => {
  it('mirrors the simulator into Postgres without a Kombo account', async () => {
    ctx = await createTestContext(import.meta.url);
    const compose = parse(await readFile(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, Service>;
    };
    const demo = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('demo'));
    expect(demo.map(([n]) => n).sort()).toEqual(['connector-demo', 'simulator']);

    // Every container port a demo service publishes, as a free port here.
    const ports = new Map<string, number>();
    for (const [name, s] of demo)
      for (const p of s.ports ?? []) ports.set(`${name}:${p.split(':').at(-1)}`, await freePort());
    const rewrite = (own: string, value: string) => {
      let v = value;
      for (const [hostPort, free] of ports) {
        v = v.replaceAll(hostPort, `127.0.0.1:${free}`);
        const [service, port] = hostPort.split(':');
        // The service's own listening port: `--port=3000`, PORT: 8080.
        if (service === own) v = v.replace(new RegExp(`^(--port=)?${port}$`), `$1${free}`);
      }
      return v;
    };

    const start = async (name: string) => {
      if (running.has(name)) return;
      const s = compose.services[name] as Service;
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (!compose.services[dep]?.profiles) continue; // Kafka, Postgres: this run's
        await start(dep);
        if (condition === 'service_healthy') {
          const port = [...ports].find(([k]) => k.startsWith(`${dep}:`))?.[1];
          await eventually(
            () =>
              fetch(`http://127.0.0.1:${port}/healthz`).then(
                (r) => r.ok,
                () => false,
              ),
            Boolean,
            60_000,
          );
        }
      }
      const env = Object.fromEntries(
        Object.entries(s.environment ?? {}).map(([k, v]) => [k, rewrite(name, String(v))]),
      );
      Object.assign(env, {
        KAFKA_BROKERS: ctx?.brokers.join(','),
        DATABASE_URL: ctx?.databaseUrl,
        TOPIC_PREFIX: ctx?.prefix,
        PG_SCHEMA: ctx?.schema,
        STATE_SCHEMA: ctx?.stateSchema,
      });
      const child = spawnNode(['src/cli.ts', ...(s.command ?? ['start']).map((a) => rewrite(name, a))], env);
      running.set(name, child);
      void child.exited.then((code) => {
        if (running.has(name)) throw new Error(`${name} exited (${code}):\n${child.output().slice(-3_000)}`);
      });
    };
    for (const [name] of demo) await start(name);

    const sim = running.get('simulator');
    await sim?.waitFor(/export KOMBO_API_KEY=(\S+)/);
    const out = sim?.output() ?? '';
    const root = (/Kombo simulator on (\S+)\/v1/.exec(out)?.[1] ?? '').replace('0.0.0.0', '127.0.0.1');
    const key = /export KOMBO_API_KEY=(\S+)/.exec(out)?.[1];
    const hris = [...out.matchAll(/^ {2}HRIS (\S+)/gm)].map((m) => m[1] as string);
    expect(hris).toHaveLength(2);

    // Data against data: every employee the simulator has not changed in the last 10 s is in
    // Postgres, alive, with the simulator's changed_at (live changes go on meanwhile).
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2 });
    const behind = async () => {
      let missing = 0;
      for (const id of hris) {
        const truth = (await (
          await fetch(`${root}/sim/truth/${id}/hris/employees?include_deleted=false`, {
            headers: { authorization: `Bearer ${key}` },
          })
        ).json()) as { id: string; changed_at: string }[];
        const settled = truth.filter((t) => Date.parse(t.changed_at) < Date.now() - 10_000);
        const rows = await pool
          .query<{ id: string; changed_at: Date }>(
            `SELECT id, changed_at FROM "${ctx?.schema}".hris_employees
             WHERE integration_id = $1 AND _kombo_deleted_at IS NULL`,
            [id],
          )
          .catch(() => ({ rows: [] }));
        const got = new Map(rows.rows.map((r) => [r.id, r.changed_at.getTime()]));
        missing += settled.length ? settled.filter((t) => got.get(t.id) !== Date.parse(t.changed_at)).length : 1;
      }
      return missing;
    };
    expect(await eventually(behind, (n) => n === 0, 120_000)).toBe(0);
    await pool.end();
  }, 240_000);
});
