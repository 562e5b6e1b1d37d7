import { describe, expect, it } from 'vitest';
import { type OutRecord, Producer } from '../../src/topics/kafka.ts';

/** A stand-in for the kafkajs producer that records requests (unit test of our batching only). */
function fakeKafkaProducer(opts: { failOn?: number } = {}) {
  const requests: { topic: string; n: number; bytes: number }[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const p = {
    connect: async () => {},
    disconnect: async () => {},
    sendBatch: async (b: { topicMessages: { topic: string; messages: { value: string | null }[] }[] }) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      if (opts.failOn !== undefined && requests.length === opts.failOn) {
        requests.push([]);
        throw new Error('broker said no');
      }
      requests.push(
        b.topicMessages.map((t) => ({
          topic: t.topic,
          n: t.messages.length,
          bytes: t.messages.reduce((a, m) => a + (m.value?.length ?? 0), 0),
        })),
      );
    },
  };
  return { p, requests, maxInFlight: () => maxInFlight };
}
const recs = (n: number, size = 10): OutRecord[] =>
  Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(size) }));

describe('Producer', () => {
  it('never has two requests in flight and merges concurrent sends', async () => {
    const f = fakeKafkaProducer();
    const producer = new Producer(f.p as never);
    await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send(`t${i % 3}`, recs(3))));
    expect(f.maxInFlight()).toBe(1);
    expect(f.requests.length).toBeLessThan(50);
    expect(f.requests.flat().reduce((a, r) => a + r.n, 0)).toBe(150);
  });

  it('keeps draining sends made one after another (each awaited)', async () => {
    const f = fakeKafkaProducer();
    const producer = new Producer(f.p as never);
    for (let i = 0; i < 20; i++) await producer.send('t', recs(2));
    expect(f.requests.flat().reduce((a, r) => a + r.n, 0)).toBe(40);
  });

  it('splits a large send into requests below the byte limit, in order', async () => {
    const f = fakeKafkaProducer();
    const producer = new Producer(f.p as never, { maxBatchBytes: 10_000 });
    await producer.send('t', recs(100, 1_000));
    expect(f.requests.length).toBeGreaterThanOrEqual(10);
    for (const r of f.requests) expect(r.reduce((a, x) => a + x.bytes, 0)).toBeLessThanOrEqual(10_000);
  });

  it('rejects the callers whose records failed, and recovers for the next send', async () => {
    const f = fakeKafkaProducer({ failOn: 0 });
    const producer = new Producer(f.p as never);
    await expect(producer.send('t', recs(2))).rejects.toThrow('broker said no');
    await expect(producer.send('t', recs(2))).resolves.toBeUndefined();
  });
});
