import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cross-process mutex on a directory (mkdir is atomic): parallel test workers and CI jobs share
 * one download of the jars instead of racing to write the same files. A lock whose owner died is
 * taken over.
 */
export async function withDirLock<T>(lockDir: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  await mkdir(path.dirname(lockDir), { recursive: true });
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => 'NaN'));
      if (Number.isFinite(owner) && !alive(owner)) await rm(lockDir, { recursive: true, force: true });
      else if (Date.now() > end) throw new Error(`timed out waiting for lock ${lockDir}`);
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

export { alive as processAlive };
