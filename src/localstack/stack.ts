import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type KafkaBroker, startKafka } from './kafka.ts';
import { processAlive } from './lock.ts';
import { runsDir } from './paths.ts';
import { type LocalPostgres, startEmbeddedPostgres } from './postgres.ts';
import { type SchemaRegistry, startSchemaRegistry } from './registry.ts';

export interface LocalStack {
  readonly runDir: string;
  readonly kafka?: KafkaBroker;
  readonly postgres?: LocalPostgres;
  readonly registry?: SchemaRegistry;
  stop(): Promise<void>;
}

/**
 * Removes run folders whose owning process is gone, stopping anything they left running (the
 * watchdog normally does that; this covers a watchdog killed together with its owner).
 */
export async function reapStaleRuns(): Promise<void> {
  if (!existsSync(runsDir)) return;
  for (const name of await readdir(runsDir)) {
    const dir = path.join(runsDir, name);
    const owner = Number(await readFile(path.join(dir, 'owner.pid'), 'utf8').catch(() => 'NaN'));
    if (Number.isFinite(owner) && processAlive(owner)) continue;
    for (const sub of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
      if (!sub.endsWith('.pid') || sub === 'owner.pid') continue;
      const pid = Number(await readFile(path.join(dir, sub), 'utf8').catch(() => 'NaN'));
      if (Number.isFinite(pid) && processAlive(pid)) process.kill(pid, 'SIGTERM');
    }
    await rm(dir, { recursive: true, force: true });
  }
}

export async function newRunDir(label: string): Promise<string> {
  await reapStaleRuns();
  const dir = path.join(runsDir, `${label}-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

/** Starts the requested parts in parallel; all of them stop together. */
export async function startLocalStack(opts: {
  label: string;
  kafka?: boolean | { port?: number };
  postgres?: boolean | { port?: number };
  registry?: boolean | { port?: number };
  keepData?: boolean;
  log?: (msg: string) => void;
}): Promise<LocalStack> {
  const runDir = await newRunDir(opts.label);
  const port = (o: boolean | { port?: number } | undefined) => (typeof o === 'object' ? o.port : undefined);
  const started = await Promise.allSettled([
    opts.kafka
      ? startKafka({ dataDir: path.join(runDir, 'kafka'), ...withPort(port(opts.kafka)), ...withLog(opts.log) })
      : undefined,
    opts.postgres
      ? startEmbeddedPostgres({ dataDir: path.join(runDir, 'postgres'), ...withPort(port(opts.postgres)) })
      : undefined,
    opts.registry
      ? startSchemaRegistry({
          dataDir: path.join(runDir, 'registry'),
          ...withPort(port(opts.registry)),
          ...withLog(opts.log),
        })
      : undefined,
  ]);
  const [k, p, r] = started;
  const parts = {
    kafka: k.status === 'fulfilled' ? k.value : undefined,
    postgres: p.status === 'fulfilled' ? p.value : undefined,
    registry: r.status === 'fulfilled' ? r.value : undefined,
  };
  const stop = async () => {
    await Promise.all([parts.kafka?.stop(), parts.postgres?.stop(), parts.registry?.stop()]);
    if (!opts.keepData) await rm(runDir, { recursive: true, force: true });
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { runDir, ...parts, stop };
}

function withPort(port: number | undefined): { port?: number } {
  return port === undefined ? {} : { port };
}
function withLog(log: ((msg: string) => void) | undefined): { log?: (msg: string) => void } {
  return log ? { log } : {};
}
