import { randomBytes } from 'node:crypto';
import type { InRecord, KafkaClient } from '../../src/topics/kafka.ts';

/** Every record currently in the topic (all partitions, up to the end offsets at call time). */
export async function readTopic(kafka: KafkaClient, topic: string): Promise<InRecord[]> {
  const end = await kafka.endOffsets(topic);
  const remaining = new Map([...end].filter(([, o]) => o > 0n));
  if (remaining.size === 0) return [];
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(6).toString('hex')}`, maxWaitTimeInMs: 100 });
  const seen: InRecord[] = [];
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        topics: [topic],
        fromBeginning: true,
        autoCommit: false,
        eachBatch: async (b) => {
          for (const r of b.records) if (BigInt(r.offset) < (end.get(b.partition) ?? 0n)) seen.push(r);
          const last = BigInt(b.records.at(-1)?.offset ?? -1);
          if (last + 1n >= (remaining.get(b.partition) ?? 0n)) remaining.delete(b.partition);
          if (remaining.size === 0) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.close();
  return seen.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

/** Total records in a topic (sum of end offsets). */
export async function topicSize(kafka: KafkaClient, topic: string): Promise<bigint> {
  let n = 0n;
  for (const o of (await kafka.endOffsets(topic)).values()) n += o;
  return n;
}

export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    v = await fn();
  }
  return v;
}
