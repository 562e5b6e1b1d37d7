import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStackError } from '../errors.ts';
import { watchdogScript } from './paths.ts';

export interface ServiceProcess {
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a long-running service under the watchdog, its output appended to `logFile`. The watchdog
 * stops the service when this Node process dies, even by SIGKILL.
 */
export function startService(
  command: string,
  args: readonly string[],
  opts: {
    logFile: string;
    env?: NodeJS.ProcessEnv;
    uid?: number;
    gid?: number;
    cwd?: string;
    /** The signal that asks the service for a clean shutdown. */
    stopSignal?: 'TERM' | 'INT';
    /** The process whose death stops the service; this one by default. */
    ownerPid?: number;
  },
): ServiceProcess {
  const out = openSync(opts.logFile, 'a');
  const child: ChildProcess = spawn(watchdogScript, [String(opts.ownerPid ?? process.pid), command, ...args], {
    stdio: ['ignore', out, out],
    // Owned by another process: survive this one's exit (the watchdog follows the owner).
    detached: opts.ownerPid !== undefined && opts.ownerPid !== process.pid,
    env: { ...(opts.env ?? process.env), STOP_SIGNAL: opts.stopSignal ?? 'TERM' },
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.uid === undefined ? {} : { uid: opts.uid }),
    ...(opts.gid === undefined ? {} : { gid: opts.gid }),
  });
  closeSync(out);
  if (child.pid === undefined) throw new LocalStackError(`could not spawn ${command}`);
  if (opts.ownerPid !== undefined && opts.ownerPid !== process.pid) child.unref();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    pid: child.pid,
    exited,
    async stop(graceMs = 25_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function runToCompletion(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number } = {},
): Promise<string> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.uid === undefined ? {} : { uid: opts.uid }),
    ...(opts.gid === undefined ? {} : { gid: opts.gid }),
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) {
    throw new LocalStackError(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`);
  }
  return output;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls `probe` until it holds, failing early when the service process has exited. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; service?: ServiceProcess; logFile?: string },
): Promise<void> {
  let exitCode: number | null | undefined;
  void opts.service?.exited.then((c) => {
    exitCode = c;
  });
  const end = Date.now() + opts.timeoutMs;
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return;
    if (exitCode !== undefined) {
      throw new LocalStackError(
        `${what} exited (code ${exitCode}) before it was ready; see ${opts.logFile ?? 'its log'}`,
      );
    }
    await sleep(150);
  }
  throw new LocalStackError(`${what} not ready after ${opts.timeoutMs} ms; see ${opts.logFile ?? 'its log'}`, {
    retriable: true,
  });
}

/**
 * Starts a service, records its pid beside its data (so the watchdog and an operator find it), and
 * waits until `probe` says it is ready; a service that does not get ready is stopped, not left behind.
 */
export async function startUntilReady(
  what: string,
  command: string,
  args: readonly string[],
  opts: Parameters<typeof startService>[2] & { pidFile: string; probe: () => Promise<boolean>; timeoutMs: number },
): Promise<ServiceProcess> {
  const { pidFile, probe, timeoutMs, ...start } = opts;
  const service = startService(command, args, start);
  await writeFile(pidFile, String(service.pid));
  try {
    await waitUntil(what, probe, { timeoutMs, service, logFile: start.logFile });
  } catch (err) {
    await service.stop(5_000);
    throw err;
  }
  return service;
}
