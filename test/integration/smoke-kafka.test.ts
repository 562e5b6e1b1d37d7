import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { readTopic } from '../helpers/topics.ts';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
});
afterAll(async () => ctx?.close());

describe('a compacted topic on the real broker', () => {
  it('keeps the last value per key and forgets tombstoned keys after cleaning', async () => {
    const topic = `${ctx.prefix}.compacted`;
    await ctx.kafka.ensureTopics([
      {
        name: topic,
        partitions: 1,
        compacted: true,
        // Small segments and an eager cleaner so compaction happens within the test.
        config: { 'segment.ms': '100', 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '100' },
      },
    ]);
    expect((await ctx.kafka.topicConfig(topic))['cleanup.policy']).toBe('compact');

    const producer = ctx.kafka.producer();
    await producer.send(topic, [
      { key: 'k1', value: 'v1' },
      { key: 'k2', value: 'v1' },
      { key: 'k1', value: 'v2' },
      { key: 'k2', value: null },
    ]);

    // The active segment is never cleaned and only rolls on the next append, so keep appending.
    let view: Map<string, (string | null)[]> = new Map();
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      await sleep(1_000);
      await producer.send(topic, [{ key: 'filler', value: String(Date.now()) }]);
      view = new Map();
      for (const r of await readTopic(ctx.kafka, topic)) {
        const k = r.key?.toString() ?? '';
        view.set(k, [...(view.get(k) ?? []), r.value === null ? null : r.value.toString()]);
      }
      if (!view.has('k2') && view.get('k1')?.length === 1) break;
    }
    expect(view.get('k1')).toEqual(['v2']);
    expect(view.has('k2')).toBe(false);
    await producer.close();
  });
});
