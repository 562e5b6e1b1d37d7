import { ENDPOINT_NAMES, type EndpointName } from '../kombo/endpoints.ts';
import { newLifecycle, type SimLifecycle } from './lifecycle.ts';
import { EndpointStore, type Entity, type Relations } from './model.ts';
import { komboId, Rng } from './random.ts';
import { type RenderContext, roleScope } from './render.ts';

export type Category = 'HRIS' | 'ATS';

export const HRIS_TOOLS = ['personio', 'bamboohr', 'hibob', 'factorial', 'workday'] as const;
export const ATS_TOOLS = ['greenhouse', 'lever', 'workable', 'teamtailor', 'ashby'] as const;

/** Webhook model names (kombo-api.md §2.5) for changes to each endpoint's own records. */
export const OWN_MODEL: Record<EndpointName, string> = {
  'hris/employees': 'hris_employees',
  'hris/employments': 'hris_employments',
  'hris/groups': 'hris_teams',
  'hris/locations': 'hris_locations',
  'hris/legal-entities': 'hris_legal_entities',
  'hris/absence-types': 'hris_absence_types',
  'hris/absences': 'hris_absences',
  'hris/time-off-balances': 'hris_time_off_balances',
  'hris/timesheets': 'hris_timesheets',
  'hris/staffing-entities': 'hris_staffing_entities',
  'hris/performance-reviews': 'hris_performance_reviews',
  'hris/performance-review-cycles': 'hris_performance_review_cycles',
  'ats/applications': 'ats_applications',
  'ats/candidates': 'ats_candidates',
  'ats/jobs': 'ats_jobs',
  'ats/users': 'ats_users',
  'ats/tags': 'ats_tags',
  'ats/application-stages': 'ats_application_stages',
  'ats/interviews': 'ats_interviews',
  'ats/offers': 'ats_offers',
  'ats/rejection-reasons': 'ats_rejection_reasons',
  'ats/roles': 'ats_roles',
  'ats/notes': 'ats_notes',
};

/**
 * One connected tool: its records per endpoint and the rules by which a change to one record counts as
 * a change of others for `updated_after` (kombo-api.md §2.4).
 */
export class SimIntegration implements RenderContext {
  readonly id: string;
  readonly tool: string;
  readonly category: Category;
  readonly seed: number;
  readonly integrationId: string;
  readonly createdAt: number;
  readonly stores = new Map<EndpointName, EndpointStore>();
  /** False until the first sync finished: Kombo answers INTEGRATION.SETUP_SYNC_PENDING meanwhile. */
  setupDone: boolean;
  /** Status, setup, QA and the models it has: what GET /integrations/{id} shows. */
  readonly life: SimLifecycle;
  deleted = false;
  #nextIdx = new Map<EndpointName, number>();
  /** Records gone from the tool that Kombo has not marked deleted yet. */
  #vanished: Entity[] = [];

  constructor(opts: {
    id: string;
    tool: string;
    category: Category;
    seed: number;
    createdAt: number;
    setupDone: boolean;
    unavailable?: readonly EndpointName[];
  }) {
    this.id = opts.id;
    this.integrationId = opts.id;
    this.tool = opts.tool;
    this.category = opts.category;
    this.seed = opts.seed;
    this.createdAt = opts.createdAt;
    this.setupDone = opts.setupDone;
    this.life = newLifecycle(opts.unavailable);
    for (const ep of ENDPOINT_NAMES)
      if (ep.startsWith(this.category.toLowerCase())) this.stores.set(ep, new EndpointStore());
  }

  store(ep: EndpointName): EndpointStore {
    const s = this.stores.get(ep);
    if (!s) throw new Error(`${this.id} (${this.category}) has no ${ep}`);
    return s;
  }

  endpoints(): EndpointName[] {
    return [...this.stores.keys()];
  }

  /** Creates a record (not yet announced); `at` is its remote creation and changed_at time. */
  create(kind: EndpointName, rel: Relations, at: number, propagate = true): Entity {
    const store = this.store(kind);
    const idx = this.#nextIdx.get(kind) ?? 0;
    this.#nextIdx.set(kind, idx + 1);
    const e: Entity = {
      kind,
      seq: store.nextSeq(),
      idx,
      id: komboId(this.seed, this.id, kind, idx),
      remoteId: String(1000 + idx),
      v: 1,
      c: at,
      t: 0,
      d: 0,
      g: 0,
      createdAt: at,
      rel,
    };
    store.add(e);
    this.#link(e);
    // Initial population skips propagation: nothing nests a record that is older than itself, and
    // scanning would make building a large integration quadratic.
    if (propagate) this.touchDependents(e, at);
    return e;
  }

  /** Own fields change: a new version, changed_at moves. */
  update(e: Entity, at: number): void {
    e.v++;
    e.c = at;
    this.touchDependents(e, at);
  }

  delete(e: Entity, at: number): void {
    if (e.d) return;
    e.d = at;
    e.c = at;
    this.touchDependents(e, at);
  }

  /** The record is deleted in the tool; Kombo's copy is unchanged until `detectVanished`. */
  vanish(e: Entity, at: number): void {
    if (e.d || e.g) return;
    e.g = at;
    this.#vanished.push(e);
  }

  /** What a sync that detects deletions does: every vanished record is marked deleted now. */
  detectVanished(at: number): Entity[] {
    const found = this.#vanished.filter((e) => this.store(e.kind).has(e));
    this.#vanished = [];
    for (const e of found) this.delete(e, at);
    return found;
  }

  /** The records of an endpoint that are still in the tool (neither deleted nor vanished). */
  present(ep: EndpointName): Entity[] {
    return [...this.store(ep).live()].filter((e) => !e.d && !e.g);
  }

  purge(e: Entity): void {
    this.store(e.kind).purge(e);
    this.#unlink(e);
  }

  /** A change to nested data only: the parent's changed_at stays, updated_after still matches it. */
  touch(e: Entity, at: number): void {
    if (at > e.t) e.t = at;
  }

  #link(e: Entity): void {
    const r = e.rel;
    if (e.kind === 'hris/employments' && r.employee) (r.employee.rel.employments ??= []).push(e);
    if (e.kind === 'hris/time-off-balances' && r.employee) (r.employee.rel.balances ??= []).push(e);
    if (e.kind === 'ats/applications' && r.candidate) (r.candidate.rel.applications ??= []).push(e);
    if (e.kind === 'ats/interviews' && r.application) (r.application.rel.interviews ??= []).push(e);
    if (e.kind === 'ats/offers' && r.application) (r.application.rel.offers ??= []).push(e);
  }

  #unlink(e: Entity): void {
    const drop = (list: Entity[] | undefined) => {
      const i = list?.indexOf(e) ?? -1;
      if (list && i >= 0) list.splice(i, 1);
    };
    drop(e.rel.employee?.rel.employments);
    drop(e.rel.employee?.rel.balances);
    drop(e.rel.candidate?.rel.applications);
    drop(e.rel.application?.rel.interviews);
    drop(e.rel.application?.rel.offers);
  }

  /**
   * Propagates a record change to the records that nest it where §2.4 says the linked record (or its
   * addition/removal) counts as a change of the parent.
   */
  touchDependents(e: Entity, at: number): void {
    const each = (kind: EndpointName, pred: (x: Entity) => boolean) => {
      const s = this.stores.get(kind);
      if (s) for (const x of s.live()) if (pred(x)) this.touch(x, at);
    };
    switch (e.kind) {
      case 'hris/employments':
      case 'hris/time-off-balances':
        if (e.rel.employee) this.touch(e.rel.employee, at);
        break;
      case 'hris/employees':
        each('hris/employees', (x) => x.rel.manager === e);
        each('hris/performance-reviews', (x) => x.rel.employee === e || x.rel.reviewer === e);
        break;
      case 'hris/legal-entities':
        each('hris/employees', (x) => x.rel.legalEntity === e);
        each('hris/staffing-entities', (x) => x.rel.legalEntities?.includes(e) === true);
        break;
      case 'hris/locations':
        each('hris/employees', (x) => x.rel.location === e);
        each('hris/staffing-entities', (x) => x.rel.locations?.includes(e) === true);
        break;
      case 'hris/groups':
        // Employees' group memberships do not match on the group itself (§2.4); staffing entities do.
        each('hris/staffing-entities', (x) => x.rel.groups?.includes(e) === true);
        break;
      case 'hris/performance-review-cycles':
        each('hris/performance-reviews', (x) => x.rel.cycle === e);
        break;
      case 'hris/absence-types':
        each('hris/absences', (x) => x.rel.type === e);
        each('hris/time-off-balances', (x) => x.rel.type === e);
        break;
      case 'ats/candidates':
        each('ats/applications', (x) => x.rel.candidate === e);
        break;
      case 'ats/application-stages':
        each('ats/applications', (x) => x.rel.stage === e);
        break;
      case 'ats/applications':
        if (e.rel.candidate) this.touch(e.rel.candidate, at);
        each('ats/interviews', (x) => x.rel.application === e);
        each('ats/offers', (x) => x.rel.application === e);
        break;
      case 'ats/interviews':
      case 'ats/offers':
        if (e.rel.application) this.touch(e.rel.application, at);
        break;
      case 'ats/roles':
        each('ats/users', (x) => x.rel.role === e);
        break;
      default:
        // absences, timesheets, staffing entities, reviews, jobs, users, tags, rejection reasons,
        // notes: no nesting parent matches on them (§2.4, and notes' own table in the Ruby SDK)
        break;
    }
  }
}

export function integrationId(tool: string, seed: number, n: number): string {
  return `${tool}:${komboId(seed, 'integration', tool, n)}`;
}

/**
 * Builds an integration's initial records: `size` employees (HRIS) or candidates (ATS) plus the
 * records around them, with consistent relations.
 */
export function populate(i: SimIntegration, size: number, at: number): void {
  const r = Rng.of(i.seed, i.id, 'populate');
  const quiet: Pick<SimIntegration, 'create'> = { create: (k, rel, t) => i.create(k, rel, t, false) };
  if (i.category === 'HRIS') {
    const legal = Array.from({ length: 1 + Math.min(2, Math.floor(size / 200)) }, () =>
      quiet.create('hris/legal-entities', {}, at),
    );
    const locations = Array.from({ length: 2 + Math.min(3, Math.floor(size / 100)) }, () =>
      quiet.create('hris/locations', {}, at),
    );
    const groups: Entity[] = [];
    for (let g = 0; g < Math.max(3, Math.floor(size / 8)); g++) {
      groups.push(
        quiet.create('hris/groups', { parent: g > 2 && r.bool(0.5) ? r.pick(groups.slice(0, 3)) : null }, at),
      );
    }
    const types = Array.from({ length: 4 }, () => quiet.create('hris/absence-types', {}, at));
    const cycles = Array.from({ length: 3 }, () => quiet.create('hris/performance-review-cycles', {}, at));
    const employees: Entity[] = [];
    const refs = { employees, legal, locations, groups, types, cycles };
    for (let n = 0; n < size; n++) addEmployee(quiet, r, at, refs);
    // Reviews of the people there were at the last cycles, by their managers and by themselves.
    for (const employee of employees) {
      if (employee.rel.manager && r.bool(0.5)) addReview(quiet, r, at, refs, employee, employee.rel.manager);
      if (r.bool(0.2)) addReview(quiet, r, at, refs, employee, employee);
    }
    const positions: Entity[] = [];
    for (let n = 0; n < Math.max(2, Math.floor(size / 10)); n++)
      positions.push(
        quiet.create(
          'hris/staffing-entities',
          { ...staffingRelations(r, refs), parent: n > 1 && r.bool(0.3) ? r.pick(positions.slice(0, 2)) : null },
          at,
        ),
      );
  } else {
    // The role catalogue: system roles first, then job roles (render.ts names them by index).
    const roles = Array.from({ length: 6 }, () => quiet.create('ats/roles', {}, at));
    const users = Array.from({ length: Math.max(5, Math.floor(size / 20)) }, () =>
      quiet.create('ats/users', { role: r.pick(systemRoles(roles)) }, at),
    );
    const tags = Array.from({ length: 8 }, () => quiet.create('ats/tags', {}, at));
    const stages = Array.from({ length: 6 }, () => quiet.create('ats/application-stages', {}, at));
    for (let n = 0; n < 5; n++) quiet.create('ats/rejection-reasons', {}, at);
    const jobs = Array.from({ length: Math.max(3, Math.floor(size / 10)) }, () =>
      quiet.create('ats/jobs', jobRelations(r, { users, stages, roles }), at),
    );
    for (let n = 0; n < size; n++) addCandidate(quiet, r, at, { users, tags, stages, jobs, roles });
  }
}

export const systemRoles = (roles: readonly Entity[]) => roles.filter((x) => roleScope(x) === 'SYSTEM');
const jobRoles = (roles: readonly Entity[]) => roles.filter((x) => roleScope(x) === 'JOB');

export function jobRelations(r: Rng, refs: Pick<AtsRefs, 'users' | 'stages' | 'roles'>): Relations {
  const users = [r.pick(refs.users), r.pick(refs.users)].filter((u, k, a) => a.indexOf(u) === k);
  return { stages: [...refs.stages], users, roles: jobRoles(refs.roles) };
}

export function staffingRelations(r: Rng, refs: Pick<HrisRefs, 'locations' | 'legal' | 'groups'>): Relations {
  const some = (pool: Entity[]) => [r.pick(pool), ...(r.bool(0.3) ? [r.pick(pool)] : [])].filter(unique);
  return { locations: some(refs.locations), legalEntities: [r.pick(refs.legal)], groups: some(refs.groups) };
}

const unique = <T>(x: T, k: number, a: readonly T[]) => a.indexOf(x) === k;

export function addReview(
  i: Pick<SimIntegration, 'create'>,
  r: Rng,
  at: number,
  refs: Pick<HrisRefs, 'cycles'>,
  employee: Entity,
  reviewer: Entity | null,
): Entity {
  return i.create('hris/performance-reviews', { employee, reviewer, cycle: r.pick(refs.cycles) }, at);
}

export interface HrisRefs {
  employees: Entity[];
  legal: Entity[];
  locations: Entity[];
  groups: Entity[];
  types: Entity[];
  cycles: Entity[];
}

export function addEmployee(i: Pick<SimIntegration, 'create'>, r: Rng, at: number, refs: HrisRefs): Entity {
  const manager =
    refs.employees.length > 0 && r.bool(0.85)
      ? r.pick(refs.employees.slice(0, Math.max(1, Math.ceil(refs.employees.length / 5))))
      : null;
  const emp = i.create(
    'hris/employees',
    {
      manager,
      legalEntity: r.pick(refs.legal),
      location: r.pick(refs.locations),
      groups: [r.pick(refs.groups), ...(r.bool(0.4) ? [r.pick(refs.groups)] : [])].filter(unique),
    },
    at,
  );
  refs.employees.push(emp);
  const employments = r.bool(0.3) ? 2 : 1;
  for (let k = 0; k < employments; k++) i.create('hris/employments', { employee: emp }, at);
  const balances = r.bool(0.5) ? 2 : 1;
  for (let k = 0; k < balances; k++)
    i.create('hris/time-off-balances', { employee: emp, type: refs.types[k % refs.types.length] as Entity }, at);
  if (r.bool(0.5)) i.create('hris/absences', { employee: emp, type: r.pick(refs.types) }, at);
  if (r.bool(0.5)) i.create('hris/timesheets', { employee: emp }, at);
  return emp;
}

export interface AtsRefs {
  users: Entity[];
  tags: Entity[];
  stages: Entity[];
  jobs: Entity[];
  roles: Entity[];
}

export function addCandidate(i: Pick<SimIntegration, 'create'>, r: Rng, at: number, refs: AtsRefs): Entity {
  const cand = i.create('ats/candidates', { tags: r.bool(0.5) ? [r.pick(refs.tags)] : [] }, at);
  const apps = r.bool(0.2) ? 2 : 1;
  for (let k = 0; k < apps; k++) {
    const app = i.create(
      'ats/applications',
      { candidate: cand, job: r.pick(refs.jobs), stage: r.pick(refs.stages) },
      at,
    );
    if (r.bool(0.4)) i.create('ats/interviews', { application: app, users: [r.pick(refs.users)] }, at);
    if (r.bool(0.1)) i.create('ats/offers', { application: app }, at);
    if (r.bool(0.3)) addNote(i, r, at, refs, cand);
  }
  return cand;
}

/** A recruiter's note on a candidate, on one of their applications or (sometimes) on the candidate only. */
export function addNote(
  i: Pick<SimIntegration, 'create'>,
  r: Rng,
  at: number,
  refs: Pick<AtsRefs, 'users'>,
  candidate: Entity,
): Entity {
  const apps = candidate.rel.applications ?? [];
  const application = apps.length && r.bool(0.8) ? r.pick(apps) : null;
  return i.create('ats/notes', { candidate, application, author: r.bool(0.9) ? r.pick(refs.users) : null }, at);
}

/** The reference records an integration's generators pick from, recovered from its stores. */
export function hrisRefs(i: SimIntegration): HrisRefs {
  return {
    employees: i.present('hris/employees'),
    legal: i.present('hris/legal-entities'),
    locations: i.present('hris/locations'),
    groups: i.present('hris/groups'),
    types: i.present('hris/absence-types'),
    cycles: i.present('hris/performance-review-cycles'),
  };
}

export function atsRefs(i: SimIntegration): AtsRefs {
  return {
    users: i.present('ats/users'),
    tags: i.present('ats/tags'),
    stages: i.present('ats/application-stages'),
    jobs: i.present('ats/jobs'),
    roles: i.present('ats/roles'),
  };
}
