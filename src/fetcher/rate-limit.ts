import type pg from 'pg';
import type { Config } from '../config/config.ts';
import { type Grant, RateBudget } from '../state/rate-budget.ts';

interface Waiter {
  readonly since: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface Queue {
  readonly waiters: Waiter[];
  /** performance.now() before which the budget has nothing for these requests. */
  notBefore: number;
}

/**
 * Request slots from the deployment's shared rate budget (invariant 8; the rules are the budget's,
 * src/state/rate-budget.ts): the key's bucket and each integration's, taken together, and pauses
 * that hold either everyone (Kombo's own limit is spent) or one integration (its HR system's limit,
 * REMOTE.RATE_LIMIT_EXCEEDED), in every process. The requests waiting in this process go to the
 * budget together, one lease for all of them, so the budget costs a Postgres transaction per wave
 * of requests rather than per request, and a spent budget is asked again only when it has refilled.
 */
export class RateLimiter {
  readonly #budget: RateBudget;
  readonly #queues = new Map<string, Queue>();
  #pumping = false;
  #wake: (() => void) | undefined;

  constructor(budget: RateBudget) {
    this.#budget = budget;
  }

  /**
   * Waits for a request slot for this integration; rejects with the signal's reason once it aborts,
   * and with Postgres's error when the budget cannot be asked (never sends beyond it).
   */
  acquire(integrationId: string, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      let queue = this.#queues.get(integrationId);
      if (!queue) this.#queues.set(integrationId, (queue = { waiters: [], notBefore: 0 }));
      const q = queue;
      const onAbort = () => {
        q.waiters.splice(q.waiters.indexOf(waiter), 1);
        this.#dropIfEmpty(integrationId, q);
        reject(signal?.reason);
        this.#kick();
      };
      const waiter: Waiter = {
        since: performance.now(),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      q.waiters.push(waiter);
      this.#kick();
    });
  }

  /** Holds requests for `ms`: every integration's, or (given one) only that integration's. */
  pauseFor(ms: number, integrationId?: string): Promise<void> {
    return this.#budget.pause(ms, integrationId);
  }

  #dropIfEmpty(integrationId: string, q: Queue): void {
    if (q.waiters.length === 0 && this.#queues.get(integrationId) === q) this.#queues.delete(integrationId);
  }

  #kick(): void {
    if (this.#wake) this.#wake();
    else if (!this.#pumping) void this.#pump();
  }

  /** While requests wait: one lease for every queue that is due, then a sleep until the next one is. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queues.size > 0) {
        const now = performance.now();
        const due = [...this.#queues]
          .filter(([, q]) => q.notBefore <= now)
          .sort(([, a], [, b]) => (a.waiters[0]?.since ?? 0) - (b.waiters[0]?.since ?? 0));
        if (due.length === 0) {
          await this.#sleep(Math.min(...[...this.#queues.values()].map((q) => q.notBefore)) - now);
          continue;
        }
        let grants: Grant[];
        try {
          grants = await this.#budget.lease(
            due.map(([integrationId, q]) => ({ integrationId, want: q.waiters.length })),
          );
        } catch (err) {
          // Without Postgres there is no budget to spend: these requests fail like any other
          // Postgres trouble (their tasks are retried later) instead of going out unmetered.
          for (const [id, q] of due) {
            for (const w of q.waiters.splice(0)) w.reject(err);
            this.#dropIfEmpty(id, q);
          }
          continue;
        }
        const at = performance.now();
        due.forEach(([id, q], i) => {
          const grant = grants[i] ?? { granted: 0, waitMs: 0 };
          // Requests that stopped waiting meanwhile leave their tokens unspent: less, never more.
          for (const w of q.waiters.splice(0, grant.granted)) w.resolve();
          q.notBefore = at + grant.waitMs;
          this.#dropIfEmpty(id, q);
        });
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** A sleep that a new request or a stopped one cuts short, to look at the queues again. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
      this.#wake = done;
    });
  }
}

/** Node runs timers longer than this after 1 ms, which turns a long wait into a busy loop. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A wait that ends early, rejecting with the signal's reason, when the signal aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  for (let left = ms; left > 0; left -= MAX_TIMER_MS) {
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(left, MAX_TIMER_MS),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The deployment's one budget (KOMBO_RATE_LIMIT), as every part that calls Kombo draws from it. */
export function sharedLimiter(config: Config, pool: pg.Pool): RateLimiter {
  return new RateLimiter(new RateBudget(pool, config.postgres.stateSchema, config.fetcher.rateLimit));
}
