import type { Config } from '../config/config.ts';
import type { SinkOffsets } from '../sink/offsets.ts';
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
  readonly #offsets: SinkOffsets;
  #lag = 0;
  #at = 0;
  #position = -1n;
  #movedAt = Date.now();

  constructor(config: Config, kafka: KafkaClient, offsets: SinkOffsets) {
    this.#group = groupId(config.kafka.topicPrefix, 'sink');
    this.#topics = [...topicSpecs(config).records.values()].map((t) => t.name);
    this.#kafka = kafka;
    this.#offsets = offsets;
  }

  async lag(): Promise<number> {
    if (Date.now() - this.#at < 1_000) return this.#lag;
    this.#at = Date.now();
    const at = await this.#offsets.positions(this.#group);
    if (at.size === 0) return (this.#lag = 0);
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
  async waitBelow(max: number, signal: AbortSignal): Promise<void> {
    if (max <= 0) return;
    while (!signal.aborted && (await this.lag().catch(() => 0)) > max) {
      if (Date.now() - this.#movedAt > STALL_MS) return;
      await sleep(500, signal).catch(() => {});
    }
  }
}
