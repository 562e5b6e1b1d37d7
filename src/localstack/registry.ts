import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fetchVerifiedArchive, MAVEN_CENTRAL } from './download.ts';
import { withDirLock } from './lock.ts';
import { infraDir } from './paths.ts';
import { freePort, type ServiceProcess, startUntilReady } from './process.ts';

/**
 * Apicurio Registry, for its Confluent-compatible API. 3.0.9 is pinned: it runs on Java 17, and it
 * is the newest 3.x release whose artifacts are complete on the Maven Central we can reach (3.1.x is
 * missing there and 3.2+ need Java 21). Maven cannot resolve it through a pom because its parent pom
 * is missing from that mirror, so the archive is fetched directly from Central and checked against
 * the pinned SHA-1 that Central publishes beside it.
 */
export const APICURIO_VERSION = '3.0.9';
const APICURIO_SHA1 = '4deac01752711c32da5662e7b778b61c5e904746';
const apicurioHome = path.join(infraDir, `apicurio-${APICURIO_VERSION}`);
const runnerJar = path.join(apicurioHome, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);

export async function ensureApicurio(log: (msg: string) => void = () => {}): Promise<string> {
  if (existsSync(runnerJar)) return runnerJar;
  await withDirLock(`${apicurioHome}.lock`, async () => {
    if (existsSync(runnerJar)) return;
    log(`fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central (first run only)`);
    const file = `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`;
    await fetchVerifiedArchive(
      `${MAVEN_CENTRAL}/io/apicurio/apicurio-registry-app/${APICURIO_VERSION}/${file}`,
      APICURIO_SHA1,
      apicurioHome,
    );
  });
  return runnerJar;
}

export interface SchemaRegistry {
  /** The Confluent-compatible base URL, as clients expect it. */
  readonly url: string;
  readonly port: number;
  readonly process: ServiceProcess;
  stop(): Promise<void>;
}

export async function startSchemaRegistry(opts: {
  dataDir: string;
  port?: number;
  ownerPid?: number;
  log?: (msg: string) => void;
}): Promise<SchemaRegistry> {
  const jar = await ensureApicurio(opts.log);
  const port = opts.port ?? (await freePort());
  await mkdir(opts.dataDir, { recursive: true });
  const logFile = path.join(opts.dataDir, 'apicurio.log');
  const base = `http://127.0.0.1:${port}`;
  const service = await startUntilReady(
    `Apicurio Registry on port ${port}`,
    'java',
    [
      '-Xms64m',
      '-Xmx384m',
      '-XX:+ExitOnOutOfMemoryError',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.log.level=WARN',
      '-Dapicurio.rest.deletion.group.enabled=true',
      '-Dapicurio.rest.deletion.artifact.enabled=true',
      '-Dapicurio.rest.deletion.artifact-version.enabled=true',
      '-jar',
      jar,
    ],
    {
      logFile,
      cwd: opts.dataDir,
      ...(opts.ownerPid === undefined ? {} : { ownerPid: opts.ownerPid }),
      pidFile: path.join(opts.dataDir, 'apicurio.pid'),
      probe: async () => (await fetch(`${base}/health/ready`)).ok,
      timeoutMs: 120_000,
    },
  );
  return { url: `${base}/apis/ccompat/v7`, port, process: service, stop: () => service.stop() };
}
