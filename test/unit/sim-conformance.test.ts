import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../src/kombo/endpoints.ts';
import { randomChange } from '../../src/sim/changes.ts';
import { SimulatorCore } from '../../src/sim/simulator.ts';
import { type SdkFixture, sdkErrors } from '../helpers/sdk-shape.ts';

// Today's Kombo: the record schemas of SDK 1.3.4 (Ruby 1.2.8 for ats/notes), extracted into fixtures
// by test/fixtures/sdk-1.3.4/extract.ts. The 1.1.3 SDK on npm is checked by sim-api.test.ts.
const fixtures = path.join(import.meta.dirname, '../fixtures/sdk-1.3.4');
const fixture = (endpoint: string): SdkFixture =>
  JSON.parse(readFileSync(path.join(fixtures, `${endpoint.replace('/', '.')}.json`), 'utf8')) as SdkFixture;

// Every tool of both categories, then a few hundred random changes applied by a full sync (which
// marks deletions, so remote_deleted_at and the statuses of deleted records are checked too).
const core = new SimulatorCore({
  seed: 5,
  integrations: Array.from({ length: 10 }, (_, k) => ({ category: k < 5 ? 'HRIS' : 'ATS', size: 30 }) as const),
});
for (const { id } of core.integrations()) {
  const i = core.integration(id);
  if (!i) throw new Error(`lost ${id}`);
  core.queue(
    id,
    Array.from({ length: 60 }, () => randomChange(i, core.rng)),
  );
  await core.runSync(id, { type: 'FULL' });
}

describe('simulated records against the SDK 1.3.4 field lists', () => {
  for (const { name, category } of ENDPOINTS) {
    it(`${name}: every required key, nullability and enum constant as the SDK declares them`, () => {
      const { record } = fixture(name);
      const records = core
        .integrations()
        .filter((i) => i.category.toLowerCase() === category)
        .flatMap((i) => core.truth(i.id, name));
      expect(records.length).toBeGreaterThan(0);
      const errors = [...new Set(records.flatMap((r) => sdkErrors(record, r)))];
      expect(errors).toEqual([]);
    });
  }

  it('carries what Kombo added beyond SDK 1.3.4 (kombo-2026-update.md §1)', () => {
    const all = (category: string, endpoint: Parameters<typeof core.truth>[1]) =>
      core
        .integrations()
        .filter((i) => i.category === category)
        .flatMap((i) => core.truth(i.id, endpoint)) as any[];
    const hasKey = (key: string) => (x: Record<string, unknown> | null) => x === null || key in x;
    // Ruby SDK 1.2.7: custom_fields on absence types, wherever they are nested too.
    expect(all('HRIS', 'hris/absence-types').every(hasKey('custom_fields'))).toBe(true);
    expect(all('HRIS', 'hris/absences').every((a) => hasKey('custom_fields')(a.type))).toBe(true);
    expect(all('HRIS', 'hris/time-off-balances').every((b) => hasKey('custom_fields')(b.type))).toBe(true);
    // The full spec: absences' deprecated approver_id, remote_data on jobs' stages and postings.
    expect(all('HRIS', 'hris/absences').every(hasKey('approver_id'))).toBe(true);
    const jobs = all('ATS', 'ats/jobs');
    expect(jobs.flatMap((j) => [...j.stages, ...j.job_postings]).every(hasKey('remote_data'))).toBe(true);
    expect(jobs.some((j) => j.stages.length && j.job_postings.length)).toBe(true);
  });

  it('the check refuses a dropped required key, a null where none is allowed and an unknown enum value', () => {
    const { record } = fixture('ats/application-stages');
    const good = core.truth(
      core.integrations().find((i) => i.category === 'ATS')?.id as string,
      'ats/application-stages',
    )[0] as Record<string, unknown>;
    expect(sdkErrors(record, good)).toEqual([]);
    const { status: _, ...dropped } = good;
    expect(sdkErrors(record, dropped)).toEqual(['$.status: required, missing']);
    expect(sdkErrors(record, { ...good, changed_at: null })).toEqual(['$.changed_at: null, but not nullable']);
    expect(sdkErrors(record, { ...good, status: 'ARCHIVED' })).toEqual([
      '$.status: "ARCHIVED" is none of ACTIVE, INACTIVE',
    ]);
  });
});
