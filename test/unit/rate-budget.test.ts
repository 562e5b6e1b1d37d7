import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/sim/random.ts';
import { type Bucket, limitOf, share } from '../../src/state/rate-budget.ts';

const T0 = 1_800_000_000_000;
const full = (perSec: number, atMs = T0): Bucket => ({ tokens: limitOf(perSec).burst, atMs, pausedUntilMs: null });
const empty = (atMs = T0): Bucket => ({ tokens: 0, atMs, pausedUntilMs: null });

describe('rate budget shares', () => {
  it('takes a token from the key and the integration together; a short integration wastes nothing of the key', () => {
    const out = share(T0, { bucket: { ...empty(), tokens: 3 }, limit: limitOf(10) }, [
      { bucket: empty(), limit: limitOf(2), want: 2 },
      { bucket: full(5), limit: limitOf(5), want: 5 },
    ]);
    expect(out.grants.map((g) => g.granted)).toEqual([0, 3]);
    expect(out.key).toBe(0);
    expect(out.tokens).toEqual([0, 2]);
    // The first waits for its own bucket (two tokens at 2/s), the second for the key to hold the
    // four requests left waiting.
    expect(out.grants.map((g) => g.waitMs)).toEqual([1_000, 400]);
  });

  it('refills by the time elapsed on the given clock, up to a burst, and never less for a clock stepped back', () => {
    const key = { bucket: empty(), limit: limitOf(10) };
    const want = (n: number) => [{ bucket: full(100), limit: limitOf(100), want: n }];
    expect(share(T0 + 350, key, want(50)).grants[0]?.granted).toBe(3);
    expect(share(T0 + 60_000, key, want(50)).grants[0]?.granted).toBe(10);
    expect(share(T0 - 60_000, key, want(50)).grants[0]?.granted).toBe(0);
  });

  it('asks again once the key holds enough for every request left waiting, at most a burst', () => {
    const key = { bucket: empty(), limit: limitOf(10) };
    const some = share(T0, key, [
      { bucket: full(10), limit: limitOf(10), want: 2 },
      { bucket: full(10), limit: limitOf(10), want: 2 },
    ]);
    expect(some.grants.map((g) => g.waitMs)).toEqual([400, 400]);
    const many = share(T0, key, [{ bucket: full(100), limit: limitOf(100), want: 500 }]);
    expect(many.grants[0]?.waitMs).toBe(1_000);
  });

  it('holds everyone while the key is paused, and only the integration during its own pause', () => {
    const paused = (ms: number, b: Bucket): Bucket => ({ ...b, pausedUntilMs: T0 + ms });
    const keyPaused = share(T0, { bucket: paused(5_000, full(10)), limit: limitOf(10) }, [
      { bucket: full(10), limit: limitOf(10), want: 1 },
      { bucket: paused(60_000, full(10)), limit: limitOf(10), want: 1 },
    ]);
    expect(keyPaused.grants).toEqual([
      { granted: 0, waitMs: 5_000 },
      { granted: 0, waitMs: 60_000 },
    ]);
    const oneHeld = share(T0, { bucket: { ...empty(), tokens: 1 }, limit: limitOf(10) }, [
      { bucket: paused(60_000, full(10)), limit: limitOf(10), want: 3 },
      { bucket: full(10), limit: limitOf(10), want: 1 },
    ]);
    expect(oneHeld.grants).toEqual([
      { granted: 0, waitMs: 60_000 },
      { granted: 1, waitMs: 0 },
    ]);
  });

  it('lets through at most a burst plus the rate over any window, whoever leases and however often', () => {
    const rate = 10;
    const limit = limitOf(rate);
    for (const meanGapMs of [1, 20, 150]) {
      const rng = Rng.of(7, 'budget', meanGapMs);
      let key = full(rate);
      const integrations = new Map<number, Bucket>();
      const granted: number[] = [];
      // Leases from any number of processes, one at a time (the row lock), each for up to 8 requests
      // of one of five integrations.
      for (let now = T0; now < T0 + 60_000; now += rng.int(0, 2 * meanGapMs)) {
        const which = rng.int(0, 4);
        const out = share(now, { bucket: key, limit }, [
          { bucket: integrations.get(which) ?? full(100), limit: limitOf(100), want: rng.int(1, 8) },
        ]);
        key = { tokens: out.key, atMs: now, pausedUntilMs: null };
        integrations.set(which, { tokens: out.tokens[0] as number, atMs: now, pausedUntilMs: null });
        for (let n = 0; n < (out.grants[0]?.granted ?? 0); n++) granted.push(now);
      }
      for (const windowMs of [1_000, 3_000, 10_000]) {
        let most = 0;
        for (let i = 0, j = 0; i < granted.length; i++) {
          while ((granted[i] as number) - (granted[j] as number) >= windowMs) j++;
          most = Math.max(most, i - j + 1);
        }
        expect(most, `every ${meanGapMs} ms, ${windowMs} ms window`).toBeLessThanOrEqual(
          limit.burst + (rate * windowMs) / 1000,
        );
      }
      // And the budget was spent, not lost to rounding.
      expect(granted.length).toBeGreaterThan(rate * 60 * 0.95);
    }
  });
});
