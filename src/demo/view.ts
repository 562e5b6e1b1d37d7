import type pg from 'pg';
import type { Runtime } from '../app/runtime.ts';
import { type EndpointName, tableName } from '../kombo/endpoints.ts';
import type { Simulator } from '../sim/index.ts';
import { quoteIdent } from '../state/migrate.ts';
import type { KafkaClient } from '../topics/kafka.ts';
import { recordTopic } from '../topics/names.ts';

export interface ViewDeps {
  kafka: KafkaClient;
  pool: pg.Pool;
  prefix: string;
  sinkSchema: string;
  endpoints: readonly EndpointName[];
  runtime: Runtime;
  sim?: Simulator;
  startedAt: number;
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);
const ago = (ms: number | null) =>
  ms === null
    ? '-'
    : ms < 1_000
      ? `${ms} ms`
      : ms < 60_000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${Math.round(ms / 60_000)} min`;

/** One screen: records per topic, rows per table, freshness, lag, and recent webhooks. */
export async function renderView(d: ViewDeps): Promise<string> {
  const lines: string[] = [];
  const elapsed = Math.round((Date.now() - d.startedAt) / 1000);
  const sim = d.sim?.core;
  const acked = sim?.webhooks.acknowledged().length ?? 0;
  const dropped = sim ? [...sim.webhooks.records.values()].filter((r) => r.state === 'dropped').length : 0;
  const lag = (await d.runtime.deps.metrics.getSingleMetric('kombo_stream_sink_lag_records')?.get())?.values ?? [];
  const dead =
    (await d.runtime.deps.metrics.getSingleMetric('kombo_stream_sink_dead_letters_total')?.get())?.values.reduce(
      (n, v) => n + v.value,
      0,
    ) ?? 0;
  lines.push(
    `kombo-stream demo   ${Math.floor(elapsed / 60)}:${String(elapsed % 60).padStart(2, '0')} elapsed   connector ${d.runtime.url}   Ctrl-C to stop and verify`,
    `webhooks acknowledged ${acked}${dropped ? ` (+${dropped} dropped by fault injection)` : ''}   health ${Object.entries(
      d.runtime.health(),
    )
      .map(([r, h]) => `${r}:${h.state}`)
      .join(' ')}   sink dead letters ${dead}`,
    '',
    `${pad('endpoint', 24)}${lpad('topic records', 14)}${lpad('sink rows', 11)}${lpad('deleted', 9)}${lpad('newest row', 13)}${lpad('lag', 7)}`,
  );
  for (const ep of d.endpoints) {
    const topic = recordTopic(d.prefix, ep);
    let records = 0n;
    for (const o of (await d.kafka.endOffsets(topic).catch(() => new Map<number, bigint>())).values()) records += o;
    const r = await d.pool
      .query<{ n: string; deleted: string; newest: Date | null }>(
        `SELECT count(*) AS n, count(_kombo_deleted_at) AS deleted, max(_kombo_synced_at) AS newest FROM ${quoteIdent(d.sinkSchema)}.${quoteIdent(tableName(ep))}`,
      )
      .catch(() => ({ rows: [{ n: '-', deleted: '-', newest: null }] }));
    const row = r.rows[0] ?? { n: '-', deleted: '-', newest: null };
    const l = lag.filter((v) => v.labels.topic === topic).reduce((n, v) => n + v.value, 0);
    lines.push(
      `${pad(ep, 24)}${lpad(records.toString(), 14)}${lpad(row.n, 11)}${lpad(row.deleted, 9)}${lpad(ago(row.newest ? Date.now() - row.newest.getTime() : null), 13)}${lpad(l, 7)}`,
    );
  }
  if (sim) {
    lines.push('', 'recent webhooks:');
    for (const w of [...sim.webhooks.records.values()].slice(-5)) {
      const body = JSON.parse(w.body) as {
        data: { integration_id?: string; id?: string; changed_models?: { name: string }[] };
      };
      const models = body.data.changed_models?.map((m) => m.name).join(', ') ?? '';
      lines.push(
        `  ${w.state.padEnd(12)} ${w.type.padEnd(20)} ${body.data.integration_id ?? body.data.id ?? ''} ${models}`,
      );
    }
  }
  return lines.join('\n');
}
