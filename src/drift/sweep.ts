import { createHash } from 'node:crypto';
import { DriftAlertChangedError, FullFetchInFlightError, IntegrationBusyError, NoDriftAlertError } from '../errors.ts';
import { changeRecords, toRecords } from '../fetcher/emit.ts';
import { withIntegrationLock } from '../fetcher/lock.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { dbNow } from '../state/clock.ts';
import { FetchRuns } from '../state/fetch-runs.ts';
import { inTransaction } from '../state/pool.ts';
import type { Generation } from '../state/record-index.ts';
import { changesTopic, recordTopic } from '../topics/names.ts';
import type { DriftContext } from './context.ts';

export interface SweepResult {
  vanished: number;
  total: number;
  deleted: number;
  blocked: number;
}

/** How many live keys generation `g` did not see, and a digest of exactly which. */
async function unseenSet(ctx: DriftContext, g: Generation): Promise<{ count: number; digest: string }> {
  const hash = createHash('sha256');
  let count = 0;
  for await (const ids of ctx.index.unseenIds(g)) {
    for (const id of ids) hash.update(`${id}\n`);
    count += ids.length;
  }
  return { count, digest: hash.digest('hex') };
}

/**
 * Mark-and-sweep after a full fetch that read every page (invariant 6): live keys of the index that
 * this generation did not see, last seen by an older generation and read before it began, vanished
 * upstream without a trace. They get their last known value with remote_deleted_at set, then a
 * tombstone, and leave the index. If that would delete more than the configured share, nothing is
 * deleted and an alert stays open until an operator confirms it or a later full fetch (a newer
 * generation) finds exactly the same keys gone. Runs under the integration's lock (the fetch's).
 */
export async function sweep(ctx: DriftContext, g: Generation): Promise<SweepResult> {
  const total = await ctx.index.countLive(g.integrationId, g.endpoint);
  const { count: vanished, digest } = await unseenSet(ctx, g);
  await ctx.index.forgetUnseenDeleted(g);
  const result: SweepResult = { vanished, total, deleted: 0, blocked: 0 };
  if (vanished === 0) {
    await ctx.drift.close(g.integrationId, g.endpoint, 'resolved');
    return result;
  }
  const { maxDeleteFraction, guardMinRecords } = ctx.config.drift;
  if (vanished >= guardMinRecords && vanished > maxDeleteFraction * total) {
    const prior = await ctx.drift.openAlert(g.integrationId, g.endpoint);
    // Only a newer full fetch agrees: the same run's pass repeated (a redelivered last turn) does not.
    const agrees = prior && prior.ids_hash === digest && BigInt(g.generation) > BigInt(prior.generation);
    if (!agrees) {
      await ctx.drift.raise({
        integrationId: g.integrationId,
        endpoint: g.endpoint,
        vanished,
        total,
        idsHash: digest,
        generation: g.generation,
        runStartedAt: g.startedAt,
      });
      ctx.logger.warn(
        { integration: g.integrationId, endpoint: g.endpoint, vanished, total, maxDeleteFraction },
        'drift sweep blocked: it would delete too many records; confirm it, or a later full fetch must agree',
      );
      result.blocked = vanished;
      return result;
    }
  }
  result.deleted = await deleteUnseen(ctx, g, 'resolved');
  return result;
}

/**
 * Operator confirmation of a blocked sweep: deletes exactly the keys the alert showed, under the
 * integration's lock. Refused, deleting nothing, if that set has changed since (a later fetch saw some
 * of them, or more vanished): a later full fetch then judges afresh.
 */
export async function confirmSweep(
  ctx: DriftContext,
  integrationId: string,
  endpoint: EndpointName,
): Promise<SweepResult> {
  const outcome = await withIntegrationLock(ctx.pool, integrationId, async () => {
    const alert = await ctx.drift.openAlert(integrationId, endpoint);
    if (!alert) throw new NoDriftAlertError(integrationId, endpoint);
    // A full fetch between turns may yet see some of these keys: deleting them now would only
    // flap them; its own sweep judges them when it finishes.
    const runs = new FetchRuns(ctx.pool, ctx.config.postgres.stateSchema, {
      staleAfterMs: ctx.config.fetcher.runStaleAfterMs,
    });
    const inFlight = await runs.inFlight(integrationId, endpoint);
    if (inFlight) throw new FullFetchInFlightError(integrationId, endpoint, inFlight.runId);
    const g: Generation = {
      integrationId,
      endpoint,
      generation: String(alert.generation),
      startedAt: alert.run_started_at,
    };
    const now = await unseenSet(ctx, g);
    if (now.digest !== alert.ids_hash)
      throw new DriftAlertChangedError(
        `the records the alert for ${integrationId} ${endpoint} would delete have changed since it was raised ` +
          `(${alert.vanished} then, ${now.count} now): nothing deleted; the next full fetch judges again`,
      );
    const deleted = await deleteUnseen(ctx, g, 'confirmed');
    return { vanished: now.count, total: Number(alert.total), deleted, blocked: 0 };
  });
  if (outcome === 'locked') throw new IntegrationBusyError(integrationId);
  return outcome;
}

/**
 * Emits the deletion of every key generation `g` did not see and removes them from the index, in
 * bounded batches, in one transaction that also closes the endpoint's alert: a failure midway
 * deletes nothing from the index and leaves the alert open (what was already emitted is repeated by
 * the next attempt; a key that turns out live is re-emitted by the sink check).
 */
async function deleteUnseen(ctx: DriftContext, g: Generation, close: 'resolved' | 'confirmed'): Promise<number> {
  const topic = recordTopic(ctx.config.kafka.topicPrefix, g.endpoint as EndpointName);
  return inTransaction(ctx.pool, async (client) => {
    const at = (await dbNow(client)).toISOString();
    let deleted = 0;
    for await (const batch of ctx.index.unseen(g, client)) {
      const out = await toRecords(
        ctx.serde,
        {
          integrationId: g.integrationId,
          endpoint: g.endpoint as EndpointName,
          fetchedAt: at,
          syncId: `drift:${g.generation}`,
          generation: g.generation,
        },
        batch.map((r) => ({
          id: r.id,
          value: { ...r.value, remote_deleted_at: r.value.remote_deleted_at ?? at },
          deleted: true,
        })),
      );
      await ctx.producer.send(topic, out);
      // Vanished upstream: a deletion to change subscribers too, from the last version read.
      if (ctx.config.kafka.changeEvents.includes(g.endpoint as EndpointName))
        await ctx.producer.send(
          changesTopic(ctx.config.kafka.topicPrefix, g.endpoint as EndpointName),
          await changeRecords(
            ctx.serde,
            {
              integrationId: g.integrationId,
              endpoint: g.endpoint as EndpointName,
              readAt: at,
              runId: `drift:${g.generation}`,
            },
            batch.map((r) => ({ id: r.id, value: null, hash: null })),
            new Map(batch.map((r) => [r.id, { value: r.value, deleted: false }])),
          ),
        );
      await ctx.index.remove(
        g.integrationId,
        g.endpoint,
        batch.map((r) => r.id),
        client,
      );
      deleted += batch.length;
    }
    await ctx.drift.close(g.integrationId, g.endpoint, close, client);
    return deleted;
  });
}
