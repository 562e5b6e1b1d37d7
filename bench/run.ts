/**
 * `npm run bench`: every bench/*.bench.ts in one run, one table. Each row sets our figure beside a
 * baseline and a limit measured in the same run, so ratios mean something on any machine. Results
 * are also written to bench/results/<timestamp>.json so a regression shows.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { signalExitCode, stopSignal } from '../src/app/signals.ts';
import { startLocalStack } from '../src/localstack/stack.ts';
import type { BenchModule, BenchRow } from './types.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const env = process.env;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
// Ours: a signal stops the stack the benchmarks run on, then exits non-zero (no results).
const signal = stopSignal();
const stack = await startLocalStack({ label: 'bench', kafka: !env.KAFKA_BROKERS, postgres: !env.DATABASE_URL, log });
void signal.received.then(async (s) => {
  log(`${s}: stopping`);
  await stack.stop();
  process.exit(signalExitCode(s));
});
const brokers = (env.KAFKA_BROKERS ?? stack.kafka?.brokers ?? '').split(',');
const databaseUrl = env.DATABASE_URL ?? stack.postgres?.url ?? '';
const files = (await readdir(import.meta.dirname))
  .filter((f) => f.endsWith('.bench.ts') && (!values.only || f.startsWith(values.only)))
  .sort();
const rows: BenchRow[] = [];
try {
  for (const f of files) {
    const mod = (await import(path.join(import.meta.dirname, f))).default as BenchModule;
    log(`running ${mod.name}${values.quick ? ' (quick)' : ''}`);
    rows.push(
      ...(await mod.run({
        brokers,
        databaseUrl,
        quick: values.quick,
        log,
        ...(env.SCHEMA_REGISTRY_URL ? { schemaRegistryUrl: env.SCHEMA_REGISTRY_URL } : {}),
      })),
    );
  }
} finally {
  await stack.stop();
  signal.dispose();
}

const fmt = (n: number | undefined) =>
  n === undefined ? '' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}x` : '');
const head = [
  'benchmark',
  'metric',
  'ours',
  'baseline',
  'vs baseline',
  'limit',
  'vs limit',
  'peer',
  'vs peer',
  'goal',
  'met',
  'peak RSS MiB',
];
const body = rows.map((r) => [
  r.name,
  `${r.metric} (${r.unit})`,
  fmt(r.ours),
  r.baseline ? `${fmt(r.baseline.value)} ${r.baseline.name}` : '',
  ratio(r.ours, r.baseline?.value),
  r.limit ? `${fmt(r.limit.value)} ${r.limit.name}` : '',
  ratio(r.ours, r.limit?.value),
  r.peer
    ? `${fmt(r.peer.value)} ${r.peer.name}${r.peer.peakRssMiB === undefined ? '' : ` (peak RSS ${fmt(r.peer.peakRssMiB)} MiB)`}`
    : '',
  ratio(r.ours, r.peer?.value),
  r.goal ?? '',
  r.goalMet === undefined ? '' : r.goalMet ? 'yes' : 'NO',
  r.peakRssMiB === undefined ? '' : fmt(r.peakRssMiB),
]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
process.stdout.write(`${[line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n')}\n`);
const file = path.join(
  import.meta.dirname,
  'results',
  `${new Date().toISOString().replace(/[:.]/g, '-')}${values.quick ? '-quick' : ''}.json`,
);
await writeFile(
  file,
  `${JSON.stringify({ at: new Date().toISOString(), quick: values.quick, node: process.version, rows }, null, 2)}\n`,
);
log(`results written to ${path.relative(process.cwd(), file)}`);
