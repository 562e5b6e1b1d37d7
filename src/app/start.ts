import type { Config } from '../config/config.ts';
import { KomboStreamError } from '../errors.ts';
import { createLogger } from '../observability/log.ts';
import { ROLES, type Role } from './role.ts';
import { type Runtime, startRuntime } from './runtime.ts';
import { signalExitCode, stopSignal } from './signals.ts';

export function parseRole(value: string): readonly Role[] {
  if (value === 'all') return ROLES;
  const roles = value.split(',').map((s) => s.trim());
  const bad = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (bad.length || roles.length === 0) {
    throw new KomboStreamError(
      'KS_ERR_USAGE',
      `unknown role "${bad.join(',') || value}"; use all, ${ROLES.join(', ')}`,
    );
  }
  return roles as Role[];
}

/**
 * `kombo-stream start`: runs the roles until SIGTERM/SIGINT, then stops taking work, finishes or hands
 * back what is in flight, commits and disconnects, exiting 0 within `shutdownTimeoutMs`; a second
 * signal exits at once.
 */
export async function runStart(config: Config, opts: { role: string; shutdownTimeoutMs?: number }): Promise<number> {
  const roles = parseRole(opts.role);
  const logger = createLogger({ level: config.logLevel });
  const stop = stopSignal();
  // Kafka or Postgres may be down (restarting, failing over) when we start: keep trying, as a Connect
  // worker does, rather than exit. Only our own refusals (bad config, bad usage) end the process.
  const budgetMs = opts.shutdownTimeoutMs ?? 30_000;
  let runtime: Runtime | undefined;
  for (let attempt = 1; !runtime; attempt++) {
    const starting = startRuntime(config, roles, { logger });
    const first = await Promise.race([
      starting.then(
        (r) => ({ runtime: r }),
        (err: unknown) => ({ err }),
      ),
      stop.received.then(() => ({ signal: true as const })),
    ]);
    if ('signal' in first) return stopWhileStarting(starting, budgetMs, logger);
    if ('runtime' in first) {
      runtime = first.runtime;
      break;
    }
    const err = first.err;
    if (err instanceof KomboStreamError && !err.retriable) throw err;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
    logger.warn({ err: { message: (err as Error).message }, attempt, delayMs: delay }, 'start failed; retrying');
    // A timer that keeps the process alive: with nothing else left to wait on (the failed start
    // released everything), an unref'd one let Node exit with 13 in the middle of the retry.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stop.received, new Promise((r) => (timer = setTimeout(r, delay)))]);
    clearTimeout(timer);
    if (stop.signal) return 0;
  }
  logger.info({ roles, url: runtime.url, adminUrl: runtime.adminUrl }, 'kombo-stream started');
  await stop.received;
  logger.info({ signal: stop.signal }, 'shutting down; a second signal exits at once');
  stop.onRepeat((s) => {
    logger.warn('second signal: exiting now');
    process.exit(signalExitCode(s));
  });
  const timeout = setTimeout(() => {
    logger.error({ stillStopping: runtime.stopping() }, 'shutdown took too long; exiting');
    process.exit(1);
  }, budgetMs);
  timeout.unref();
  await runtime.stop();
  clearTimeout(timeout);
  logger.info('stopped');
  // Everything was stopped; a client still retrying a broker that is down must not keep us alive.
  setTimeout(() => process.exit(0), 1_000).unref();
  return 0;
}

/**
 * A signal while the process is still starting (Kafka or Postgres not answering yet, whose clients
 * retry for longer than the shutdown budget): what has started is stopped as usual if the start
 * settles in time; otherwise the process exits anyway, within its budget. Nothing is lost either
 * way: work it had not committed goes to the other processes of its role.
 */
async function stopWhileStarting(
  starting: Promise<Runtime>,
  budgetMs: number,
  logger: ReturnType<typeof createLogger>,
): Promise<number> {
  logger.info('signal while starting; stopping what has started');
  const late = setTimeout(
    () => {
      logger.warn('still starting at the end of the shutdown budget; exiting');
      process.exit(0);
    },
    Math.max(1_000, budgetMs - 5_000),
  );
  late.unref();
  const runtime = await starting.catch(() => undefined);
  await runtime?.stop();
  clearTimeout(late);
  return 0;
}
