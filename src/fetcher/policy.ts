import { isRetriable } from '../errors.ts';
import { KomboApiError } from '../kombo/client.ts';

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * Whether and when to retry a failed page request (invariant 8): 429 waits as long as the server
 * asks (Retry-After, else ratelimit-reset); 5xx, network errors and truncated bodies back off
 * exponentially with full jitter; every other 4xx fails at once (a setup-pending or inactive
 * integration is parked by its lifecycle instead of polled).
 */
export function decideRetry(err: unknown, attempt: number, policy: RetryPolicy, random = Math.random): RetryDecision {
  if (!isRetriable(err)) return { retry: false };
  if (attempt >= policy.maxAttempts) return { retry: false };
  if (err instanceof KomboApiError && err.status === 429 && err.retryAfterMs !== undefined) {
    // A little jitter on top keeps many fetchers from returning in the same instant.
    return { retry: true, delayMs: err.retryAfterMs + Math.floor(random() * 250) };
  }
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return { retry: true, delayMs: Math.floor(random() * ceiling) + Math.floor(ceiling / 2) };
}
