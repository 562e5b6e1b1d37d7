import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { projectRoot } from '../../src/localstack/paths.ts';

describe('npm run demo, short mode', () => {
  it('runs the whole pipeline end to end and its truth check passes', async () => {
    const out: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const proc = spawn(
        process.execPath,
        [
          '--disable-warning=TimeoutNegativeWarning',
          path.join(projectRoot, 'src/cli.ts'),
          'demo',
          '--short',
          '--integrations',
          '2',
          '--records',
          '60',
          '--duration',
          '12s',
        ],
        {
          env: {
            ...process.env,
            KAFKA_BROKERS: inject('KAFKA_BROKERS'),
            DATABASE_URL: inject('DATABASE_URL'),
            KAFKAJS_NO_PARTITIONER_WARNING: '1',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      proc.stdout.on('data', (c: Buffer) => out.push(c.toString()));
      proc.stderr.on('data', (c: Buffer) => out.push(c.toString()));
      proc.on('exit', resolve);
    });
    const text = out.join('');
    expect(text).toMatch(
      /verdict: OK: Postgres equals the simulator's truth \(\d+ records in 2 integrations: 0 missing, 0 stale, 0 extra\)/,
    );
    expect(code).toBe(0);
  }, 180_000);
});
