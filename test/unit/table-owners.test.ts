import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/localstack/paths.ts';

// Every table of the connector's state has one owner module, the only code that reads or writes it
// and the keeper of its rules; migrations create it. A second module querying it would be how one
// rule came to be applied differently in several places.
const OWNERS: Record<string, string> = {
  integrations: 'src/state/store.ts',
  endpoint_state: 'src/state/store.ts',
  record_index: 'src/state/record-index.ts',
  fetch_runs: 'src/state/fetch-runs.ts',
  fetch_generation: 'src/state/fetch-runs.ts',
  drift_runs: 'src/drift/store.ts',
  drift_alerts: 'src/drift/store.ts',
  sink_offsets: 'src/sink/offsets.ts',
  schedules: 'src/planner/schedules.ts',
  planner_events: 'src/planner/events.ts',
  integration_lifecycle: 'src/integrations/store.ts',
  rate_budget: 'src/state/rate-budget.ts',
};

// Views the state schema publishes for another part: created by a migration over its owner's table
// only, and read by the named modules only (the sink's kombo_freshness view reads this one, never
// endpoint_state itself).
const PUBLISHED: Record<string, { over: string; readers: string[] }> = {
  endpoint_freshness: { over: 'endpoint_state', readers: ['src/sink/freshness.ts'] },
};

// Tables the sink keeps in the sink schema beside the endpoints' own (which src/sink/tables.ts and
// writer.ts own): one owner each, too.
const SINK_OWNERS: Record<string, string> = {
  _kombo_freshness: 'src/sink/freshness.ts',
};

const sources = (dir: string): string[] =>
  readdirSync(path.join(projectRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );

describe('table owners', () => {
  const files = sources('src').map((f) => ({ f, text: readFileSync(path.join(projectRoot, f), 'utf8') }));
  it('knows every table the migrations create', () => {
    const migrations = files.find((x) => x.f === 'src/state/migrations.ts')?.text ?? '';
    const created = [...migrations.matchAll(/CREATE (?:TABLE|SEQUENCE) \{\{schema\}\}\.(\w+)/g)].map((m) => m[1]);
    expect(created.sort()).toEqual(Object.keys(OWNERS).sort());
  });
  it('knows every view the migrations create, each over its owner table alone', () => {
    const migrations = files.find((x) => x.f === 'src/state/migrations.ts')?.text ?? '';
    const views = [...migrations.matchAll(/CREATE (?:OR REPLACE )?VIEW \{\{schema\}\}\.(\w+) AS([^;]*);/g)];
    expect(views.map((m) => m[1]).sort()).toEqual(Object.keys(PUBLISHED).sort());
    for (const [, view, body] of views) {
      const reads = [...(body ?? '').matchAll(/\{\{schema\}\}\.(\w+)/g)].map((m) => m[1]);
      expect(reads, view).toEqual([PUBLISHED[view as string]?.over]);
    }
  });
  for (const [view, { readers }] of Object.entries(PUBLISHED)) {
    it(`${view} is read only by ${readers.join(', ')}`, () => {
      const uses = files.filter((x) => new RegExp(`\\}\\.${view}\\b`).test(x.text)).map((x) => x.f);
      expect(uses.filter((f) => f !== 'src/state/migrations.ts').sort()).toEqual([...readers].sort());
    });
  }
  for (const [table, owner] of Object.entries(SINK_OWNERS)) {
    it(`${table} (sink schema) is read and written only by ${owner}`, () => {
      const uses = files.filter((x) => new RegExp(`\\}\\.${table}\\b`).test(x.text)).map((x) => x.f);
      expect(uses).toEqual([owner]);
    });
  }
  for (const [table, owner] of Object.entries(OWNERS)) {
    it(`${table} is read and written only by ${owner}`, () => {
      // SQL names state tables as `${schema}.table`.
      const uses = files.filter((x) => new RegExp(`\\}\\.${table}\\b`).test(x.text)).map((x) => x.f);
      expect(uses.filter((f) => f !== 'src/state/migrations.ts')).toEqual([owner]);
    });
  }
});
