import type { FetchTask } from '../planner/task.ts';

export interface QueuedTask {
  task: FetchTask;
  partition: number;
  offset: bigint;
  attempts: number;
  notBefore: number;
  /** Reads everything (a full fetch, a purge, or a delta with no watermark yet): no delta slot. */
  bulk: boolean;
  /** The assignment of its partition it came with: work of an earlier one is not ours to commit. */
  epoch: number;
}

export type RunResult = 'done' | { retryInMs: number } | 'handed-back';

/**
 * The fetcher's in-process scheduler (invariant 7). Tasks share Kafka partitions across
 * integrations, so processing a partition in order would let one integration's backfill hold up the
 * others. Instead: one queue per integration, at most one running task per integration, up to
 * `concurrency` integrations at once, round-robin between them, and within an integration deltas
 * before full fetches (and their continuations), as Kombo's delta syncs pause its full syncs.
 * A quarter of the slots (at least one, given two or more) are kept for cheap deltas: a backfill of
 * many integrations, whose pages also wait for the sink, would otherwise hold every slot while the
 * small integrations' changes queue behind it. A delta of an endpoint without a watermark reads
 * everything, so it counts as bulk.
 *
 * A partition's offset is only committable up to its lowest unfinished task (a low watermark, as
 * castorm's ConfirmationWindow): a crash repeats unfinished tasks and never skips one.
 */
export class TaskRunner {
  readonly #queues = new Map<string, QueuedTask[]>();
  readonly #running = new Set<string>();
  readonly #pending = new Map<number, Set<bigint>>();
  readonly #maxSeen = new Map<number, bigint>();
  /** Per partition: bumped whenever it is revoked, so tasks it held before cannot commit it. */
  readonly #epochs = new Map<number, number>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #concurrency: number;
  readonly #bulkSlots: number;
  #runningBulk = 0;
  readonly #run: (q: QueuedTask) => Promise<RunResult>;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: { concurrency: number; run: (q: QueuedTask) => Promise<RunResult> }) {
    this.#concurrency = opts.concurrency;
    this.#bulkSlots = opts.concurrency - (opts.concurrency > 1 ? Math.ceil(opts.concurrency / 4) : 0);
    this.#run = opts.run;
  }

  get queued(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  get running(): number {
    return this.#running.size;
  }

  add(partition: number, offset: bigint, task: FetchTask, bulk = task.mode !== 'delta'): void {
    if (!this.#pending.has(partition)) this.#pending.set(partition, new Set());
    this.#pending.get(partition)?.add(offset);
    if ((this.#maxSeen.get(partition) ?? -1n) < offset) this.#maxSeen.set(partition, offset);
    this.#enqueue({ task, partition, offset, attempts: 0, notBefore: 0, bulk, epoch: this.#epoch(partition) });
    this.#pump();
  }

  #epoch(partition: number): number {
    return this.#epochs.get(partition) ?? 0;
  }

  /** A task that needs no work (e.g. undecodable, dead-lettered at once) still moves the offset. */
  complete(partition: number, offset: bigint): void {
    if ((this.#maxSeen.get(partition) ?? -1n) < offset) this.#maxSeen.set(partition, offset);
    this.#pending.get(partition)?.delete(offset);
  }

  #enqueue(q: QueuedTask): void {
    const id = q.task.integration_id;
    const list = this.#queues.get(id) ?? [];
    if (q.task.mode === 'delta') {
      const at = list.findIndex((x) => x.task.mode !== 'delta');
      list.splice(at < 0 ? list.length : at, 0, q);
    } else list.push(q);
    // Re-inserting moves the integration to the back of the round-robin order.
    this.#queues.delete(id);
    this.#queues.set(id, list);
  }

  #next(now: number): QueuedTask | undefined {
    const bulk = this.#runningBulk < this.#bulkSlots;
    for (const [id, list] of this.#queues) {
      if (this.#running.has(id)) continue;
      const i = list.findIndex((x) => x.notBefore <= now && (bulk || !x.bulk));
      if (i < 0) continue;
      const [q] = list.splice(i, 1);
      if (list.length === 0) this.#queues.delete(id);
      else {
        this.#queues.delete(id);
        this.#queues.set(id, list);
      }
      return q;
    }
    return undefined;
  }

  #pump(): void {
    if (this.#stopped) return;
    const now = Date.now();
    while (this.#running.size < this.#concurrency) {
      const q = this.#next(now);
      if (!q) break;
      const id = q.task.integration_id;
      this.#running.add(id);
      if (q.bulk) this.#runningBulk++;
      const p = this.#run(q)
        .catch((): RunResult => ({ retryInMs: 5_000 }))
        .then((r) => {
          this.#running.delete(id);
          if (q.bulk) this.#runningBulk--;
          // Revoked while it ran: the partition's new owner has the task; it is neither committed nor retried here.
          if (q.epoch !== this.#epoch(q.partition)) return;
          if (r === 'done') this.complete(q.partition, q.offset);
          else if (r !== 'handed-back' && !this.#stopped)
            this.#enqueue({ ...q, attempts: q.attempts + 1, notBefore: Date.now() + r.retryInMs });
        })
        .finally(() => {
          this.#inFlight.delete(p);
          this.#pump();
        });
      this.#inFlight.add(p);
    }
    // Wake up for delayed retries.
    clearTimeout(this.#timer);
    const waits = [...this.#queues.values()]
      .flat()
      .map((q) => q.notBefore - now)
      .filter((w) => w > 0);
    if (waits.length && !this.#stopped) this.#timer = setTimeout(() => this.#pump(), Math.min(...waits) + 5);
  }

  /** Next offset to commit per partition: the lowest unfinished task, or past the last seen. */
  committable(): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (const [p, max] of this.#maxSeen) {
      const pending = this.#pending.get(p);
      let low = max + 1n;
      for (const o of pending ?? []) if (o < low) low = o;
      out.set(p, low);
    }
    return out;
  }

  /** Partitions this process no longer owns: their queued tasks belong to the new owner. */
  retainPartitions(assigned: ReadonlySet<number>): void {
    for (const [id, list] of this.#queues) {
      const keep = list.filter((q) => assigned.has(q.partition));
      if (keep.length) this.#queues.set(id, keep);
      else this.#queues.delete(id);
    }
    for (const p of new Set([...this.#pending.keys(), ...this.#epochs.keys()])) {
      if (!assigned.has(p)) {
        this.#pending.delete(p);
        this.#maxSeen.delete(p);
        this.#epochs.set(p, this.#epoch(p) + 1);
      }
    }
  }

  /** Stops starting tasks and waits for the running ones (which hand back at a page boundary). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
  }
}

/**
 * The offsets worth committing: those that moved since the last commit and lie beyond what the group
 * has stored. A new owner's first position is the stored offset it started from, and the old owner
 * may still have committed past it while the partition moved (kafkajs sends a commit of a member of
 * the current generation for any partition): committing our lower position would move the group
 * back, and what the old owner committed it had finished.
 */
export function offsetsToCommit(
  now: ReadonlyMap<number, bigint>,
  last: ReadonlyMap<number, bigint>,
  stored: (partition: number) => bigint | undefined,
): [number, bigint][] {
  return [...now].filter(([p, o]) => last.get(p) !== o && o > (stored(p) ?? -1n));
}
