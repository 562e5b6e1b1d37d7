import type { EndpointName } from '../kombo/endpoints.ts';
import {
  addCandidate,
  addEmployee,
  addNote,
  addReview,
  atsRefs,
  hrisRefs,
  jobRelations,
  OWN_MODEL,
  type SimIntegration,
  staffingRelations,
  systemRoles,
} from './integration.ts';
import type { Entity, Relations } from './model.ts';
import type { Rng } from './random.ts';

/**
 * A change in the upstream tool, applied to Kombo's copy by a sync. `id` picks the record; without
 * one a random live record is used.
 */
export type Change =
  | { op: 'create'; endpoint: EndpointName }
  | { op: 'update'; endpoint: EndpointName; id?: string }
  | { op: 'delete'; endpoint: EndpointName; id?: string }
  /** Nested-only changes: the parent's own changed_at does not move. */
  | { op: 'nested'; relation: NestedRelation; id?: string };

export type NestedRelation =
  | 'employee-groups'
  | 'candidate-tags'
  | 'job-stages'
  | 'job-hiring-team'
  | 'interview-users'
  | 'staffing-entity-groups';

const NESTED: Record<NestedRelation, { endpoint: EndpointName; model: string }> = {
  'employee-groups': { endpoint: 'hris/employees', model: 'hris_join_employees_teams' },
  'candidate-tags': { endpoint: 'ats/candidates', model: 'ats_join_candidates_tags' },
  'job-stages': { endpoint: 'ats/jobs', model: 'ats_join_jobs_application_stages' },
  'job-hiring-team': { endpoint: 'ats/jobs', model: 'ats_join_jobs_users' },
  'interview-users': { endpoint: 'ats/interviews', model: 'ats_join_interviews_users' },
  'staffing-entity-groups': { endpoint: 'hris/staffing-entities', model: 'hris_join_staffing_entities_groups' },
};

/** The record a change is about, if it is still in the tool. */
function target(i: SimIntegration, endpoint: EndpointName, id: string | undefined, r: Rng): Entity | undefined {
  const e = id === undefined ? pickPresent(i, endpoint, r) : i.store(endpoint).byId.get(id);
  return e && !e.d && !e.g ? e : undefined;
}

function pickPresent(i: SimIntegration, endpoint: EndpointName, r: Rng): Entity | undefined {
  const present = i.present(endpoint);
  return present.length ? r.pick(present) : undefined;
}

function toggle(list: Entity[], pool: Entity[], r: Rng): void {
  const candidate = r.pick(pool);
  const at = list.indexOf(candidate);
  if (at >= 0 && list.length > 1) list.splice(at, 1);
  else if (at < 0) list.push(candidate);
  else list.push(r.pick(pool));
}

/** Random but consistent relations for a new record of `endpoint`. */
function relationsFor(i: SimIntegration, endpoint: EndpointName, r: Rng): Relations {
  const livePick = (ep: EndpointName) => pickPresent(i, ep, r) ?? null;
  if (i.category === 'HRIS') {
    const refs = hrisRefs(i);
    const employee = refs.employees.length ? r.pick(refs.employees) : undefined;
    const type = refs.types.length ? r.pick(refs.types) : null;
    if (endpoint === 'hris/groups') return { parent: null };
    if (endpoint === 'hris/time-off-balances' || endpoint === 'hris/absences')
      return { ...(employee ? { employee } : {}), type };
    if (endpoint === 'hris/staffing-entities') return { ...staffingRelations(r, refs), parent: null };
    if (endpoint === 'hris/performance-review-cycles') return {};
    return employee ? { employee } : {};
  }
  const refs = atsRefs(i);
  if (endpoint === 'ats/applications')
    return { candidate: livePick('ats/candidates'), job: r.pick(refs.jobs), stage: r.pick(refs.stages) };
  if (endpoint === 'ats/interviews') return { application: livePick('ats/applications'), users: [r.pick(refs.users)] };
  if (endpoint === 'ats/offers') return { application: livePick('ats/applications') };
  if (endpoint === 'ats/jobs') return jobRelations(r, refs);
  if (endpoint === 'ats/users')
    return { role: systemRoles(refs.roles).length ? r.pick(systemRoles(refs.roles)) : null };
  return {};
}

/**
 * Applies one change to the tool at time `at`; returns the webhook model names of what Kombo's copy
 * shows changed. A deletion only makes the record vanish from the tool: the sync decides whether
 * Kombo notices (`SimIntegration.detectVanished`).
 */
export function applyChange(i: SimIntegration, c: Change, at: number, r: Rng): string[] {
  if (c.op === 'create') {
    if (c.endpoint === 'hris/employees') {
      addEmployee(i, r, at, hrisRefs(i));
      return ['hris_employees', 'hris_employments', 'hris_time_off_balances', 'hris_absences', 'hris_timesheets'];
    }
    if (c.endpoint === 'ats/candidates') {
      addCandidate(i, r, at, atsRefs(i));
      return ['ats_candidates', 'ats_applications', 'ats_interviews', 'ats_offers', 'ats_notes'];
    }
    // Records that need a living parent: none is made when there is none (as a tool would refuse).
    if (c.endpoint === 'hris/performance-reviews') {
      const refs = hrisRefs(i);
      if (!refs.employees.length || !refs.cycles.length) return [];
      const employee = r.pick(refs.employees);
      addReview(i, r, at, refs, employee, employee.rel.manager ?? null);
    } else if (c.endpoint === 'ats/notes') {
      const candidate = pickPresent(i, 'ats/candidates', r);
      if (!candidate) return [];
      addNote(i, r, at, atsRefs(i), candidate);
    } else i.create(c.endpoint, relationsFor(i, c.endpoint, r), at);
    return [OWN_MODEL[c.endpoint]];
  }
  if (c.op === 'update' || c.op === 'delete') {
    const e = target(i, c.endpoint, c.id, r);
    if (!e) return [];
    if (c.op === 'delete') {
      i.vanish(e, at);
      return [];
    }
    if (e.kind === 'ats/applications' && r.bool(0.5)) e.rel.stage = r.pick(atsRefs(i).stages);
    i.update(e, at);
    return [OWN_MODEL[e.kind]];
  }
  const { endpoint, model } = NESTED[c.relation];
  const e = target(i, endpoint, c.id, r);
  if (!e) return [];
  if (c.relation === 'employee-groups' || c.relation === 'staffing-entity-groups')
    toggle((e.rel.groups ??= []), hrisRefs(i).groups, r);
  if (c.relation === 'candidate-tags') toggle((e.rel.tags ??= []), atsRefs(i).tags, r);
  if (c.relation === 'job-stages') toggle((e.rel.stages ??= []), atsRefs(i).stages, r);
  if (c.relation === 'job-hiring-team' || c.relation === 'interview-users')
    toggle((e.rel.users ??= []), atsRefs(i).users, r);
  i.touch(e, at);
  return [model];
}

/** A random plausible change, weighted towards the everyday ones. */
export function randomChange(i: SimIntegration, r: Rng): Change {
  const x = r.next();
  if (i.category === 'HRIS') {
    if (x < 0.38) return { op: 'update', endpoint: 'hris/employees' };
    if (x < 0.52) return { op: 'update', endpoint: 'hris/employments' };
    if (x < 0.61) return { op: 'create', endpoint: 'hris/employees' };
    if (x < 0.66) return { op: 'delete', endpoint: 'hris/employees' };
    if (x < 0.73) return { op: 'nested', relation: 'employee-groups' };
    if (x < 0.8) return { op: 'create', endpoint: 'hris/absences' };
    if (x < 0.86) return { op: 'update', endpoint: 'hris/time-off-balances' };
    if (x < 0.9) return { op: 'create', endpoint: 'hris/timesheets' };
    if (x < 0.92) return { op: 'update', endpoint: 'hris/groups' };
    if (x < 0.94) return { op: 'update', endpoint: 'hris/locations' };
    if (x < 0.96) return { op: 'create', endpoint: 'hris/performance-reviews' };
    if (x < 0.98) return { op: 'update', endpoint: 'hris/staffing-entities' };
    return { op: 'nested', relation: 'staffing-entity-groups' };
  }
  if (x < 0.32) return { op: 'update', endpoint: 'ats/applications' };
  if (x < 0.46) return { op: 'update', endpoint: 'ats/candidates' };
  if (x < 0.57) return { op: 'create', endpoint: 'ats/candidates' };
  if (x < 0.62) return { op: 'delete', endpoint: 'ats/applications' };
  if (x < 0.69) return { op: 'create', endpoint: 'ats/interviews' };
  if (x < 0.74) return { op: 'create', endpoint: 'ats/offers' };
  if (x < 0.81) return { op: 'nested', relation: 'candidate-tags' };
  if (x < 0.87) return { op: 'update', endpoint: 'ats/jobs' };
  if (x < 0.91) return { op: 'nested', relation: 'job-hiring-team' };
  if (x < 0.94) return { op: 'update', endpoint: 'ats/users' };
  if (x < 0.98) return { op: 'create', endpoint: 'ats/notes' };
  return { op: 'update', endpoint: 'ats/notes' };
}
