/**
 * Token buckets: one global for the API key, one per integration (invariant 8). A request takes a
 * token from both. A pause holds either everyone (Kombo's own limit is spent) or one integration
 * (its HR system's limit, REMOTE.RATE_LIMIT_EXCEEDED): one customer's throttling never stalls the
 * others.
 */
class Bucket {
  #tokens: number;
  #last: number;
  readonly #rate: number;
  readonly #burst: number;
  pausedUntil = 0;
  constructor(ratePerSec: number, burst: number) {
    this.#rate = ratePerSec;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = Date.now();
  }
  /** Milliseconds until a token is available (0: one is). */
  wait(now: number): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
  }
  take(): void {
    this.#tokens -= 1;
  }
}

export class RateLimiter {
  readonly #global: Bucket;
  readonly #per = new Map<string, Bucket>();
  readonly #perRate: number;

  constructor(opts: { globalPerSec: number; perIntegrationPerSec: number }) {
    this.#global = new Bucket(opts.globalPerSec, Math.max(1, Math.ceil(opts.globalPerSec)));
    this.#perRate = opts.perIntegrationPerSec;
  }

  #bucket(integrationId: string): Bucket {
    let bucket = this.#per.get(integrationId);
    if (!bucket)
      this.#per.set(integrationId, (bucket = new Bucket(this.#perRate, Math.max(1, Math.ceil(this.#perRate)))));
    return bucket;
  }

  /** Waits for a request slot for this integration; rejects with the signal's reason once it aborts. */
  async acquire(integrationId: string, signal?: AbortSignal): Promise<void> {
    const bucket = this.#bucket(integrationId);
    for (;;) {
      signal?.throwIfAborted();
      const now = Date.now();
      // Both tokens are taken together, so waiting on one never wastes the other.
      const wait = Math.max(bucket.wait(now), this.#global.wait(now));
      if (wait === 0) {
        bucket.take();
        this.#global.take();
        return;
      }
      await sleep(wait, signal);
    }
  }

  /** Holds requests for `ms`: every integration's, or (given one) only that integration's. */
  pauseFor(ms: number, integrationId?: string): void {
    const b = integrationId === undefined ? this.#global : this.#bucket(integrationId);
    b.pausedUntil = Math.max(b.pausedUntil, Date.now() + ms);
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
