/**
 * The only module that imports kafkajs. Everything else speaks these small types, so the client
 * can be swapped (e.g. for @platformatic/kafka or confluent-kafka-javascript) in one place.
 *
 * kafkajs sharp edges handled here: sends on one idempotent producer are serialised (concurrent
 * sends can silently drop messages, tulios/kafkajs#1005); the partitioner is explicit (the
 * Java-compatible murmur2 default, so keys land where Kafka Connect and kcat put them); topics are
 * created explicitly; every client is disconnected on close.
 */
import {
  type Admin,
  CompressionTypes,
  type EachBatchPayload,
  Kafka,
  type KafkaMessage,
  type Consumer as KConsumer,
  type Producer as KProducer,
  logLevel,
  Partitioners,
  type SASLOptions,
} from 'kafkajs';
import type { Config } from '../config/config.ts';
import type { KafkaSecurity } from '../config/tls.ts';
import { TopicMissingError } from '../errors.ts';
import type { Logger } from '../observability/log.ts';

/**
 * kafkajs 2.2.4 schedules timers with negative delays (harmless: they run at once), and Node 24
 * warns on each, on every command's stderr. The one kafkajs quirk that leaks out of this module is
 * stopped here, and only that warning: every other one still prints.
 */
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  if (type === 'TimeoutNegativeWarning') return;
  return (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
} as typeof process.emitWarning;

export interface OutRecord {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, string>;
  partition?: number;
}

export interface InRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** -1: the broker's default.replication.factor */
  replicationFactor?: number;
  /** cleanup.policy=compact: the last value per key is kept, tombstoned keys are forgotten. */
  compacted: boolean;
  config?: Record<string, string>;
}

export interface Batch {
  topic: string;
  partition: number;
  /** The partition's end offset when the batch was fetched (for lag). */
  highWatermark: bigint;
  records: InRecord[];
  /** Keeps the group membership alive during long batches. */
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

function toInRecord(topic: string, partition: number, m: KafkaMessage): InRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    headers[k] = Array.isArray(v) ? String(v[v.length - 1]) : String(v);
  }
  return { topic, partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: m.timestamp };
}

/** A client for the configured cluster (brokers, TLS, SASL): how every command and role reaches Kafka. */
export function kafkaClient(
  config: Config,
  clientId: string,
  opts: { logger?: Logger; sessionTimeoutMs?: number; retries?: number } = {},
): KafkaClient {
  return new KafkaClient({ brokers: config.kafka.brokers, clientId, security: config.kafka.security, ...opts });
}

export class KafkaClient {
  readonly #kafka: Kafka;
  readonly #closers = new Set<() => Promise<void>>();
  #admin: Admin | undefined;
  readonly #sessionTimeoutMs: number;

  constructor(opts: {
    brokers: readonly string[];
    clientId: string;
    logger?: Logger;
    requestTimeoutMs?: number;
    sessionTimeoutMs?: number;
    security?: KafkaSecurity;
    /** Retries of a failed request (default 8): a one-shot check wants few. */
    retries?: number;
  }) {
    this.#sessionTimeoutMs = opts.sessionTimeoutMs ?? 30_000;
    const log = opts.logger?.child({ component: 'kafkajs' });
    const sec = opts.security;
    this.#kafka = new Kafka({
      clientId: opts.clientId,
      brokers: [...opts.brokers],
      ...(sec?.tls
        ? {
            ssl: {
              ...(sec.tls.ca ? { ca: [sec.tls.ca] } : {}),
              ...(sec.tls.cert ? { cert: sec.tls.cert } : {}),
              ...(sec.tls.key ? { key: sec.tls.key } : {}),
              ...(sec.tls.passphrase ? { passphrase: sec.tls.passphrase } : {}),
              rejectUnauthorized: true,
              ...(sec.tls.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
            },
          }
        : {}),
      ...(sec?.sasl ? { sasl: { ...sec.sasl } as SASLOptions } : {}),
      connectionTimeout: 3_000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      retry: { initialRetryTime: 300, retries: opts.retries ?? 8, maxRetryTime: 10_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => {
        if (!log) return;
        const { message, ...extra } = entry.log;
        const level = entry.level <= logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'debug';
        log[level]({ ...extra, namespace: entry.namespace }, message);
      },
    });
  }

  async #adminClient(): Promise<Admin> {
    if (!this.#admin) {
      const admin = this.#kafka.admin();
      await admin.connect();
      this.#admin = admin;
      this.#closers.add(() => admin.disconnect());
    }
    return this.#admin;
  }

  /**
   * Creates the topics that do not exist yet (existing ones are left as they are) and waits until
   * every partition has a leader. Several processes may race to create the same topic.
   */
  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    if (specs.length === 0) return;
    const admin = await this.#adminClient();
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length) {
      try {
        // kafkajs's own waitForLeaders can throw UNKNOWN_TOPIC_OR_PARTITION while metadata spreads.
        await admin.createTopics({
          waitForLeaders: false,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            replicationFactor: s.replicationFactor ?? -1,
            configEntries: Object.entries({
              ...(s.compacted ? { 'cleanup.policy': 'compact' } : {}),
              ...s.config,
            }).map(([name, value]) => ({ name, value })),
          })),
        });
      } catch (err) {
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
      }
    }
    const names = specs.map((s) => s.name);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const md = await admin.fetchTopicMetadata({ topics: names });
        if (md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`topics without leaders after 30 s: ${names.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** For commands that only use topics: they exist, or a clear error (they never create them). */
  async requireTopics(names: readonly string[]): Promise<void> {
    const existing = new Set(await this.listTopics());
    const missing = names.filter((n) => !existing.has(n));
    if (missing.length) throw new TopicMissingError(missing);
  }

  async deleteTopics(names: readonly string[]): Promise<void> {
    const admin = await this.#adminClient();
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((n) => existing.has(n));
    if (topics.length) await admin.deleteTopics({ topics });
  }

  async listTopics(): Promise<string[]> {
    return (await this.#adminClient()).listTopics();
  }

  /** Partitions per existing topic (missing ones are left out). */
  async partitionCounts(names: readonly string[]): Promise<Map<string, number>> {
    const admin = await this.#adminClient();
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((n) => existing.has(n));
    if (topics.length === 0) return new Map();
    const md = await admin.fetchTopicMetadata({ topics });
    return new Map(md.topics.map((t) => [t.name, t.partitions.length]));
  }

  async topicConfig(name: string): Promise<Record<string, string>> {
    const admin = await this.#adminClient();
    const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name }] });
    const out: Record<string, string> = {};
    for (const e of res.resources[0]?.configEntries ?? []) out[e.configName] = e.configValue;
    return out;
  }

  /** High watermark (next offset) per partition. */
  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const offsets = await (await this.#adminClient()).fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  async groupOffsets(groupId: string, topics: readonly string[]): Promise<Map<string, bigint>> {
    const res = await (await this.#adminClient()).fetchOffsets({ groupId, topics: [...topics] });
    const out = new Map<string, bigint>();
    for (const t of res) for (const p of t.partitions) out.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
    return out;
  }

  /** Connectivity probe for readiness checks. */
  async ping(): Promise<void> {
    await (await this.#adminClient()).describeCluster();
  }

  /**
   * `retries` bounds how long a send keeps retrying while Kafka is unreachable (kafkajs retries an
   * idempotent producer forever by default); callers that must answer in bounded time lower it.
   */
  producer(opts: { idempotent?: boolean; retries?: number; maxBatchRecords?: number } = {}): Producer {
    const p = this.#kafka.producer({
      idempotent: opts.idempotent ?? true,
      maxInFlightRequests: opts.idempotent === false ? 5 : 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(opts.retries === undefined
        ? {}
        : { retry: { retries: opts.retries, initialRetryTime: 200, maxRetryTime: 2_000 } }),
    });
    const producer = new Producer(
      p,
      opts.maxBatchRecords === undefined ? {} : { maxBatchRecords: opts.maxBatchRecords },
    );
    this.#closers.add(() => producer.close());
    return producer;
  }

  consumer(opts: {
    groupId: string;
    sessionTimeoutMs?: number;
    maxWaitTimeInMs?: number;
    readUncommitted?: boolean;
    maxBytesPerPartition?: number;
  }): Consumer {
    const c = this.#kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs ?? this.#sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor((opts.sessionTimeoutMs ?? this.#sessionTimeoutMs) / 3)),
      maxWaitTimeInMs: opts.maxWaitTimeInMs ?? 500,
      allowAutoTopicCreation: false,
      readUncommitted: opts.readUncommitted ?? false,
      ...(opts.maxBytesPerPartition
        ? { maxBytesPerPartition: opts.maxBytesPerPartition, maxBytes: opts.maxBytesPerPartition * 4 }
        : {}),
    });
    const consumer = new Consumer(c);
    this.#closers.add(() => consumer.close());
    return consumer;
  }

  async close(): Promise<void> {
    const closers = [...this.#closers];
    this.#closers.clear();
    await Promise.allSettled(closers.map((c) => withDeadline(c().catch(() => {}))));
    this.#admin = undefined;
  }
}

const byteLength = (v: Buffer | string | null) =>
  v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

/** About what a record takes in a produce request (payload and headers, plus framing). */
export function recordSize(r: OutRecord): number {
  let n = 64 + byteLength(r.key) + byteLength(r.value);
  for (const [k, v] of Object.entries(r.headers ?? {})) n += k.length + v.length + 8;
  return n;
}

interface Pending {
  batches: readonly { topic: string; records: readonly OutRecord[] }[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A producer with one request in flight at a time (concurrent sends on an idempotent kafkajs producer
 * can silently drop messages). Sends that arrive while a request is in flight are merged into the next
 * request, so many concurrent callers (e.g. webhook requests) cost one round trip, not one each.
 * Every caller's promise resolves when its records were acknowledged by all in-sync replicas.
 */
export class Producer {
  readonly #p: KProducer;
  #connected: Promise<void> | undefined;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  readonly #maxBatchRecords: number;
  readonly #maxBatchBytes: number;

  constructor(p: KProducer, opts: { maxBatchRecords?: number; maxBatchBytes?: number } = {}) {
    this.#p = p;
    this.#maxBatchRecords = opts.maxBatchRecords ?? 5_000;
    // Below Kafka's default message.max.bytes (1 MiB) with room for batch overhead.
    this.#maxBatchBytes = opts.maxBatchBytes ?? 768 * 1024;
  }

  /** Sends waiting for their turn (backpressure signal for callers). */
  get pending(): number {
    return this.#queue.length;
  }

  async send(topic: string, records: readonly OutRecord[]): Promise<void> {
    return this.sendMany([{ topic, records }]);
  }

  sendMany(batches: readonly { topic: string; records: readonly OutRecord[] }[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('producer is closed'));
    if (!batches.some((b) => b.records.length > 0)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ batches, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      // A send may have queued after the drain loop saw an empty queue but before it settled.
      if (this.#queue.length) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      // Take what is waiting; send it in requests of bounded size (a record batch above the broker's
      // message.max.bytes is refused whole), resolving each caller once its last record is acked.
      const group = this.#queue.splice(0, this.#queue.length);
      let chunk = new Map<string, OutRecord[]>();
      let bytes = 0;
      let count = 0;
      let done: Pending[] = [];
      const flush = async () => {
        if (count === 0) return;
        const topicMessages = [...chunk].map(([topic, recs]) => ({
          topic,
          messages: recs.map((r) => ({
            key: r.key,
            value: r.value,
            ...(r.headers ? { headers: r.headers } : {}),
            ...(r.partition === undefined ? {} : { partition: r.partition }),
          })),
        }));
        chunk = new Map();
        bytes = 0;
        count = 0;
        this.#connected ??= this.#p.connect();
        await this.#connected;
        await this.#p.sendBatch({ acks: -1, compression: CompressionTypes.None, topicMessages });
        for (const d of done) d.resolve();
        done = [];
      };
      try {
        for (const g of group) {
          for (const b of g.batches) {
            for (const r of b.records) {
              const size = recordSize(r);
              if (count > 0 && (bytes + size > this.#maxBatchBytes || count >= this.#maxBatchRecords)) await flush();
              const list = chunk.get(b.topic) ?? [];
              list.push(r);
              chunk.set(b.topic, list);
              bytes += size;
              count++;
            }
          }
          done.push(g);
        }
        await flush();
      } catch (err) {
        // A failed connect must be retried by the next send, not cached.
        this.#connected = undefined;
        // Callers already resolved are unaffected (a settled promise ignores reject).
        for (const g of group) g.reject(err);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A send in flight to a broker that is down retries for longer than a shutdown may take: what it
    // has not had acknowledged, its callers never saw acknowledged either, so nothing is lost.
    await withDeadline(
      (async () => {
        await this.#running?.catch(() => {});
        if (this.#connected) await this.#connected.then(() => this.#p.disconnect()).catch(() => {});
      })(),
    );
  }
}

/** How long closing a client may take: a broker that is down must not hold a shutdown past its budget. */
const CLOSE_DEADLINE_MS = 4_000;

/** Waits for `p`, but no longer than `ms`: what it was still doing is abandoned (and safe to be). */
export async function withDeadline(p: Promise<unknown>, ms = CLOSE_DEADLINE_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.then(() => {}), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

export class Consumer {
  readonly #c: KConsumer;
  #connected = false;

  constructor(c: KConsumer) {
    this.#c = c;
  }

  /**
   * Consumes whole batches. With `autoCommit` off, nothing is committed unless the caller commits
   * (or stores offsets elsewhere); the batch's offsets are still resolved so fetching moves on.
   */
  async run(opts: {
    topics: readonly string[];
    fromBeginning?: boolean;
    autoCommit?: boolean;
    partitionsConsumedConcurrently?: number;
    eachBatch: (batch: Batch) => Promise<void>;
    onAssign?: (assignment: Record<string, number[]>) => void;
  }): Promise<void> {
    if (!this.#connected) {
      await this.#c.connect();
      this.#connected = true;
    }
    if (opts.onAssign) {
      const onAssign = opts.onAssign;
      this.#c.on(this.#c.events.GROUP_JOIN, (e) => onAssign(e.payload.memberAssignment));
    }
    await this.#c.subscribe({ topics: [...opts.topics], fromBeginning: opts.fromBeginning ?? true });
    await this.#c.run({
      autoCommit: opts.autoCommit ?? true,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1,
      eachBatch: async (p: EachBatchPayload) => {
        const { topic, partition } = p.batch;
        await opts.eachBatch({
          topic,
          partition,
          highWatermark: BigInt(p.batch.highWatermark),
          records: p.batch.messages.map((m) => toInRecord(topic, partition, m)),
          heartbeat: p.heartbeat,
          isRunning: p.isRunning,
          isStale: p.isStale,
        });
      },
    });
  }

  /** Called when the consumer crashes; `restarting` tells whether kafkajs restarts it by itself. */
  onCrash(fn: (error: Error, restarting: boolean) => void): void {
    this.#c.on(this.#c.events.CRASH, (e) => fn(e.payload.error, e.payload.restart));
  }

  seek(topic: string, partition: number, offset: bigint): void {
    this.#c.seek({ topic, partition, offset: offset.toString() });
  }

  async commit(offsets: readonly { topic: string; partition: number; offset: bigint }[]): Promise<void> {
    await this.#c.commitOffsets(offsets.map((o) => ({ ...o, offset: o.offset.toString() })));
  }

  pause(topic: string, partitions?: number[]): void {
    this.#c.pause([{ topic, ...(partitions ? { partitions } : {}) }]);
  }

  resume(topic: string, partitions?: number[]): void {
    this.#c.resume([{ topic, ...(partitions ? { partitions } : {}) }]);
  }

  async close(): Promise<void> {
    if (!this.#connected) return;
    this.#connected = false;
    // Leaving the group needs the broker; without it, its session timeout frees the partitions.
    await withDeadline(this.#c.disconnect().catch(() => {}));
  }
}
