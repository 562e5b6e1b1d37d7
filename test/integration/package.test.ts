import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/localstack/paths.ts';
import { spawnNode } from '../helpers/child.ts';

const run = promisify(execFile);
// The Node this project runs on first on PATH, as for an operator who installed it.
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
let dir: string;
let bin: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ks-pack-'));
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: projectRoot, env });
  const tarball = path.join(dir, stdout.trim().split('\n').at(-1) ?? '');
  await run('npm', ['install', '--global', '--prefix', path.join(dir, 'prefix'), '--no-audit', '--no-fund', tarball], {
    env,
  });
  bin = path.join(dir, 'prefix', 'bin', 'kombo-stream');
}, 300_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the installed command', () => {
  it('answers --version and doctor --help without any warning', async () => {
    const version = await run(bin, ['--version'], { env });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(version.stderr).toBe('');
    const help = await run(bin, ['doctor', '--help'], { env });
    expect(help.stdout).toMatch(/Usage: kombo-stream doctor/);
    expect(help.stderr).toBe('');
  });

  it('runs the bundled simulator', async () => {
    const sim = spawnNode([
      path.join(dir, 'prefix', 'lib', 'node_modules', 'kombo-stream', 'dist', 'cli.js'),
      'sim',
      '--port',
      '0',
    ]);
    try {
      await sim.waitFor(/Kombo simulator on http/, 30_000);
      expect(sim.output()).not.toMatch(/Warning/);
    } finally {
      sim.proc.kill('SIGTERM');
      await sim.exited;
    }
  });

  it('on a Node older than it needs, says so and exits non-zero', async () => {
    // The machine's own Node (20 on these machines); without an older one there is nothing to try.
    const old = '/usr/bin/node';
    if (!existsSync(old)) return;
    if (Number((await run(old, ['-p', "process.versions.node.split('.')[0]"])).stdout.trim()) >= 22) return;
    const cli = path.join(dir, 'prefix', 'lib', 'node_modules', 'kombo-stream', 'dist', 'cli.js');
    const r = await run(old, [cli, '--help']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/kombo-stream needs Node\.js 22\.18 or later/);
  });
});
