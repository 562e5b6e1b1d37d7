import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/log.ts';
import { dbNow } from '../state/clock.ts';
import { inTransaction } from '../state/pool.ts';
import type { StateStore } from '../state/store.ts';
import type { Producer } from '../topics/kafka.ts';
import { nextCronAfter } from './schedule.ts';
import { newTask } from './task.ts';
import { enqueueTasks } from './trigger.ts';

export interface SchedulerDeps {
  config: Config;
  store: StateStore;
  producer: Producer;
  logger: Logger;
}

/**
 * Enqueues scheduled fetches: delta polling for integrations that send no webhooks, and full (drift)
 * fetches on the cron schedule. Due rows are claimed with FOR UPDATE SKIP LOCKED inside the
 * transaction that moves them forward, so several planner processes never enqueue the same thing
 * twice: a row locked by one is skipped by the others, and it is only moved once its tasks were
 * acknowledged by Kafka.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  start(): void {
    const loop = async () => {
      try {
        await this.tick();
      } catch (err) {
        this.#deps.logger.error({ err }, 'scheduler tick failed; retrying next tick');
      }
      // stop() may have run during the tick: it must not be re-armed then, or the process hangs.
      if (!this.#stopped) this.#timer = setTimeout(loop, this.#deps.config.planner.schedulerTickMs);
    };
    this.#timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /** One pass: create missing schedule rows, enqueue what is due. Returns the number of tasks. */
  tick(now?: Date): Promise<number> {
    this.#running = this.#tick(now);
    return this.#running;
  }

  async #tick(at: Date | undefined): Promise<number> {
    const { config, store } = this.#deps;
    // Postgres's clock: every planner process judges due times and stamps tasks by the same one.
    const now = at ?? (await dbNow(store.pool));
    const s = store.schema;
    const { deltaPollIntervalMs, fullSyncCron, fullSyncTimezone } = config.planner;
    const deltaNext = new Date(now.getTime() + deltaPollIntervalMs);
    const fullNext = nextCronAfter(fullSyncCron, fullSyncTimezone, now);
    await store.pool.query(
      `INSERT INTO ${s}.schedules (integration_id, endpoint, kind, next_due_at)
       SELECT i.integration_id, e, k, CASE k WHEN 'delta' THEN $2::timestamptz ELSE $3::timestamptz END
       FROM ${s}.integrations i CROSS JOIN unnest($1::text[]) e CROSS JOIN unnest(ARRAY['delta', 'full']) k
       WHERE i.deleted_at IS NULL AND e LIKE lower(i.category) || '/%'
       ON CONFLICT DO NOTHING`,
      [config.kombo.endpoints, deltaNext, fullNext],
    );
    const due = await inTransaction(store.pool, async (client) => {
      const found = await client.query<{ integration_id: string; endpoint: string; kind: 'delta' | 'full' }>(
        `SELECT sc.integration_id, sc.endpoint, sc.kind FROM ${s}.schedules sc
         JOIN ${s}.integrations i USING (integration_id)
         WHERE sc.next_due_at <= $1 AND NOT i.paused AND i.deleted_at IS NULL
           AND sc.endpoint = ANY($2::text[])
           AND (sc.kind = 'full' OR i.webhooks_seen_at IS NULL)
         ORDER BY sc.next_due_at
         LIMIT 1000
         FOR UPDATE OF sc SKIP LOCKED`,
        [now, config.kombo.endpoints],
      );
      if (found.rows.length) {
        const tasks = found.rows.map((r) =>
          newTask({
            integration_id: r.integration_id,
            endpoint: r.endpoint as never,
            mode: r.kind,
            reason: `schedule:${r.kind}`,
            requested_at: now,
          }),
        );
        await enqueueTasks(this.#deps.producer, config.kafka.topicPrefix, tasks);
        await client.query(
          `UPDATE ${s}.schedules sc SET last_enqueued_at = $1,
             next_due_at = CASE sc.kind WHEN 'delta' THEN $2::timestamptz ELSE $3::timestamptz END
           FROM unnest($4::text[], $5::text[], $6::text[]) AS d(integration_id, endpoint, kind)
           WHERE sc.integration_id = d.integration_id AND sc.endpoint = d.endpoint AND sc.kind = d.kind`,
          [
            now,
            deltaNext,
            fullNext,
            found.rows.map((r) => r.integration_id),
            found.rows.map((r) => r.endpoint),
            found.rows.map((r) => r.kind),
          ],
        );
      }
      return found.rows;
    });
    // Deduplication only needs to outlive Kombo's retries of one webhook.
    await store.pool.query(`DELETE FROM ${s}.planner_events WHERE planned_at < $1`, [
      new Date(now.getTime() - 14 * 86_400_000),
    ]);
    return due.length;
  }
}
