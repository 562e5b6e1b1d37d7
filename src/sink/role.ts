import { Counter, Gauge, Histogram } from 'prom-client';
import type { RoleDeps, RunningRole } from '../app/role.ts';
import { errorCode, isRetriable, KomboStreamError } from '../errors.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { inTransaction } from '../state/pool.ts';
import type { Batch, InRecord, OutRecord } from '../topics/kafka.ts';
import { dlqTopic, groupId, recordTopic } from '../topics/names.ts';
import { deadLetterHeaders, H, type RecordOp } from '../topics/records.ts';
import { type RecordSchema, readValueSchema } from '../topics/schemas.ts';
import { topicSpecs } from '../topics/topology.ts';
import { ensureFreshness, FreshnessWriter } from './freshness.ts';
import { ensureHistory, HistoryWriter } from './history.ts';
import { tableLayout } from './layout.ts';
import { SinkOffsets } from './offsets.ts';
import { reduceBatch, type SinkRecord } from './reduce.ts';
import { ensureTable } from './tables.ts';
import { applyIsolating, TableWriter } from './writer.ts';

/** The history table refused a whole batch: tried again, never dead-lettered. */
export class SinkHistoryError extends KomboStreamError {
  constructor(endpoint: string, cause: Error) {
    super('KS_ERR_SINK_HISTORY', `${endpoint}: the history table refused a whole batch (${cause.message})`, {
      retriable: true,
      cause,
    });
  }
}

export interface SinkOptions {
  /** Where table layouts come from; the schema files by default. */
  schemaFor?: (endpoint: EndpointName) => RecordSchema;
  /** How often schema files are re-read for added fields. */
  schemaRefreshMs?: number;
  maxWaitTimeInMs?: number;
  /** Smaller fetches make smaller batches (tests). */
  maxBytesPerPartition?: number;
  /** Test hook: runs after a batch's database commit, before Kafka learns of it. */
  afterDbCommit?: (batch: { topic: string; partition: number; lastOffset: bigint }) => Promise<void>;
}

const OPS: readonly string[] = ['upsert', 'delete', 'tombstone', 'purge', 'heal'];

/**
 * The sink role: record topics -> Postgres tables. Per batch and table, the last version per key
 * wins and rows are written in bulk; the partition's next offset is stored in the same transaction
 * (invariant 4), and a batch's records below the stored offset are skipped, so a crash anywhere
 * neither duplicates nor loses a write. Poison records are isolated and dead-lettered.
 */
export async function startSink(deps: RoleDeps, opts: SinkOptions = {}): Promise<RunningRole> {
  const { config, logger } = deps;
  const log = logger.child({ role: 'sink' });
  const sinkSchema = config.postgres.sinkSchema;
  const offsets = new SinkOffsets(deps.pool, config.postgres.stateSchema);
  const schemaFor = opts.schemaFor ?? readValueSchema;
  const topics = topicSpecs(config);
  await deps.kafka.ensureTopics([topics.dlq, ...topics.records.values()]);
  const byTopic = new Map<string, EndpointName>(
    config.kombo.endpoints.map((e) => [recordTopic(config.kafka.topicPrefix, e), e]),
  );
  interface Writers {
    writer: TableWriter;
    history: HistoryWriter | undefined;
    print: string;
  }
  const writers = new Map<EndpointName, Writers>();

  const refresh = async (endpoint: EndpointName) => {
    const layout = tableLayout(endpoint, schemaFor(endpoint));
    const print = JSON.stringify(layout.fields);
    if (writers.get(endpoint)?.print === print) return;
    const added = await ensureTable(deps.pool, sinkSchema, layout);
    const keepsHistory = config.sink.history.includes(endpoint);
    if (keepsHistory) await ensureHistory(deps.pool, sinkSchema, layout);
    if (added.length && writers.has(endpoint))
      log.info({ table: layout.table, added }, 'schema gained fields: columns added');
    writers.set(endpoint, {
      writer: new TableWriter(sinkSchema, layout),
      history: keepsHistory ? new HistoryWriter(sinkSchema, layout) : undefined,
      print,
    });
  };
  for (const e of config.kombo.endpoints) await refresh(e);
  await ensureFreshness(deps.pool, sinkSchema, config.postgres.stateSchema);
  const freshness = new FreshnessWriter(sinkSchema);

  const rows = new Counter({
    name: 'kombo_stream_sink_rows_total',
    help: 'Rows written, by table and action',
    labelNames: ['table', 'action'],
    registers: [deps.metrics],
  });
  const batchSeconds = new Histogram({
    name: 'kombo_stream_sink_batch_seconds',
    help: 'Batch write latency (decode, transaction, commit)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [deps.metrics],
  });
  const lag = new Gauge({
    name: 'kombo_stream_sink_lag_records',
    help: 'Records behind the end of each partition',
    labelNames: ['topic', 'partition'],
    registers: [deps.metrics],
  });
  const deadLetters = new Counter({
    name: 'kombo_stream_sink_dead_letters_total',
    help: 'Records dead-lettered',
    labelNames: ['code'],
    registers: [deps.metrics],
  });
  const producer = deps.kafka.producer();

  const dlqRecord = (r: InRecord, code: string, message: string): OutRecord => ({
    key: r.key,
    value: r.value,
    headers: {
      ...r.headers,
      ...deadLetterHeaders({ code, message, role: 'sink', topic: r.topic, partition: r.partition, offset: r.offset }),
    },
  });

  const decode = async (endpoint: EndpointName, r: InRecord): Promise<SinkRecord> => {
    if (!r.key) throw Object.assign(new Error('record has no key'), { code: 'KS_ERR_SINK_NO_KEY' });
    const key = await deps.serde.decodeKey(endpoint, r.key);
    const value = r.value ? await deps.serde.decodeValue(endpoint, r.value) : null;
    const fetchedAt = r.headers[H.fetchedAt];
    if (!fetchedAt || Number.isNaN(Date.parse(fetchedAt)))
      throw Object.assign(new Error(`missing or bad ${H.fetchedAt} header`), { code: 'KS_ERR_SINK_BAD_HEADER' });
    if (value && value.id !== key.id)
      throw Object.assign(new Error('value id differs from key id'), { code: 'KS_ERR_SINK_KEY_MISMATCH' });
    const op = (OPS.includes(r.headers[H.op] ?? '') ? r.headers[H.op] : value ? 'upsert' : 'tombstone') as RecordOp;
    return {
      integrationId: key.integration_id,
      id: key.id,
      value,
      fetchedAt,
      op,
      contentHash: r.headers[H.contentHash] ?? null,
      partition: r.partition,
      offset: BigInt(r.offset),
    };
  };

  const group = groupId(config.kafka.topicPrefix, 'sink');
  const writeBatch = async (batch: Batch) => {
    const endpoint = byTopic.get(batch.topic);
    if (!endpoint || batch.records.length === 0) return;
    const end = batchSeconds.startTimer();
    const last = BigInt(batch.records.at(-1)?.offset ?? '0');
    try {
      const written = await inTransaction(deps.pool, async (client) => {
        const next = await offsets.claim(client, group, batch.topic, batch.partition);
        const fresh = batch.records.filter((r) => BigInt(r.offset) >= next);
        if (fresh.length === 0) return undefined;
        const poison: OutRecord[] = [];
        const decoded: SinkRecord[] = [];
        const origin = new Map<bigint, InRecord>();
        for (const r of fresh) {
          origin.set(BigInt(r.offset), r);
          try {
            decoded.push(await decode(endpoint, r));
          } catch (err) {
            // The registry being unreachable is no record's fault: the batch rolls back and is tried
            // again. Only a record that truly cannot be decoded is poison.
            if (isRetriable(err)) throw err;
            poison.push(dlqRecord(r, errorCode(err), (err as Error).message));
          }
        }
        const { writer, history } = writers.get(endpoint) as Writers;
        const actions = reduceBatch(decoded, config.sink.deleteMode);
        // Before the table's rows change: the only version of a record that this batch follows is
        // kept from its row. The history table refusing that is its fault, as below.
        await history?.prepare(client, decoded).catch((err: Error) => {
          throw new SinkHistoryError(endpoint, err);
        });
        const failures = await applyIsolating(client, actions, (c, a) => writer.apply(c, a));
        const refused = new Set(failures.map((f) => f.item.record.offset));
        // Every version of the batch goes to the history, but those the table refused (dead-lettered);
        // an older version the history refuses is as poison as for the table (same columns). The
        // history refusing a record the table took is the history table's fault (altered by hand,
        // say), not the record's: the batch is tried again, with the sink's lag showing it.
        const written = new Set(actions.filter((a) => !refused.has(a.record.offset)).map((a) => a.record.offset));
        const versions = history
          ? await applyIsolating(
              client,
              decoded.filter((r) => !refused.has(r.offset)),
              (c, rs) => history.apply(c, rs, written),
            )
          : [];
        const blamed = versions.find((v) => written.has(v.item.offset));
        if (blamed) throw new SinkHistoryError(endpoint, blamed.error);
        for (const f of [
          ...failures.map((x) => ({ record: x.item.record, error: x.error })),
          ...versions.map((x) => ({ record: x.item, error: x.error })),
        ]) {
          const r = origin.get(f.record.offset) as InRecord;
          poison.push(
            dlqRecord(
              r,
              (f.error as { code?: string }).code ? `PG_${(f.error as { code?: string }).code}` : 'KS_ERR_SINK_WRITE',
              f.error.message,
            ),
          );
        }
        // Dead letters are acknowledged before the offset moves past them: a crash repeats, never loses.
        if (poison.length) {
          await producer.send(dlqTopic(config.kafka.topicPrefix), poison);
          for (const p of poison) deadLetters.inc({ code: p.headers?.['kombo-error-code'] ?? 'unknown' });
          log.warn(
            { topic: batch.topic, partition: batch.partition, count: poison.length },
            'poison records dead-lettered',
          );
        }
        // Last before the offset: the entries it locks (shared by every partition of the topic that
        // carries the integration) are held only until the commit.
        await freshness.record(
          client,
          endpoint,
          actions.filter((a) => !refused.has(a.record.offset)),
        );
        await offsets.advance(client, group, batch.topic, batch.partition, last + 1n);
        return { actions, failures };
      });
      if (!written) return;
      const { actions, failures } = written;
      const table = writers.get(endpoint)?.writer.layout.table ?? endpoint;
      const failed = new Set(failures.map((f) => f.item));
      for (const a of actions)
        if (!failed.has(a))
          rows.inc({
            table,
            action: a.kind === 'upsert' ? (a.deleted ? 'soft_delete' : 'upsert') : a.hard ? 'delete' : 'soft_delete',
          });
      lag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(batch.highWatermark - (last + 1n)));
      await opts.afterDbCommit?.({ topic: batch.topic, partition: batch.partition, lastOffset: last });
    } finally {
      end();
    }
  };

  const consumer = deps.kafka.consumer({
    groupId: group,
    maxWaitTimeInMs: opts.maxWaitTimeInMs ?? 500,
    maxBytesPerPartition: opts.maxBytesPerPartition ?? 8 * 1024 * 1024,
  });
  let state: 'starting' | 'ok' | 'failed' = 'starting';
  consumer.onCrash((err, restarting) => {
    log.error({ err, restarting }, 'sink consumer crashed');
    if (!restarting) state = 'failed';
  });
  await consumer.run({
    topics: [...byTopic.keys()],
    partitionsConsumedConcurrently: config.sink.concurrency,
    eachBatch: async (batch) => {
      await writeBatch(batch);
      await batch.heartbeat();
    },
  });
  const timer = setInterval(() => {
    for (const e of config.kombo.endpoints)
      refresh(e).catch((err) => log.error({ err, endpoint: e }, 'schema refresh failed'));
  }, opts.schemaRefreshMs ?? 60_000);
  state = 'ok';
  return {
    role: 'sink',
    health: () => ({ state }),
    async stop() {
      clearInterval(timer);
      await consumer.close();
      await producer.close();
    },
  };
}
