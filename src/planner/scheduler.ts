import type { Config } from '../config/config.ts';
import { lifecycleState } from '../integrations/lifecycle.ts';
import { LifecycleStore } from '../integrations/store.ts';
import type { Logger } from '../observability/log.ts';
import { dbNow } from '../state/clock.ts';
import { FetchRuns } from '../state/fetch-runs.ts';
import { inTransaction } from '../state/pool.ts';
import type { StateStore } from '../state/store.ts';
import type { Producer } from '../topics/kafka.ts';
import { PlannerEvents } from './events.ts';
import { endpointsOfCategory } from './plan.ts';
import { nextCronAfter } from './schedule.ts';
import { Schedules } from './schedules.ts';
import { newTask } from './task.ts';
import { enqueueTasks } from './trigger.ts';

/** Whether an integration's webhooks arrived within the poll interval (then polling it is not needed). */
export function webhooksFlowing(i: { webhooks_seen_at: Date | null }, now: Date, pollIntervalMs: number): boolean {
  return i.webhooks_seen_at !== null && now.getTime() - i.webhooks_seen_at.getTime() < pollIntervalMs;
}

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

  readonly #schedules: Schedules;
  readonly #events: PlannerEvents;
  readonly #runs: FetchRuns;
  readonly #lifecycle: LifecycleStore;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
    this.#schedules = new Schedules(deps.store.pool, deps.store.stateSchema);
    this.#events = new PlannerEvents(deps.store.pool, deps.store.stateSchema);
    this.#lifecycle = new LifecycleStore(deps.store.pool, deps.store.stateSchema);
    this.#runs = new FetchRuns(deps.store.pool, deps.store.stateSchema, {
      staleAfterMs: deps.config.fetcher.runStaleAfterMs,
    });
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
    const { deltaPollIntervalMs, fullSyncCron, fullSyncTimezone } = config.planner;
    const next = {
      delta: new Date(now.getTime() + deltaPollIntervalMs),
      full: nextCronAfter(fullSyncCron, fullSyncTimezone, now),
    };
    const active = (await store.listIntegrations()).filter((i) => !i.deleted_at);
    const life = new Map((await this.#lifecycle.list()).map((l) => [l.integration_id, l]));
    await this.#schedules.ensure(
      active.map((i) => ({
        integration_id: i.integration_id,
        endpoints: endpointsOfCategory(i.category ?? undefined, config.kombo.endpoints).filter(
          (e) => !life.get(i.integration_id)?.unavailable[e],
        ),
      })),
      next,
    );
    // A held integration is not polled nor fully fetched: its release queues its catch-up.
    const running = active.filter((i) => lifecycleState(i, life.get(i.integration_id)) === 'active');
    const eligible = {
      full: running.map((i) => i.integration_id),
      // Polling is for integrations that send no webhooks, or whose webhooks stopped (a secret
      // rotated at Kombo but not here, a disabled subscription): silent longer than the poll interval.
      delta: running.filter((i) => !webhooksFlowing(i, now, deltaPollIntervalMs)).map((i) => i.integration_id),
    };
    const due = await inTransaction(store.pool, async (client) => {
      const found = await this.#schedules.claimDue(client, now, eligible, config.kombo.endpoints);
      if (found.length) {
        const tasks = found.map((r) =>
          newTask({
            integration_id: r.integration_id,
            endpoint: r.endpoint as never,
            mode: r.kind,
            reason: `schedule:${r.kind}`,
            requested_at: now,
          }),
        );
        await enqueueTasks(this.#deps.producer, config.kafka.topicPrefix, tasks);
        await this.#schedules.enqueued(client, found, now, next);
      }
      return found;
    });
    await this.#events.forgetBefore(new Date(now.getTime() - 14 * 86_400_000));
    // One row per fetch adds up (a poll every few hours per endpoint and integration); a month is
    // plenty for coverage, replays and status.
    await this.#runs.prune(new Date(now.getTime() - 30 * 86_400_000));
    return due.length;
  }
}
