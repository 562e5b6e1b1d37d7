#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, loadConfig } from './config/config.ts';
import { KomboStreamError } from './errors.ts';
import { projectRoot } from './localstack/paths.ts';

const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };

interface Command {
  summary: string;
  usage: string;
  run(args: string[], ctx: { env: NodeJS.ProcessEnv; config: (file?: string) => Config }): Promise<number | undefined>;
}

/** Sub-commands register here; each lives in its own module and is loaded only when used. */
const commands: Record<string, Command> = {
  start: {
    summary: 'run the connector (every role by default)',
    usage: 'kombo-stream start [--role all|ingress|planner|fetcher|sink] [--config FILE]',
    async run(args, ctx) {
      const { values } = parseArgs({
        args,
        options: { role: { type: 'string', default: 'all' }, config: { type: 'string' } },
      });
      const config = ctx.config(values.config);
      const { runStart } = await import('./app/start.ts');
      return runStart(config, { role: values.role ?? 'all' });
    },
  },
  demo: {
    summary: 'run the whole pipeline against the simulator on a local stack, then verify it',
    usage: 'kombo-stream demo [--duration 60s] [--short] [--integrations N] [--records N] [--changes-per-sec R]',
    async run(args, ctx) {
      const { runDemo } = await import('./demo/run.ts');
      return runDemo(args, ctx.env);
    },
  },
  doctor: {
    summary:
      'check the configuration and that Kafka, Postgres, the Schema Registry and Kombo can be reached (read-only)',
    usage: 'kombo-stream doctor [--config FILE]',
    async run(args, ctx) {
      const { runDoctor } = await import('./app/doctor.ts');
      return runDoctor(args, ctx.env);
    },
  },
  status: {
    summary:
      'per integration and endpoint: fetches, freshness, records, errors, dead letters, drift alerts; consumer lag',
    usage: 'kombo-stream status [--integration ID] [--json] [--config FILE]',
    async run(args, ctx) {
      const { runStatus } = await import('./app/status-cli.ts');
      return runStatus(args, ctx.config);
    },
  },
  integrations: {
    summary: 'onboard integrations that exist at Kombo (add), or list what the connector knows',
    usage:
      'kombo-stream integrations add <id>... [--from-file FILE] [--config FILE] | integrations list [--json] [--config FILE]',
    async run(args, ctx) {
      const { runIntegrations } = await import('./integrations/cli.ts');
      return runIntegrations(args, ctx.config);
    },
  },
  sync: {
    summary: 'queue a manual delta (or --full) sync of an integration',
    usage: 'kombo-stream sync <integration> [--full] [--endpoint hris/employees]... [--config FILE]',
    async run(args, ctx) {
      const { runSync } = await import('./planner/cli.ts');
      return runSync(args, ctx.config);
    },
  },
  drift: {
    summary: 'drift compaction: run a pass now, show reports, confirm a blocked sweep',
    usage:
      'kombo-stream drift run [--integration ID] | report [--integration ID] [--json] | confirm <integration> <endpoint>',
    async run(args, ctx) {
      const { runDriftCli } = await import('./drift/cli.ts');
      return runDriftCli(args, ctx.config);
    },
  },
  'connect-schema': {
    summary: "print JsonConverter's schema.content lines for a standard Kafka Connect sink (docs/warehouse.md)",
    usage: 'kombo-stream connect-schema <endpoint>',
    async run(args) {
      const { runConnectSchema } = await import('./sink/connect-schema.ts');
      return runConnectSchema(args);
    },
  },
  sim: {
    summary: 'run the bundled Kombo simulator (API, webhooks, faults, ground truth)',
    usage:
      'kombo-stream sim [--port N] [--host ADDR] [--seed N] [--integrations N] [--records N] [--api-key KEY] ' +
      '[--webhook-url URL --webhook-secret SECRET] [--legacy-sync-finished] [--changes-per-sec R] ' +
      '[--sync-duration-ms MS] [--commit-lag-ms MS]',
    async run(args) {
      const { runSim } = await import('./sim/cli.ts');
      return runSim(args);
    },
  },
  stack: {
    summary: 'run the local Kafka, Postgres and Schema Registry (no Docker needed)',
    usage: 'kombo-stream stack [--no-postgres] [--registry] [--kafka-port N] [--postgres-port N] [--registry-port N]',
    async run(args) {
      const { runStack } = await import('./localstack/cli.ts');
      return runStack(args);
    },
  },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    `kombo-stream ${pkg.version}: mirror Kombo's HRIS/ATS API into Kafka and Postgres`,
    '',
    'Usage: kombo-stream <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Options: --help, --version. Configuration comes from the environment and an optional',
    '--config FILE (JSON with the same keys); see the README for every setting.',
  ].join('\n');
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`unknown command "${name}"\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.summary}\n\nUsage: ${command.usage}\n`);
    return 0;
  }
  try {
    return (await command.run(rest, { env, config: (file) => loadConfig({ env, ...(file ? { file } : {}) }) })) ?? 0;
  } catch (err) {
    if (err instanceof KomboStreamError) {
      process.stderr.write(`kombo-stream ${name}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    if (err instanceof TypeError) {
      process.stderr.write(`kombo-stream ${name}: ${err.message}\n\nUsage: ${command.usage}\n`);
      return 2;
    }
    throw err;
  }
}

/** The oldest Node.js this runs on (`import.meta.main`, type stripping, the timers it relies on). */
const NODE_NEEDED = [22, 18] as const;

function nodeTooOld(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major < NODE_NEEDED[0] || (major === NODE_NEEDED[0] && minor < NODE_NEEDED[1]);
}

// Checked before anything else runs: on an older Node the command would otherwise do nothing at all
// (import.meta.main is undefined there) and exit 0.
if (nodeTooOld()) {
  process.stderr.write(
    `kombo-stream needs Node.js ${NODE_NEEDED.join('.')} or later (24 LTS recommended); this is ${process.version}\n`,
  );
  process.exit(1);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2), process.env);
}
