import { setTimeout as sleep } from 'node:timers/promises';
import { toRecords } from '../fetcher/emit.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { SinkTable } from '../sink/tables.ts';
import { dbNow } from '../state/clock.ts';
import type { KafkaClient } from '../topics/kafka.ts';
import { groupId, recordTopic } from '../topics/names.ts';
import type { DriftContext } from './context.ts';

export interface HealResult {
  healed: number;
  /** False when there was nothing to check against: no sink table, or a sink that did not catch up. */
  checked: boolean;
}

/**
 * Waits until the Postgres sink has stored every record the topic held when this was called (its
 * stored offsets, per partition, reach the topic's end offsets), for at most `graceMs`.
 */
async function sinkCaughtUp(ctx: DriftContext, kafka: KafkaClient, topic: string, graceMs: number): Promise<boolean> {
  const end = await kafka.endOffsets(topic);
  const group = groupId(ctx.config.kafka.topicPrefix, 'sink');
  const deadline = Date.now() + graceMs;
  for (;;) {
    const at = await ctx.sinkOffsets.positions(group, [topic]);
    if ([...end].every(([p, o]) => (at.get(`${topic}:${p}`) ?? 0n) >= o)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(250);
  }
}

/**
 * Sink drift ("accidental manual changes"): rows of the sink table that differ from the version the
 * record index holds (missing, marked deleted, other content, or edited by hand: their data no longer
 * matches the checksum the sink stored) are re-emitted from the index, with that version's read time,
 * so the user's copy heals too. It judges only once the sink has stored everything emitted so far
 * (this fetch's pages and the sweep's deletions): a row the sink has simply not reached yet is not
 * drift, and counting it would make a clean run's report claim corrections. Runs under the
 * integration's lock, so no other fetch of it emits meanwhile.
 */
export async function healSink(
  ctx: DriftContext,
  kafka: KafkaClient,
  integrationId: string,
  endpoint: EndpointName,
): Promise<HealResult> {
  const table = new SinkTable(ctx.pool, ctx.config.postgres.sinkSchema, endpoint);
  if (!(await table.exists())) return { healed: 0, checked: false };
  const topic = recordTopic(ctx.config.kafka.topicPrefix, endpoint);
  const readBefore = await dbNow(ctx.pool);
  if (!(await sinkCaughtUp(ctx, kafka, topic, ctx.config.drift.sinkGraceMs))) {
    ctx.logger.warn({ integration: integrationId, endpoint }, 'sink check skipped: the sink did not catch up in time');
    return { healed: 0, checked: false };
  }
  let healed = 0;
  for await (const batch of ctx.index.live({ integrationId, endpoint }, readBefore)) {
    const differing = await table.differing(integrationId, batch);
    const heal = batch.filter((r) => differing.has(r.id));
    if (heal.length === 0) continue;
    const out = await Promise.all(
      heal.map((r) =>
        toRecords(
          ctx.serde,
          { integrationId, endpoint, fetchedAt: r.readAt.toISOString(), syncId: 'drift:heal' },
          [{ id: r.id, value: r.value, deleted: false }],
          { op: () => 'heal' },
        ),
      ),
    );
    await ctx.producer.send(topic, out.flat());
    healed += heal.length;
  }
  return { healed, checked: true };
}
