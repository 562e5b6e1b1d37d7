import { parseArgs } from 'node:util';
import { stopSignal } from '../app/signals.ts';
import { startLocalStack } from './stack.ts';

/**
 * `kombo-stream stack`: runs the local stack in the foreground and prints the settings that point
 * the connector (or a test run) at it. Ctrl-C stops everything.
 */
export async function runStack(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'no-postgres': { type: 'boolean', default: false },
      registry: { type: 'boolean', default: false },
      'kafka-port': { type: 'string' },
      'postgres-port': { type: 'string' },
      'registry-port': { type: 'string' },
    },
  });
  const port = (v: string | undefined) => (v === undefined ? {} : { port: Number(v) });
  // Taken before starting: a Ctrl-C during start-up still stops what did start.
  const stop = stopSignal();
  const stack = await startLocalStack({
    label: 'stack',
    kafka: port(values['kafka-port']),
    postgres: values['no-postgres'] ? false : port(values['postgres-port']),
    registry: values.registry ? port(values['registry-port']) : false,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const lines = [
    stack.kafka && `export KAFKA_BROKERS=${stack.kafka.brokers}`,
    stack.postgres && `export DATABASE_URL=${stack.postgres.url}`,
    stack.registry && `export SCHEMA_REGISTRY_URL=${stack.registry.url}`,
  ].filter(Boolean);
  process.stdout.write(`${lines.join('\n')}\n# running; Ctrl-C stops the stack and deletes its data\n`);
  await stop.received;
  await stack.stop();
  return 0;
}
