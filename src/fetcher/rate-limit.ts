/**
 * Token buckets: one global for the API key, one per integration (invariant 8). A request takes a
 * token from both; `pauseUntil` stops everyone when Kombo says the budget is spent.
 */
class Bucket {
  #tokens: number;
  #last: number;
  readonly #rate: number;
  readonly #burst: number;
  constructor(ratePerSec: number, burst: number) {
    this.#rate = ratePerSec;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = Date.now();
  }
  /** Milliseconds until a token is available (0: one is). */
  wait(now: number): number {
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
  #pausedUntil = 0;

  constructor(opts: { globalPerSec: number; perIntegrationPerSec: number }) {
    this.#global = new Bucket(opts.globalPerSec, Math.max(1, Math.ceil(opts.globalPerSec)));
    this.#perRate = opts.perIntegrationPerSec;
  }

  /** Waits for a request slot for this integration. */
  async acquire(integrationId: string): Promise<void> {
    let bucket = this.#per.get(integrationId);
    if (!bucket)
      this.#per.set(integrationId, (bucket = new Bucket(this.#perRate, Math.max(1, Math.ceil(this.#perRate)))));
    for (;;) {
      const now = Date.now();
      if (now < this.#pausedUntil) {
        await sleep(this.#pausedUntil - now);
        continue;
      }
      // Both tokens are taken together, so waiting on one never wastes the other.
      const wait = Math.max(bucket.wait(now), this.#global.wait(now));
      if (wait === 0) {
        bucket.take();
        this.#global.take();
        return;
      }
      await sleep(wait);
    }
  }

  /** Kombo reported the budget exhausted (429 or ratelimit-remaining 0): hold every request. */
  pauseFor(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + ms);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
