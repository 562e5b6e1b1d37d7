import type { Config } from '../config/config.ts';
import type { StateStore } from '../state/store.ts';
import type { KafkaClient } from '../topics/kafka.ts';
import { groupId } from '../topics/names.ts';
import { topicSpecs } from '../topics/topology.ts';
import { sleep } from './rate-limit.ts';

/** How long the sink may store no new offsets before bulk reads stop waiting for it. */
const STALL_MS = 60_000;

/**
 * How far the Postgres sink is behind the record topics (end offsets minus the offsets the sink
 * stored with its rows), refreshed at most once a second. Without a sink (no stored offsets) there is
 * no lag to respect.
 */
export class SinkLagWatch {
  readonly #group: string;
  readonly #topics: readonly string[];
  readonly #kafka: KafkaClient;
  readonly #store: StateStore;
  #lag = 0;
  #at = 0;
  #position = -1n;
  #movedAt = Date.now();

  constructor(config: Config, kafka: KafkaClient, store: StateStore) {
    this.#group = groupId(config.kafka.topicPrefix, 'sink');
    this.#topics = [...topicSpecs(config).records.values()].map((t) => t.name);
    this.#kafka = kafka;
    this.#store = store;
  }

  async lag(): Promise<number> {
    if (Date.now() - this.#at < 1_000) return this.#lag;
    this.#at = Date.now();
    const stored = await this.#store.pool.query<{ topic: string; partition: number; next_offset: string }>(
      `SELECT topic, partition, next_offset FROM ${this.#store.schema}.sink_offsets WHERE group_id = $1`,
      [this.#group],
    );
    if (stored.rows.length === 0) return (this.#lag = 0);
    const at = new Map(stored.rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]));
    const position = [...at.values()].reduce((a, b) => a + b, 0n);
    if (position !== this.#position) {
      this.#position = position;
      this.#movedAt = Date.now();
    }
    let lag = 0n;
    for (const topic of this.#topics) {
      for (const [p, end] of await this.#kafka.endOffsets(topic)) lag += end - (at.get(`${topic}:${p}`) ?? 0n);
    }
    this.#lag = Number(lag);
    return this.#lag;
  }

  /**
   * Waits while the lag exceeds `max` (0 disables) and the sink is making progress. A sink that
   * stores nothing for a minute (stopped, removed, or failing) is not waited for: it must not hold
   * the topics' other subscribers back from a backfill.
   */
  async waitBelow(max: number, stopping: () => boolean): Promise<void> {
    if (max <= 0) return;
    while (!stopping() && (await this.lag().catch(() => 0)) > max) {
      if (Date.now() - this.#movedAt > STALL_MS) return;
      await sleep(500);
    }
  }
}
