import { isRetriable } from '../errors.ts';
import { KomboApiError } from '../kombo/client.ts';

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
  /** How long INTEGRATION.SETUP_SYNC_PENDING is waited out, polled every setupPendingPollMs. */
  setupPendingMaxMs: number;
  setupPendingPollMs: number;
}

export type RetryDecision = { retry: true; delayMs: number; countsAsAttempt: boolean } | { retry: false };

/**
 * Whether and when to retry a failed page request (invariant 8): 429 waits as long as the server
 * asks (Retry-After, else ratelimit-reset); 5xx, network errors and truncated bodies back off
 * exponentially with full jitter; setup-sync-pending is waited out on its own budget; every other 4xx
 * fails at once.
 */
export function decideRetry(err: unknown, attempt: number, policy: RetryPolicy, random = Math.random): RetryDecision {
  if (!isRetriable(err)) return { retry: false };
  if (err instanceof KomboApiError && err.komboCode === 'INTEGRATION.SETUP_SYNC_PENDING') {
    return { retry: true, delayMs: policy.setupPendingPollMs, countsAsAttempt: false };
  }
  if (attempt >= policy.maxAttempts) return { retry: false };
  if (err instanceof KomboApiError && err.status === 429 && err.retryAfterMs !== undefined) {
    // A little jitter on top keeps many fetchers from returning in the same instant.
    return { retry: true, delayMs: err.retryAfterMs + Math.floor(random() * 250), countsAsAttempt: true };
  }
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return { retry: true, delayMs: Math.floor(random() * ceiling) + Math.floor(ceiling / 2), countsAsAttempt: true };
}
