import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { SinkLagWatch } from '../../src/fetcher/sink-lag.ts';
import type { SinkOffsets } from '../../src/sink/offsets.ts';
import type { KafkaClient } from '../../src/topics/kafka.ts';

const config = loadConfig({
  env: {
    KAFKA_BROKERS: '127.0.0.1:9092',
    DATABASE_URL: 'postgres://u@127.0.0.1:5432/db',
    KOMBO_ENDPOINTS: 'hris/employees',
  },
});
const topic = 'kombo.hris.employees';

/** A sink whose stored offset for the one record topic is whatever `offset()` says at each read. */
function watch(offset: () => number | undefined, end = 10_000) {
  let reads = 0;
  const offsets = {
    positions: async () => {
      reads++;
      const o = offset();
      return new Map(o === undefined ? [] : [[`${topic}:0`, BigInt(o)]]);
    },
  } as unknown as SinkOffsets;
  const kafka = { endOffsets: async () => new Map([[0, BigInt(end)]]) } as unknown as KafkaClient;
  return { w: new SinkLagWatch(config, kafka, offsets), reads: () => reads };
}

async function settle<T>(p: Promise<T>, ms: number): Promise<{ done: boolean }> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await vi.advanceTimersByTimeAsync(ms);
  return { done };
}

describe('sink lag backpressure for bulk reads', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['Date', 'setTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('waits while a progressing sink is further behind than the limit, and goes on once it caught up', async () => {
    let stored = 0;
    const { w } = watch(() => (stored += 1_000));
    expect(await w.lag()).toBe(9_000);
    const waiting = w.waitBelow(5_000, new AbortController().signal);
    expect((await settle(waiting, 2_000)).done).toBe(false);
    expect((await settle(waiting, 10_000)).done).toBe(true);
    expect(await w.lag()).toBeLessThanOrEqual(5_000);
  });

  it('stops waiting for a sink that stored nothing for a minute', async () => {
    const { w } = watch(() => 100);
    const waiting = w.waitBelow(5_000, new AbortController().signal);
    expect((await settle(waiting, 30_000)).done).toBe(false);
    expect((await settle(waiting, 40_000)).done).toBe(true);
  });

  it('never waits without a sink, with the limit 0, or when stopping', async () => {
    const none = watch(() => undefined);
    expect((await settle(none.w.waitBelow(5_000, new AbortController().signal), 0)).done).toBe(true);
    const behind = watch(() => 0);
    expect((await settle(behind.w.waitBelow(0, new AbortController().signal), 0)).done).toBe(true);
    expect(behind.reads()).toBe(0);
    expect((await settle(behind.w.waitBelow(5_000, AbortSignal.abort()), 0)).done).toBe(true);
  });
});
