import { existsSync } from 'node:fs';
import path from 'node:path';

function findProjectRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

/** The folder holding package.json, whether we run from src/ (type stripping) or dist/. */
export const projectRoot = findProjectRoot(import.meta.dirname);
/** Git-ignored home of downloaded jars, templates and per-run data. */
export const infraDir = path.join(projectRoot, '.infra');
export const runsDir = path.join(infraDir, 'run');
export const watchdogScript = path.join(projectRoot, 'infra', 'with-parent.sh');
