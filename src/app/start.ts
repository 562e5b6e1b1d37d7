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
  let runtime: Runtime | undefined;
  for (let attempt = 1; !runtime; attempt++) {
    try {
      runtime = await startRuntime(config, roles, { logger });
    } catch (err) {
      if (err instanceof KomboStreamError && !err.retriable) throw err;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      logger.warn({ err: { message: (err as Error).message }, attempt, delayMs: delay }, 'start failed; retrying');
      await Promise.race([stop.received, new Promise((r) => setTimeout(r, delay))]);
      if (stop.signal) return 0;
    }
  }
  logger.info({ roles, url: runtime.url }, 'kombo-stream started');
  await stop.received;
  logger.info({ signal: stop.signal }, 'shutting down; a second signal exits at once');
  stop.onRepeat((s) => {
    logger.warn('second signal: exiting now');
    process.exit(signalExitCode(s));
  });
  const timeout = setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, opts.shutdownTimeoutMs ?? 30_000);
  timeout.unref();
  await runtime.stop();
  clearTimeout(timeout);
  logger.info('stopped');
  return 0;
}
