import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { withDirLock } from '../../src/localstack/lock.ts';
import { startSchemaRegistry } from '../../src/localstack/registry.ts';

/**
 * The Schema Registry is only started when a test needs Avro: the first worker to ask starts it
 * (owned by the vitest main process, so it outlives that worker), and the run's teardown stops it.
 */
export async function schemaRegistryUrl(): Promise<string> {
  const fromEnv = inject('SCHEMA_REGISTRY_URL');
  if (fromEnv) return fromEnv;
  const runDir = inject('RUN_DIR');
  const urlFile = path.join(runDir, 'registry.url');
  return withDirLock(path.join(runDir, 'registry.lock'), async () => {
    if (existsSync(urlFile)) return readFile(urlFile, 'utf8');
    const registry = await startSchemaRegistry({
      dataDir: path.join(runDir, 'registry'),
      ownerPid: inject('OWNER_PID'),
    });
    await writeFile(urlFile, registry.url);
    return registry.url;
  });
}

export async function stopLazyRegistry(runDir: string): Promise<void> {
  const pidFile = path.join(runDir, 'registry', 'apicurio.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(await readFile(pidFile, 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
