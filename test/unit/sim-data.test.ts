import { describe, expect, it } from 'vitest';
import { SimulatorCore } from '../../src/sim/simulator.ts';

describe('simulated data', () => {
  const core = new SimulatorCore({
    seed: 11,
    integrations: [
      { category: 'HRIS', size: 3000 },
      { category: 'ATS', size: 3000 },
    ],
  });
  const [hris, ats] = core.integrations().map((i) => i.id) as [string, string];
  const ids = (ep: Parameters<typeof core.truth>[1], i: string) =>
    new Set(core.truth(i, ep).map((r) => r.id as string));

  it('is deterministic for a seed (apart from wall-clock timestamps)', () => {
    const again = new SimulatorCore({ seed: 11, integrations: [{ category: 'HRIS', size: 3000 }] });
    expect(again.integrations()[0]?.id).toBe(hris);
    const timeless = (records: Record<string, unknown>[]) =>
      JSON.stringify(records.slice(0, 50)).replace(/"\d{4}-\d{2}-\d{2}T[\d:.]+Z"/g, '"T"');
    expect(timeless(again.truth(hris, 'hris/employees'))).toBe(timeless(core.truth(hris, 'hris/employees')));
  });

  it('keeps HRIS references consistent', () => {
    const employees = ids('hris/employees', hris);
    const locations = ids('hris/locations', hris);
    const types = ids('hris/absence-types', hris);
    for (const e of core.truth(hris, 'hris/employees') as any[]) {
      if (e.manager_id) expect(employees.has(e.manager_id)).toBe(true);
      if (e.work_location_id) expect(locations.has(e.work_location_id)).toBe(true);
      for (const emp of e.employments) expect(emp.employee_id).toBe(e.id);
    }
    for (const a of core.truth(hris, 'hris/absences') as any[]) {
      expect(employees.has(a.employee_id)).toBe(true);
      expect(types.has(a.type_id)).toBe(true);
    }
    expect(ids('hris/employees', hris).size).toBe(3000);
  });

  it('keeps ATS references consistent and ids unique per model', () => {
    const candidates = ids('ats/candidates', ats);
    const jobs = ids('ats/jobs', ats);
    const apps = core.truth(ats, 'ats/applications') as any[];
    expect(new Set(apps.map((a) => a.id)).size).toBe(apps.length);
    for (const a of apps) {
      expect(candidates.has(a.candidate_id)).toBe(true);
      expect(jobs.has(a.job_id)).toBe(true);
    }
    for (const c of core.truth(ats, 'ats/candidates') as any[])
      for (const a of c.applications) expect(apps.some((x) => x.id === a.id)).toBe(true);
  });
});
