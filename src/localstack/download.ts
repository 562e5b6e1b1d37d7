import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { LocalStackError } from '../errors.ts';
import { infraDir } from './paths.ts';
import { runToCompletion } from './process.ts';

export const MAVEN_CENTRAL = 'https://repo1.maven.org/maven2';

/**
 * Downloads a .tar.gz, checks it against the SHA-1 that Maven Central publishes beside it (pinned in
 * our code, so a changed artifact is refused) and unpacks it into `into`, which appears complete or
 * not at all.
 */
export async function fetchVerifiedArchive(url: string, sha1: string, into: string): Promise<void> {
  const downloads = path.join(infraDir, 'downloads');
  await mkdir(downloads, { recursive: true });
  const archive = path.join(downloads, path.basename(url));
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new LocalStackError(`GET ${url} answered ${res.status}`, { retriable: true });
  await pipeline(Readable.fromWeb(res.body as ReadableStream), createWriteStream(archive));
  const actual = createHash('sha1')
    .update(await readFile(archive))
    .digest('hex');
  if (actual !== sha1) throw new LocalStackError(`${path.basename(url)}: SHA-1 ${actual}, expected ${sha1}`);
  const staging = `${into}.partial`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await runToCompletion('tar', ['-xzf', archive, '-C', staging]);
  await rm(into, { recursive: true, force: true });
  await rename(staging, into);
  await rm(archive, { force: true });
}

/** Copies the runtime classpath of `pom` into `into` with Maven, which appears complete or not at all. */
export async function mavenClasspath(pom: string, into: string): Promise<void> {
  const staging = `${into}.partial`;
  await rm(staging, { recursive: true, force: true });
  await runToCompletion('mvn', [
    '-B',
    '-q',
    '-f',
    pom,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${staging}`,
  ]);
  await rm(into, { recursive: true, force: true });
  await rename(staging, into);
}
