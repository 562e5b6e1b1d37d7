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

  it('gives staffing entities and performance reviews the records they name', () => {
    const employees = ids('hris/employees', hris);
    const cycles = ids('hris/performance-review-cycles', hris);
    const positions = core.truth(hris, 'hris/staffing-entities') as any[];
    expect(positions.length).toBeGreaterThan(100);
    const [locations, legal, groups] = (['hris/locations', 'hris/legal-entities', 'hris/groups'] as const).map((ep) =>
      ids(ep, hris),
    ) as [Set<string>, Set<string>, Set<string>];
    for (const p of positions) {
      expect(p.locations.length).toBeGreaterThan(0);
      for (const l of p.locations) expect(locations.has(l.id)).toBe(true);
      for (const l of p.legal_entities) expect(legal.has(l.id)).toBe(true);
      for (const g of p.groups) expect(groups.has(g.id)).toBe(true);
      if (p.parent_id) expect(positions.some((x) => x.id === p.parent_id)).toBe(true);
    }
    const reviews = core.truth(hris, 'hris/performance-reviews') as any[];
    expect(reviews.length).toBeGreaterThan(1000);
    const byId = new Map((core.truth(hris, 'hris/employees') as any[]).map((e) => [e.id, e]));
    for (const r of reviews) {
      expect(employees.has(r.reviewee.id)).toBe(true);
      expect(r.reviewee.display_full_name).toBe(byId.get(r.reviewee.id).display_full_name);
      expect(cycles.has(r.review_cycle.id)).toBe(true);
      if (r.type === 'MANAGER') expect(r.reviewer.id).toBe(byId.get(r.reviewee.id).manager_id);
      if (r.type === 'SELF') expect(r.reviewer.id).toBe(r.reviewee.id);
    }
  });

  it('gives notes, role assignments and rejections the records and names they refer to', () => {
    const roles = core.truth(ats, 'ats/roles') as any[];
    const role = (scope: string, remoteId: string) => roles.find((x) => x.scope === scope && x.remote_id === remoteId);
    for (const u of core.truth(ats, 'ats/users') as any[])
      for (const r of u.system_roles) expect(role('SYSTEM', r.remote_id)?.remote_label).toBe(r.remote_label);
    for (const j of core.truth(ats, 'ats/jobs') as any[])
      for (const m of j.hiring_team)
        for (const r of m.job_roles) expect(role('JOB', r.remote_id)?.unified_type).toBe(r.unified_type);
    const reasons = new Set((core.truth(ats, 'ats/rejection-reasons') as any[]).map((x) => x.name));
    const declined = (core.truth(ats, 'ats/applications') as any[]).filter((a) => a.rejection_reason_name);
    expect(declined.length).toBeGreaterThan(0);
    for (const a of declined) expect(reasons.has(a.rejection_reason_name)).toBe(true);
    const notes = core.truth(ats, 'ats/notes') as any[];
    expect(notes.length).toBeGreaterThan(500);
    const apps = new Map((core.truth(ats, 'ats/applications') as any[]).map((a) => [a.id, a]));
    const [candidates, users] = [ids('ats/candidates', ats), ids('ats/users', ats)];
    for (const n of notes) {
      expect(candidates.has(n.candidate_id)).toBe(true);
      if (n.application_id) expect(apps.get(n.application_id).candidate_id).toBe(n.candidate_id);
      if (n.author_id) expect(users.has(n.author_id)).toBe(true);
      expect(n.author?.id ?? null).toBe(n.author_id);
    }
  });
});
