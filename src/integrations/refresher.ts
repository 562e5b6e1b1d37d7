import { errorCode } from '../errors.ts';
import { type RateLimiter, sleep } from '../fetcher/rate-limit.ts';
import { KomboApiError, type KomboClient } from '../kombo/client.ts';
import type { Logger } from '../observability/log.ts';
import { enqueueTasks } from '../planner/trigger.ts';
import type { Producer } from '../topics/kafka.ts';
import { type LifecycleDeps, refreshIntegration } from './lifecycle.ts';

/** Integrations read per pass; the rest wait for the next (a refresh is one request each). */
const BATCH = 20;
/** A claim outlives a pass by far; a planner that dies mid-pass leaves its claims for this long. */
const LEASE_MS = 5 * 60_000;

export interface RefresherDeps extends LifecycleDeps {
  client: KomboClient;
  limiter: RateLimiter;
  producer: Producer;
  logger: Logger;
}

/**
 * Reads integrations from Kombo when due: soon after a lifecycle webhook or an onboarding, every
 * INTEGRATION_RECHECK_INTERVAL while held, every INTEGRATION_REFRESH_INTERVAL otherwise. Runs in the
 * planner, apart from the event consumer, so a Kombo outage delays lifecycle decisions and never the
 * planning of data-changed webhooks. Due rows are claimed with SKIP LOCKED, so several planners
 * share the work.
 */
export class Refresher {
  readonly #deps: RefresherDeps;
  readonly #stopper = new AbortController();
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(deps: RefresherDeps) {
    this.#deps = deps;
  }

  start(): void {
    const signal = this.#stopper.signal;
    this.#running = (async () => {
      while (!signal.aborted) {
        try {
          while ((await this.pass()) === BATCH && !signal.aborted);
        } catch (err) {
          this.#deps.logger.error({ err }, 'integration refresh pass failed; retrying next pass');
        }
        await Promise.race([
          sleep(this.#deps.config.planner.schedulerTickMs, signal).catch(() => {}),
          new Promise<void>((r) => (this.#wake = r)),
        ]);
      }
    })();
  }

  /** Runs a pass now (a lifecycle webhook arrived). */
  wake(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopper.abort();
    await this.#running;
  }

  /** One pass over the due integrations; returns how many were claimed. */
  async pass(): Promise<number> {
    const { lifecycle, config, logger } = this.#deps;
    const due = await lifecycle.claimDue(BATCH, LEASE_MS);
    for (const id of due) {
      if (this.#stopper.signal.aborted) break;
      const integration = await this.#deps.store.getIntegration(id);
      if (integration?.deleted_at) {
        await lifecycle.forget(id);
        continue;
      }
      try {
        // Kombo's budget is the key's: a lifecycle read counts as a fetch's page does.
        await this.#deps.limiter.acquire(id, this.#stopper.signal);
        const r = await refreshIntegration(this.#deps, id);
        if (r.tasks.length) await enqueueTasks(this.#deps.producer, config.kafka.topicPrefix, r.tasks);
        logger.debug(
          { integration: id, status: r.info.status, hold: r.hold?.code, tasks: r.tasks.length },
          'refreshed',
        );
      } catch (err) {
        if (err instanceof KomboApiError && err.komboCode === 'PLATFORM.INTEGRATION_NOT_FOUND') {
          // Its integration-deleted webhook was lost, or the id is wrong: offboarding deletes data,
          // which is for an operator to decide.
          await lifecycle.hold(
            id,
            {
              kind: 'attention',
              code: 'PLATFORM.INTEGRATION_NOT_FOUND',
              message: 'Kombo does not know this integration (deleted there?); offboard it if it is gone',
            },
            config.planner.recheckIntervalMs,
          );
          continue;
        }
        const row = await lifecycle.get(id);
        const retryInMs = Math.min(config.planner.recheckIntervalMs, 30_000 * 2 ** (row?.refresh_failures ?? 0));
        await lifecycle.refreshFailed(id, `${errorCode(err)}: ${(err as Error).message}`, retryInMs);
        logger.warn(
          { integration: id, err: { code: errorCode(err), message: (err as Error).message } },
          'refresh failed',
        );
      }
    }
    return due.length;
  }
}
