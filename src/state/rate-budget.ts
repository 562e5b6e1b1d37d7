import type pg from 'pg';
import { quoteIdent } from './migrate.ts';
import { inTransaction } from './pool.ts';

/** A token bucket as stored; times are Postgres's clock, in epoch milliseconds. */
export interface Bucket {
  tokens: number;
  atMs: number;
  pausedUntilMs: number | null;
}

/** A refill rate and how many requests may go at once after a quiet spell. */
export interface Limit {
  perSec: number;
  burst: number;
}

/** A second's worth of burst, and at least one request. */
export const limitOf = (perSec: number): Limit => ({ perSec, burst: Math.max(1, Math.ceil(perSec)) });

/** Requests let go now, and when to ask again for the others. */
export interface Grant {
  granted: number;
  waitMs: number;
}

export interface Shared {
  /** Tokens left in the key's bucket and in each integration's, as of the lease. */
  key: number;
  tokens: number[];
  grants: Grant[];
}

function refill(b: Bucket, l: Limit, nowMs: number): number {
  // Never negative: a database clock stepped back must not take tokens away.
  return Math.min(l.burst, b.tokens + (Math.max(0, nowMs - b.atMs) / 1000) * l.perSec);
}

const pauseLeft = (b: Bucket, nowMs: number) => Math.max(0, (b.pausedUntilMs ?? 0) - nowMs);

/** Until the bucket holds `want` tokens, or a full burst if it cannot hold that many. */
const msUntil = (tokens: number, want: number, l: Limit) =>
  Math.ceil(((Math.min(want, l.burst) - tokens) / l.perSec) * 1000);

/**
 * One lease: the key's bucket and each waiting integration's are refilled by the time elapsed, then
 * each integration in turn gets as many of its waiting requests let go as both buckets hold: a
 * request takes a token from both, so waiting on one never wastes the other. A pause of the key
 * holds everyone; an integration's own pause holds only it. Requests left waiting are told to ask
 * again once the buckets will hold enough for all of them (at most a burst): processes sharing a
 * spent budget then ask about once per batch of tokens rather than once per token.
 */
export function share(
  nowMs: number,
  key: { bucket: Bucket; limit: Limit },
  wants: readonly { bucket: Bucket; limit: Limit; want: number }[],
): Shared {
  let keyTokens = refill(key.bucket, key.limit, nowMs);
  const keyPause = pauseLeft(key.bucket, nowMs);
  const out = wants.map((w) => ({ w, tokens: refill(w.bucket, w.limit, nowMs), grant: { granted: 0, waitMs: 0 } }));
  for (const o of out) {
    const paused = Math.max(keyPause, pauseLeft(o.w.bucket, nowMs));
    if (paused > 0) {
      o.grant.waitMs = paused;
      continue;
    }
    o.grant.granted = Math.min(o.w.want, Math.floor(keyTokens), Math.floor(o.tokens));
    keyTokens -= o.grant.granted;
    o.tokens -= o.grant.granted;
  }
  const short = (o: (typeof out)[number]) => (o.grant.waitMs > 0 ? 0 : o.w.want - o.grant.granted);
  const keyShort = out.reduce((n, o) => n + short(o), 0);
  for (const o of out) {
    const left = short(o);
    if (left > 0)
      o.grant.waitMs = Math.max(1, msUntil(o.tokens, left, o.w.limit), msUntil(keyTokens, keyShort, key.limit));
  }
  return { key: keyTokens, tokens: out.map((o) => o.tokens), grants: out.map((o) => o.grant) };
}

const KEY = 'key';
const scopeOf = (integrationId: string) => `integration:${integrationId}`;

/**
 * The API key's rate budget, shared by every process of a deployment (those with the same database
 * and state schema), and the only code that reads or writes its table. One row per bucket: the key's
 * (KOMBO_RATE_LIMIT) and one per integration (KOMBO_RATE_LIMIT_PER_INTEGRATION). Its rules:
 * - tokens refill by the time elapsed on Postgres's clock, never a host's, up to a burst;
 * - a lease takes tokens for requests about to be sent, nothing for later: a process that dies
 *   holds no budget, and the sum over processes stays within what one bucket lets through;
 * - a pause (a 429) holds the scope in every process until it ends.
 */
export class RateBudget {
  readonly #pool: pg.Pool;
  readonly #t: string;
  readonly #key: Limit;
  readonly #integration: Limit;

  constructor(pool: pg.Pool, schema: string, opts: { globalPerSec: number; perIntegrationPerSec: number }) {
    this.#pool = pool;
    this.#t = `${quoteIdent(schema)}.rate_budget`;
    this.#key = limitOf(opts.globalPerSec);
    this.#integration = limitOf(opts.perIntegrationPerSec);
  }

  /** Lets go up to `want` requests of each integration (distinct ids), in one transaction. */
  async lease(wants: readonly { integrationId: string; want: number }[]): Promise<Grant[]> {
    const scopes = [KEY, ...wants.map((w) => scopeOf(w.integrationId))];
    const bursts = [this.#key.burst, ...wants.map(() => this.#integration.burst)];
    return inTransaction(this.#pool, async (c) => {
      // Locks the rows, the key's first (so leases queue on it and never deadlock), creating missing
      // ones full; the clock is read once the locks are held.
      const { rows } = await c.query<{
        scope: string;
        tokens: number;
        at_ms: number;
        paused_ms: number | null;
        now_ms: number;
      }>(
        `INSERT INTO ${this.#t} AS b (scope, tokens, updated_at)
         SELECT scope, tokens, clock_timestamp()
         FROM unnest($1::text[], $2::float8[]) WITH ORDINALITY AS w(scope, tokens, n) ORDER BY n
         ON CONFLICT (scope) DO UPDATE SET scope = b.scope
         RETURNING scope, tokens, (extract(epoch FROM updated_at) * 1000)::float8 AS at_ms,
           (extract(epoch FROM paused_until) * 1000)::float8 AS paused_ms,
           (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms`,
        [scopes, bursts],
      );
      const byScope = new Map(rows.map((r) => [r.scope, r]));
      const bucket = (scope: string): Bucket => {
        const r = byScope.get(scope);
        if (!r) throw new Error(`rate budget row ${scope} was not locked`);
        return { tokens: r.tokens, atMs: r.at_ms, pausedUntilMs: r.paused_ms };
      };
      const nowMs = Math.max(...rows.map((r) => r.now_ms));
      const out = share(
        nowMs,
        { bucket: bucket(KEY), limit: this.#key },
        wants.map((w) => ({ bucket: bucket(scopeOf(w.integrationId)), limit: this.#integration, want: w.want })),
      );
      await c.query(
        `UPDATE ${this.#t} AS b SET tokens = w.tokens, updated_at = to_timestamp($3::float8 / 1000)
         FROM unnest($1::text[], $2::float8[]) AS w(scope, tokens) WHERE b.scope = w.scope`,
        [scopes, [out.key, ...out.tokens], nowMs],
      );
      return out.grants;
    });
  }

  /** Holds the key's requests (no integration given) or one integration's, in every process, for `ms`. */
  async pause(ms: number, integrationId?: string): Promise<void> {
    const [scope, limit] = integrationId === undefined ? [KEY, this.#key] : [scopeOf(integrationId), this.#integration];
    await this.#pool.query(
      `INSERT INTO ${this.#t} AS b (scope, tokens, updated_at, paused_until)
       VALUES ($1, $2, clock_timestamp(), clock_timestamp() + $3::float8 * interval '1 millisecond')
       ON CONFLICT (scope) DO UPDATE SET paused_until = GREATEST(b.paused_until, EXCLUDED.paused_until)`,
      [scope, limit.burst, ms],
    );
  }
}
