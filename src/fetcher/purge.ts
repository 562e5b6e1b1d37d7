import { Schedules } from '../planner/schedules.ts';
import type { FetchTask } from '../planner/task.ts';
import { SinkTable } from '../sink/tables.ts';
import { dbNow } from '../state/clock.ts';
import { recordTopic } from '../topics/names.ts';
import { recordHeaders } from '../topics/records.ts';
import { toRecords } from './emit.ts';
import type { FetchContext } from './fetch.ts';

/**
 * Offboarding one endpoint of a deleted integration: every record it ever emitted gets its last
 * value with remote_deleted_at set and a tombstone, both marked op=purge (the sink removes the rows
 * whatever its delete mode), then its index entries, runs, schedules and endpoint state are removed.
 */
export async function executePurge(ctx: FetchContext, task: FetchTask): Promise<number> {
  const topic = recordTopic(ctx.config.kafka.topicPrefix, task.endpoint);
  const now = (await dbNow(ctx.pool)).toISOString();
  const meta = {
    integrationId: task.integration_id,
    endpoint: task.endpoint,
    fetchedAt: now,
    syncId: `purge:${task.task_id}`,
  };
  let purged = 0;
  for await (const batch of ctx.index.all({ integrationId: task.integration_id, endpoint: task.endpoint })) {
    const out = await toRecords(
      ctx.serde,
      meta,
      batch.map((r) => ({
        id: r.id,
        value: { ...r.value, remote_deleted_at: r.value.remote_deleted_at ?? now },
        deleted: true,
      })),
      { op: () => 'purge', tombstoneOp: 'purge' },
    );
    await ctx.producer.send(topic, out);
    await ctx.index.remove(
      task.integration_id,
      task.endpoint,
      batch.map((r) => r.id),
    );
    purged += batch.length;
  }
  // Keys that left the index earlier (swept as vanished) may still have soft-deleted sink rows:
  // a purge tombstone for each makes the sink drop them too.
  const table = new SinkTable(ctx.pool, ctx.config.postgres.sinkSchema, task.endpoint);
  if (await table.exists()) {
    for await (const ids of table.ids(task.integration_id)) {
      const out = await Promise.all(
        ids.map(async (id) => ({
          key: await ctx.serde.encodeKey(task.endpoint, { integration_id: task.integration_id, id }),
          value: null,
          headers: recordHeaders({ ...meta, op: 'purge' }),
        })),
      );
      await ctx.producer.send(topic, out);
      purged += ids.length;
    }
  }
  await ctx.runs.forget(task.integration_id, task.endpoint);
  await ctx.store.forgetEndpoint(task.integration_id, task.endpoint);
  await new Schedules(ctx.pool, ctx.config.postgres.stateSchema).forget(task.integration_id, task.endpoint);
  return purged;
}
