import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { signWebhook } from '../kombo/signature.ts';
import type { Rng } from './random.ts';

export interface WebhookFaults {
  /** Probability a webhook is never sent (lost on Kombo's side). */
  dropRate: number;
  /** Probability a webhook is sent twice. */
  duplicateRate: number;
  /** Probability a webhook is held back for delayMs before its first attempt. */
  delayRate: number;
  delayMs: number;
  /** Probability a webhook is held back until the next one was sent. */
  reorderRate: number;
}

export const NO_WEBHOOK_FAULTS: WebhookFaults = {
  dropRate: 0,
  duplicateRate: 0,
  delayRate: 0,
  delayMs: 0,
  reorderRate: 0,
};

export interface WebhookConfig {
  url: string;
  secret: string;
  /** Attempts per webhook including the first (Kombo retries on non-2xx). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt. */
  retryBaseMs: number;
  timeoutMs: number;
}

export interface DeliveryAttempt {
  id: string;
  type: string;
  attempt: number;
  at: string;
  /** HTTP status, or 0 for a network error/timeout. */
  status: number;
  error?: string;
}

export interface WebhookRecord {
  id: string;
  type: string;
  body: string;
  /** dropped: lost by fault injection; acknowledged: answered 2xx; failed: retries exhausted. */
  state: 'pending' | 'dropped' | 'acknowledged' | 'failed';
}

export function newEventId(): string {
  return randomBytes(18).toString('base64url').slice(0, 24);
}

/**
 * Kombo's webhook delivery: signed POSTs, retried with exponential backoff until answered 2xx. Keeps
 * a log of every attempt and of which webhooks were acknowledged, so tests can prove that nothing
 * answered 2xx was lost downstream.
 */
export class WebhookSender {
  readonly records = new Map<string, WebhookRecord>();
  readonly attempts: DeliveryAttempt[] = [];
  config: WebhookConfig | undefined;
  faults: WebhookFaults = { ...NO_WEBHOOK_FAULTS };
  readonly #rng: Rng;
  #held: (() => void) | undefined;
  #inFlight = new Set<Promise<void>>();
  #delayed = 0;
  #stopped = false;

  constructor(rng: Rng, config?: WebhookConfig) {
    this.#rng = rng;
    this.config = config;
  }

  send(type: string, data: unknown): WebhookRecord | undefined {
    if (!this.config || this.#stopped) return undefined;
    const id = newEventId();
    const body = JSON.stringify({ id, type, data });
    const rec: WebhookRecord = { id, type, body, state: 'pending' };
    this.records.set(id, rec);
    const f = this.faults;
    if (this.#rng.bool(f.dropRate)) {
      rec.state = 'dropped';
      return rec;
    }
    const go = () => {
      this.#track(this.#deliver(rec));
      if (this.#rng.bool(f.duplicateRate)) this.#track(this.#deliver(rec));
    };
    // A held (reordered) webhook goes out right after the next one, so the two arrive swapped.
    const release = this.#held;
    this.#held = undefined;
    if (this.#rng.bool(f.reorderRate)) {
      this.#held = go;
      release?.();
      return rec;
    }
    const dispatch = () => {
      go();
      release?.();
    };
    if (this.#rng.bool(f.delayRate)) {
      this.#delayed++;
      setTimeout(() => {
        this.#delayed--;
        dispatch();
      }, f.delayMs);
    } else dispatch();
    return rec;
  }

  #track(p: Promise<void>): void {
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }

  async #deliver(rec: WebhookRecord): Promise<void> {
    const cfg = this.config;
    if (!cfg) return;
    const signature = signWebhook(cfg.secret, rec.body);
    for (let attempt = 1; attempt <= cfg.maxAttempts && !this.#stopped; attempt++) {
      let status = 0;
      let error: string | undefined;
      try {
        const res = await request(cfg.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-kombo-signature': signature },
          body: rec.body,
          headersTimeout: cfg.timeoutMs,
          bodyTimeout: cfg.timeoutMs,
        });
        status = res.statusCode;
        await res.body.dump();
      } catch (err) {
        error = (err as Error).message;
      }
      this.attempts.push({
        id: rec.id,
        type: rec.type,
        attempt,
        at: new Date().toISOString(),
        status,
        ...(error ? { error } : {}),
      });
      if (status >= 200 && status < 300) {
        rec.state = 'acknowledged';
        return;
      }
      await new Promise((r) => setTimeout(r, cfg.retryBaseMs * 2 ** (attempt - 1)));
    }
    if (rec.state !== 'acknowledged') rec.state = 'failed';
  }

  /** Sends what is held back for reordering, then waits for every delivery in flight. */
  async drain(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    held?.();
    while (this.#inFlight.size || this.#delayed) {
      if (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
      else await new Promise((r) => setTimeout(r, 10));
    }
  }

  acknowledged(): WebhookRecord[] {
    return [...this.records.values()].filter((r) => r.state === 'acknowledged');
  }

  stop(): void {
    this.#stopped = true;
  }
}
