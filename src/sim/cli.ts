import { parseArgs } from 'node:util';
import { stopSignal } from '../app/signals.ts';
import { startSimulator } from './index.ts';
import type { IntegrationSpec } from './simulator.ts';

/** Splits `count` integrations evenly between HRIS and ATS tools, `records` primary records each. */
export function integrationSpecs(count: number, records: number): IntegrationSpec[] {
  return Array.from({ length: count }, (_, k) => ({ category: k % 2 === 0 ? 'HRIS' : 'ATS', size: records }));
}

/** `kombo-stream sim`: a local Kombo for trying the connector; runs until Ctrl-C. */
export async function runSim(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      seed: { type: 'string', default: '42' },
      integrations: { type: 'string', default: '4' },
      records: { type: 'string', default: '100' },
      'api-key': { type: 'string' },
      'webhook-url': { type: 'string' },
      'webhook-secret': { type: 'string' },
      'legacy-sync-finished': { type: 'boolean', default: false },
      'changes-per-sec': { type: 'string', default: '0' },
      'sync-duration-ms': { type: 'string', default: '0' },
      'commit-lag-ms': { type: 'string', default: '0' },
    },
  });
  const num = (name: keyof typeof values) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < 0) throw new TypeError(`--${name} must be a non-negative number`);
    return n;
  };
  if (Boolean(values['webhook-url']) !== Boolean(values['webhook-secret'])) {
    throw new TypeError('--webhook-url and --webhook-secret go together');
  }
  // With a connector to tell, the integrations connect after start, as a customer's would: announced
  // by integration-created webhooks, each followed by its first sync. Without one they exist from
  // the start, for a connector that is told about them by `kombo-stream sync`.
  const specs = integrationSpecs(num('integrations'), num('records'));
  const announce = Boolean(values['webhook-url']);
  const sim = await startSimulator({
    port: num('port'),
    host: values.host,
    seed: num('seed'),
    integrations: announce ? [] : specs,
    syncDurationMs: num('sync-duration-ms'),
    commitLagMs: num('commit-lag-ms'),
    ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
    ...(values['webhook-url'] && values['webhook-secret']
      ? {
          webhook: {
            url: values['webhook-url'],
            secret: values['webhook-secret'],
            legacySyncFinished: values['legacy-sync-finished'],
          },
        }
      : {}),
  });
  for (const spec of announce ? specs : []) await sim.core.createIntegration(spec);
  const rate = num('changes-per-sec');
  if (rate > 0) sim.core.startLiveChanges({ changesPerSec: rate });
  const lines = [
    `Kombo simulator on ${sim.url}`,
    `export KOMBO_API_URL=${sim.url}`,
    `export KOMBO_API_KEY=${sim.apiKey}`,
    ...sim.core.integrations().map((i) => `  ${i.category} ${i.id} (${i.records} records)`),
    `truth: GET ${sim.rootUrl}/sim/truth/<integration>/<category>/<endpoint> (Bearer key); faults: PUT ${sim.rootUrl}/sim/faults`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await stopSignal().received;
  await sim.stop();
  return 0;
}
