import { type ChildProcess, spawn } from 'node:child_process';
import { inject } from 'vitest';
import { projectRoot } from '../../src/localstack/paths.ts';

export interface Child {
  readonly proc: ChildProcess;
  /** Everything it printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves with its exit status (a signal that killed it counts as its 128 + n). */
  readonly exited: Promise<number>;
  /** Resolves once its output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** A node process of ours (type-stripped TypeScript from the project root), on this run's Kafka and Postgres. */
export function spawnNode(args: readonly string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', ...args], {
    cwd: projectRoot,
    env: {
      ...process.env,
      KAFKA_BROKERS: inject('KAFKA_BROKERS'),
      DATABASE_URL: inject('DATABASE_URL'),
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      ADMIN_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number>((resolve) =>
    proc.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 143))),
  );
  return {
    proc,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(out)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${pattern} in the output after ${timeoutMs} ms:\n${out.slice(-3_000)}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`exited without ${pattern}:\n${out.slice(-3_000)}`));
          }
        });
        check();
      });
    },
  };
}
