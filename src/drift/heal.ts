import { setTimeout as sleep } from 'node:timers/promises';
import { toRecords } from '../fetcher/emit.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { SinkTable } from '../sink/tables.ts';
import { dbNow } from '../state/clock.ts';
import { groupId, recordTopic } from '../topics/names.ts';
import type { DriftContext } from './context.ts';

export interface HealResult {
  /** Rows that differed and were re-emitted. */
  emitted: number;
  /** Of those, rows the sink then held as the record (what the report counts). */
  healed: number;
  /** False when there was nothing to check against: no sink table, or a sink that did not catch up. */
  checked: boolean;
}

/** A sink whose stored positions did not move for this long is stalled (stopped, failing): not waited for. */
const STALL_MS = 15_000;

/**
 * Waits until the Postgres sink has stored every record the topic held when this was called (its
 * stored offsets, per partition, reach the topic's end offsets), for at most `graceMs`, and not at
 * all for a sink that makes no progress.
 */
async function sinkCaughtUp(ctx: DriftContext, topic: string): Promise<boolean> {
  const end = await ctx.kafka.endOffsets(topic);
  const group = groupId(ctx.config.kafka.topicPrefix, 'sink');
  const deadline = Date.now() + ctx.config.drift.sinkGraceMs;
  let seen = -1n;
  let movedAt = Date.now();
  for (;;) {
    const at = await ctx.sinkOffsets.positions(group, [topic]);
    if ([...end].every(([p, o]) => (at.get(`${topic}:${p}`) ?? 0n) >= o)) return true;
    const position = [...at.values()].reduce((a, b) => a + b, 0n);
    if (position !== seen) [seen, movedAt] = [position, Date.now()];
    if (Date.now() >= deadline || Date.now() - movedAt > STALL_MS) return false;
    await sleep(250);
  }
}

/**
 * Sink drift ("accidental manual changes"): rows of the sink table that differ from the version the
 * record index holds (missing, marked deleted, other content, or edited by hand: their data no longer
 * matches the checksum the sink stored) are re-emitted from the index, so the user's copy heals too.
 * It judges only once the sink has stored everything emitted so far (this fetch's pages and the
 * sweep's deletions): a row the sink has simply not reached is not drift. Heal records are stamped
 * with the time of the check: under the integration's lock, with the sink caught up, nothing newer
 * is in flight, so the index's version is the newest there is and must win over whatever the row
 * holds (a hand-edited stamp or changed_at, a deletion whose index removal was rolled back). Only
 * rows that then match are counted as healed: a row the sink refuses again (poison) is not.
 */
export async function healSink(ctx: DriftContext, integrationId: string, endpoint: EndpointName): Promise<HealResult> {
  const table = new SinkTable(ctx.pool, ctx.config.postgres.sinkSchema, endpoint);
  if (!(await table.exists())) return { emitted: 0, healed: 0, checked: false };
  const topic = recordTopic(ctx.config.kafka.topicPrefix, endpoint);
  const readBefore = await dbNow(ctx.pool);
  if (!(await sinkCaughtUp(ctx, topic))) {
    ctx.logger.warn({ integration: integrationId, endpoint }, 'sink check skipped: the sink did not catch up in time');
    return { emitted: 0, healed: 0, checked: false };
  }
  const stamp = (await dbNow(ctx.pool)).toISOString();
  const emitted: { id: string; hash: string }[] = [];
  for await (const batch of ctx.index.live({ integrationId, endpoint }, readBefore)) {
    const differing = await table.differing(integrationId, batch);
    const heal = batch.filter((r) => differing.has(r.id));
    if (heal.length === 0) continue;
    const out = await toRecords(
      ctx.serde,
      { integrationId, endpoint, fetchedAt: stamp, syncId: 'drift:heal' },
      heal.map((r) => ({ id: r.id, value: r.value, deleted: false })),
      { op: () => 'heal' },
    );
    await ctx.producer.send(topic, out);
    emitted.push(...heal.map((r) => ({ id: r.id, hash: r.hash })));
  }
  if (emitted.length === 0) return { emitted: 0, healed: 0, checked: true };
  // What the sink made of them: counted only once written and matching.
  let unhealed = emitted.length;
  if (await sinkCaughtUp(ctx, topic)) {
    unhealed = 0;
    for (let i = 0; i < emitted.length; i += 500)
      unhealed += (await table.differing(integrationId, emitted.slice(i, i + 500))).size;
  }
  if (unhealed)
    ctx.logger.warn({ integration: integrationId, endpoint, unhealed }, 'sink rows still differ after healing');
  return { emitted: emitted.length, healed: emitted.length - unhealed, checked: true };
}
