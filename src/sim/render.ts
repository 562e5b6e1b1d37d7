import type { EndpointName } from '../kombo/endpoints.ts';
import type { Entity } from './model.ts';
import { Rng } from './random.ts';

/**
 * Renders stored entities as Kombo's API returns them (kombo-api.md §3): every key the official SDK
 * requires is present (null where nullable), dates as full ISO date-times, nested objects built from
 * the related records so they stay consistent.
 */
export interface RenderContext {
  readonly seed: number;
  readonly integrationId: string;
  readonly tool: string;
}

type Json = Record<string, unknown>;

const FIRST = [
  'Anna',
  'Ben',
  'Chloé',
  'Daniel',
  'Elif',
  'Farah',
  'Gustav',
  'Hana',
  'Ivan',
  'Jana',
  'Kofi',
  'Lena',
  'Mateo',
  'Noor',
  'Oskar',
  'Priya',
  'Quentin',
  'Rosa',
  'Sven',
  'Tomás',
  'Uma',
  'Viktor',
  'Wen',
  'Yara',
  'Zoé',
];
const LAST = [
  'Schmidt',
  'Müller',
  'Okafor',
  'García',
  'Nguyen',
  'Kowalski',
  'Rossi',
  'Dubois',
  'Andersson',
  'Yılmaz',
  'Kim',
  'Silva',
  'Novak',
  'Jensen',
  'Haddad',
  'Murphy',
  'Fischer',
  'Tanaka',
  'Costa',
  'Weber',
];
const TITLES = [
  'Software Engineer',
  'Senior Software Engineer',
  'Product Manager',
  'Designer',
  'Account Executive',
  'Customer Success Manager',
  'Data Analyst',
  'HR Business Partner',
  'Recruiter',
  'Finance Manager',
  'Office Manager',
  'Engineering Manager',
  'Sales Development Rep',
  'Marketing Lead',
];
const CITIES: readonly [string, string, string, string][] = [
  ['Berlin', 'DE', 'Berlin', '10115'],
  ['Munich', 'DE', 'Bavaria', '80331'],
  ['Paris', 'FR', 'Île-de-France', '75002'],
  ['London', 'GB', 'England', 'EC1A 1BB'],
  ['Amsterdam', 'NL', 'North Holland', '1012'],
  ['New York', 'US', 'NY', '10001'],
  ['Lisbon', 'PT', 'Lisbon', '1100-148'],
  ['Warsaw', 'PL', 'Masovia', '00-001'],
];
const STREETS = [
  'Sonnenallee',
  'Hauptstraße',
  'Rue de Rivoli',
  'Baker Street',
  'Keizersgracht',
  'Broadway',
  'Avenida da Liberdade',
  'Nowy Świat',
];
const DEPARTMENTS = [
  'Engineering',
  'Sales',
  'Marketing',
  'People',
  'Finance',
  'Customer Success',
  'Product',
  'Operations',
];
const TEAMS = ['Platform', 'Payments', 'Growth', 'Core', 'Mobile', 'Data', 'Enterprise', 'SMB', 'Brand', 'Recruiting'];
const ABSENCE_TYPES: readonly [string, 'DAYS' | 'HOURS'][] = [
  ['Vacation', 'DAYS'],
  ['Sick leave', 'DAYS'],
  ['Parental leave', 'DAYS'],
  ['Overtime compensation', 'HOURS'],
  ['Training', 'DAYS'],
  ['Unpaid leave', 'DAYS'],
];
const STAGES = ['Application Review', 'Phone Screen', 'Technical Interview', 'Onsite', 'Reference Check', 'Offer'];
const TAGS = [
  'High Potential',
  'Referral',
  'Silver Medalist',
  'Relocation',
  'Remote',
  'Senior',
  'Diversity Sourcing',
  'Returning',
];
const SOURCES = ['LinkedIn', 'Employee Referral', 'Career Page', 'Indeed', 'Agency', 'Event'];
/** The rejection-reason catalogue; declined applications carry one of these names as free text. */
const REJECTION_REASONS = ['Not a fit', 'Withdrew', 'Position filled', 'Salary expectations', 'No show'];
/** ats/roles by index: three system roles, then three job roles (behind hiring teams). */
const ROLE_CATALOGUE: readonly [string, 'SYSTEM' | 'JOB', string][] = [
  ['Admin', 'SYSTEM', 'ADMIN'],
  ['Recruiter', 'SYSTEM', 'RECRUITER'],
  ['Interviewer', 'SYSTEM', 'INTERVIEWER'],
  ['Hiring Manager', 'JOB', 'HIRING_MANAGER'],
  ['Recruiter', 'JOB', 'RECRUITER'],
  ['Coordinator', 'JOB', 'COORDINATOR'],
];
const NOTES = [
  ['Phone screen', '<p>Strong communicator; interested in the platform team. Notice period: 3 months.</p>'],
  ['Technical interview', '<p>Solid system design, weaker on testing. <b>Recommend</b> next round.</p>'],
  ['Reference check', '<p>Former manager confirms ownership of the billing migration.</p>'],
  ['Compensation', '<p>Expects a base salary at the top of the band; open to equity.</p>'],
  [null, '<p>Candidate asked to reschedule to next week.</p>'],
] as const;

export const iso = (ms: number) => new Date(ms).toISOString();
const day = (ms: number) => iso(Math.floor(ms / 86_400_000) * 86_400_000);
const dateOnly = (ms: number) => iso(ms).slice(0, 10);
const DAY = 86_400_000;

function rngs(ctx: RenderContext, e: Entity): { fixed: Rng; version: Rng } {
  return { fixed: Rng.of(ctx.seed, e.kind, e.idx), version: Rng.of(ctx.seed, e.kind, e.idx, e.v) };
}

function person(r: Rng): { first: string; last: string } {
  return { first: r.pick(FIRST), last: r.pick(LAST) };
}

function address(r: Rng): Json {
  const [city, country, state, zip] = r.pick(CITIES);
  const street = `${r.pick(STREETS)} ${r.int(1, 180)}`;
  return {
    city,
    country,
    raw: `${street}\n${zip} ${city}\n${country}`,
    state,
    street_1: street,
    street_2: r.maybe(0.8, () => `Floor ${r.int(1, 6)}`),
    zip_code: zip,
  };
}

const meta = (e: Entity) => ({
  changed_at: iso(e.c),
  remote_deleted_at: e.d ? iso(e.d) : null,
});

function remoteData(ctx: RenderContext, e: Entity, r: Rng): Json | null {
  return r.bool(0.3) ? { [`/${ctx.tool}/${e.kind.split('/')[1]}/${e.remoteId}`]: { id: e.remoteId, rev: e.v } } : null;
}

function customFields(r: Rng): Json {
  return r.bool(0.5) ? { cost_center: `CC-${r.int(100, 999)}`, shirt_size: r.pick(['S', 'M', 'L', 'XL']) } : {};
}

function integrationFields(e: Entity, r: Rng): Json[] {
  return r.bool(0.3)
    ? [
        {
          id: `if_${e.id.slice(0, 8)}`,
          key: 'badge_number',
          type: 'CUSTOM',
          value: String(r.int(1000, 9999)),
          label: 'Badge number',
        },
      ]
    : [];
}

const emailOf = (first: string, last: string, domain: string) =>
  `${`${first}.${last}`
    .normalize('NFD')
    .replace(/[^\w.]/g, '')
    .toLowerCase()}@${domain}`;

function domain(ctx: RenderContext): string {
  return `${ctx.integrationId.split(':')[1]?.slice(0, 6).toLowerCase() ?? 'acme'}.example.com`;
}

// ---------------------------------------------------------------- HRIS

function employment(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  return {
    id: e.id,
    remote_id: e.remoteId,
    employee_id: e.rel.employee?.id,
    job_title: r.pick(TITLES),
    pay_rate: r.int(30, 160) * 1000,
    pay_period: 'YEAR',
    pay_frequency: r.pick(['MONTHLY', 'SEMIMONTHLY', 'BIWEEKLY']),
    employment_type: r.pick(['FULL_TIME', 'FULL_TIME', 'PART_TIME', 'CONTRACT']),
    pay_currency: r.pick(['EUR', 'EUR', 'USD', 'GBP']),
    effective_date: day(e.createdAt - r.int(0, 900) * DAY),
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
    custom_fields: customFields(r),
    integration_fields: integrationFields(e, r),
  };
}

function absenceType(ctx: RenderContext, e: Entity): Json {
  const [name, unit] = ABSENCE_TYPES[e.idx % ABSENCE_TYPES.length] as [string, string];
  const { version: r } = rngs(ctx, e);
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: e.v > 1 ? `${name} (${e.v})` : name,
    unit,
    half_days_supported: unit === 'DAYS',
    exact_times_supported: unit === 'HOURS',
    custom_fields: customFields(r),
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
  };
}

function balanceCore(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const unit = e.rel.type ? (ABSENCE_TYPES[e.rel.type.idx % ABSENCE_TYPES.length]?.[1] ?? 'DAYS') : 'DAYS';
  return {
    id: e.id,
    remote_id: e.remoteId,
    employee_id: e.rel.employee?.id,
    type_id: e.rel.type?.id,
    balance: r.int(0, 30),
    balance_unit: unit,
    used: r.int(0, 12),
    used_unit: unit,
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
  };
}

function place(ctx: RenderContext, e: Entity, withType: boolean): Json {
  const { fixed, version: r } = rngs(ctx, e);
  const [city] = CITIES[e.idx % CITIES.length] as [string, string, string, string];
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: withType
      ? `${city} ${e.v > 1 ? `Office ${e.v}` : 'Office'}`
      : `${ctx.tool === 'bamboohr' ? 'Acme' : 'Kombo'} ${city} ${fixed.pick(['GmbH', 'Ltd', 'SAS', 'Inc.'])}`,
    address: address(r),
    ...(withType ? { type: fixed.pick(['OFFICE', 'OFFICE', 'REMOTE', 'HOME']) } : {}),
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
  };
}

function groupRef(ctx: RenderContext, g: Entity): Json {
  const full = group(ctx, g);
  return { id: full.id, remote_id: full.remote_id, name: full.name, type: full.type };
}

function group(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const type = e.idx % 5 === 0 ? 'COST_CENTER' : e.idx % 2 === 0 ? 'DEPARTMENT' : 'TEAM';
  const base =
    type === 'DEPARTMENT'
      ? DEPARTMENTS[e.idx % DEPARTMENTS.length]
      : type === 'TEAM'
        ? TEAMS[e.idx % TEAMS.length]
        : `Cost center ${1000 + e.idx}`;
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: e.v > 1 ? `${base} ${e.v}` : base,
    type,
    parent_id: e.rel.parent?.id ?? null,
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
  };
}

function employeeNames(ctx: RenderContext, e: Entity) {
  const { fixed } = rngs(ctx, e);
  const { first, last } = person(fixed);
  return { first, last, fixed };
}

function employee(ctx: RenderContext, e: Entity): Json {
  const { first, last, fixed } = employeeNames(ctx, e);
  const { version: r } = rngs(ctx, e);
  const status = e.d ? 'INACTIVE' : r.pick(['ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'LEAVE', 'PENDING']);
  const manager = e.rel.manager ?? null;
  const groups = (e.rel.groups ?? []).map((g) => groupRef(ctx, g));
  const employments = (e.rel.employments ?? []).map((x) => employment(ctx, x));
  return {
    id: e.id,
    remote_id: e.remoteId,
    employee_number: String(1000 + e.idx),
    first_name: first,
    last_name: last,
    nationality: fixed.pick(['German', 'French', 'British', 'Dutch', 'American', 'Polish', null]),
    display_full_name: `${first} ${last}`,
    job_title: (employments.at(-1)?.job_title as string | undefined) ?? r.pick(TITLES),
    work_email: emailOf(first, last, domain(ctx)),
    personal_email: fixed.maybe(0.3, () => emailOf(first, `${last}${fixed.int(1, 99)}`, 'mail.example.org')),
    mobile_phone_number: fixed.maybe(0.2, () => `+49 151 ${fixed.int(1000000, 9999999)}`),
    ssn: fixed.maybe(0.5, () => `${fixed.int(100, 999)}-${fixed.int(10, 99)}-${fixed.int(1000, 9999)}`),
    tax_id: fixed.maybe(
      0.4,
      () => `${fixed.int(10, 99)} ${fixed.int(100, 999)} ${fixed.int(100, 999)} ${fixed.int(100, 999)}`,
    ),
    gender: fixed.pick(['MALE', 'FEMALE', 'NON_BINARY', 'NOT_SPECIFIED', null]),
    ethnicity: fixed.pick(['WHITE', 'ASIAN', 'HISPANIC_LATINO', 'BLACK_AFRICAN_AMERICAN', 'DECLINE_TO_SPECIFY', null]),
    marital_status: r.pick(['SINGLE', 'MARRIED', 'NOT_MARRIED', null]),
    employment_status: status,
    employment_type: r.pick(['FULL_TIME', 'FULL_TIME', 'PART_TIME', 'CONTRACT', 'WORKING_STUDENT']),
    weekly_hours: r.pick([40, 40, 38.5, 32, 20]),
    avatar: fixed.maybe(0.5, () => `https://images.example.com/avatars/${e.remoteId}.png`),
    work_location_id: e.rel.location?.id ?? null,
    legal_entity_id: e.rel.legalEntity?.id ?? null,
    manager_id: manager?.id ?? null,
    home_address: fixed.maybe(0.2, () => address(fixed)),
    bank_accounts: fixed.maybe(0.4, () => [
      {
        iban: `DE${fixed.int(10, 99)}${fixed.int(10000000, 99999999)}${fixed.int(1000000000, 9999999999)}`,
        bic: 'COBADEFFXXX',
        account_number: String(fixed.int(1000000000, 9999999999)),
        holder_name: `${first} ${last}`,
        bank_name: fixed.pick(['Commerzbank', 'N26', 'ING', 'Deutsche Bank']),
        domestic_bank_routing: { number: String(fixed.int(10000000, 99999999)), type: 'DE_BANKLEITZAHL' },
      },
    ]),
    date_of_birth: day(Date.UTC(1960, 0, 1) + fixed.int(0, 14000) * DAY),
    start_date: day(e.createdAt - fixed.int(0, 2500) * DAY),
    termination_date: e.d ? day(e.d) : null,
    remote_created_at: iso(e.createdAt),
    ...meta(e),
    custom_fields: customFields(r),
    integration_fields: integrationFields(e, r),
    remote_data: remoteData(ctx, e, r),
    employments,
    time_off_balances: (e.rel.balances ?? []).map((b) => balanceCore(ctx, b)),
    manager: manager
      ? (() => {
          const m = employee(ctx, {
            ...manager,
            rel: { ...manager.rel, manager: null, employments: [], balances: [], groups: [] },
          });
          return {
            first_name: m.first_name,
            last_name: m.last_name,
            display_full_name: m.display_full_name,
            id: m.id,
            employee_number: m.employee_number,
            work_email: m.work_email,
            remote_id: m.remote_id,
            employment_status: m.employment_status,
            termination_date: m.termination_date,
          };
        })()
      : null,
    groups,
    legal_entity: e.rel.legalEntity
      ? (({ id, remote_id, name, address: a }) => ({ id, remote_id, name, address: a }))(
          place(ctx, e.rel.legalEntity, false),
        )
      : null,
    teams: groups,
    work_location: e.rel.location ? place(ctx, e.rel.location, true) : null,
  };
}

function absence(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const start = e.createdAt + r.int(-60, 90) * DAY;
  const days = r.int(1, 10);
  const hourly = e.rel.type ? ABSENCE_TYPES[e.rel.type.idx % ABSENCE_TYPES.length]?.[1] === 'HOURS' : false;
  return {
    id: e.id,
    remote_id: e.remoteId,
    employee_id: e.rel.employee?.id,
    start_date: dateOnly(start),
    end_date: dateOnly(start + (days - 1) * DAY),
    start_half_day: hourly ? null : r.bool(0.1),
    end_half_day: hourly ? null : r.bool(0.1),
    start_time: hourly ? '09:00:00' : null,
    end_time: hourly ? `${String(9 + r.int(1, 8)).padStart(2, '0')}:00:00` : null,
    amount: hourly ? r.int(1, 8) : days,
    unit: hourly ? 'HOURS' : 'DAYS',
    status: r.pick(['REQUESTED', 'APPROVED', 'APPROVED', 'DECLINED', 'CANCELLED']),
    employee_note: r.maybe(0.6, () => r.pick(['Family trip', 'Doctor appointment', 'Conference', 'Moving house'])),
    type_id: e.rel.type?.id ?? null,
    // Deprecated in Kombo's spec, still sent: the manager who approved, when the tool says.
    approver_id: e.rel.employee?.rel.manager?.id ?? null,
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    ...meta(e),
    type: e.rel.type ? absenceType(ctx, e.rel.type) : null,
    remote_data: remoteData(ctx, e, r),
  };
}

function timesheet(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const start = Math.floor(e.createdAt / DAY) * DAY - r.int(0, 30) * DAY + 8 * 3_600_000;
  const hours = r.int(4, 10);
  const end = start + hours * 3_600_000;
  const approved = r.pick(['PENDING', 'APPROVED', 'APPROVED', 'REJECTED']);
  return {
    id: e.id,
    remote_id: e.remoteId,
    employee_id: e.rel.employee?.id,
    started_at: iso(start),
    ended_at: iso(end),
    timezone: r.pick(['+01:00', '+02:00', '+00:00', '-05:00']),
    payable_hours: hours - 0.5,
    unpaid_break_minutes: 30,
    breaks: [{ started_at: iso(start + 4 * 3_600_000), ended_at: iso(start + 4.5 * 3_600_000), paid: false }],
    approval_status: approved,
    approved_at: approved === 'APPROVED' ? iso(end + DAY) : null,
    comment: r.maybe(0.7, () => 'Worked on release'),
    custom_fields: customFields(r),
    ...meta(e),
    integration_fields: integrationFields(e, r),
    remote_data: remoteData(ctx, e, r),
  };
}

function staffingEntity(ctx: RenderContext, e: Entity): Json {
  const { fixed, version: r } = rngs(ctx, e);
  const status = e.d
    ? 'CLOSED'
    : r.pick(['OPEN_LIMITED', 'OPEN_LIMITED', 'OPEN_UNLIMITED', 'PENDING', 'FROZEN', 'FILLED']);
  const [label, unified] = fixed.pick([
    ['Full-time', 'FULL_TIME'],
    ['Part-time', 'PART_TIME'],
    ['Werkstudent', 'WORKING_STUDENT'],
    ['Freelance', 'FREELANCE'],
  ] as const);
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: `${fixed.pick(TITLES)}${e.v > 1 ? ` (${e.v})` : ''}`,
    model_type: ctx.tool === 'workday' ? 'POSITION' : fixed.pick(['POSITION', 'REQUISITION', 'JOB']),
    description: r.maybe(
      0.3,
      () => `Headcount for ${r.pick(DEPARTMENTS)}, approved in ${r.pick(['Q1', 'Q2', 'Q3', 'Q4'])}.`,
    ),
    status,
    employment_types: fixed.maybe(0.2, () => [{ remote_label: label, unified_type: unified }]),
    number_of_openings: status === 'OPEN_LIMITED' ? r.int(1, 3) : null,
    parent_id: e.rel.parent?.id ?? null,
    remote_url: `https://hris.example.com/positions/${e.remoteId}`,
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    ...meta(e),
    custom_fields: customFields(r),
    locations: (e.rel.locations ?? []).map((l) => {
      const { id, remote_id, name, type } = place(ctx, l, true);
      return { id, remote_id, name, type };
    }),
    legal_entities: (e.rel.legalEntities ?? []).map((l) => {
      const { id, remote_id, name } = place(ctx, l, false);
      return { id, remote_id, name };
    }),
    groups: (e.rel.groups ?? []).map((g) => groupRef(ctx, g)),
    // Skills (SDK 1.3.4) are a closed beta without their own feed; the simulated tools have none.
    skills: [],
  };
}

function reviewCycle(e: Entity): Json {
  // A cycle every half year: the first three end with the half year the record was made in, later
  // ones are planned ahead.
  const made = new Date(e.createdAt);
  const half = made.getUTCFullYear() * 2 + Math.floor(made.getUTCMonth() / 6) - 2 + e.idx;
  const [year, h] = [Math.floor(half / 2), half % 2];
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: `${year} ${h === 0 ? 'Mid-Year' : 'Year-End'} Review${e.v > 1 ? ` (${e.v})` : ''}`,
    review_period_start_date: iso(Date.UTC(year, h * 6, 1)),
    ...meta(e),
  };
}

/** The employee as a review names its reviewee or reviewer. */
function personRef(ctx: RenderContext, p: Entity): Json {
  const { first, last } = employeeNames(ctx, p);
  return {
    id: p.id,
    remote_id: p.remoteId,
    first_name: first,
    last_name: last,
    display_full_name: `${first} ${last}`,
    work_email: emailOf(first, last, domain(ctx)),
    remote_deleted_at: p.d ? iso(p.d) : null,
  };
}

function performanceReview(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const reviewee = e.rel.employee as Entity;
  const reviewer = e.rel.reviewer ?? null;
  const scale = ['Below expectations', 'Meets expectations', 'Exceeds expectations', 'Outstanding'];
  return {
    id: e.id,
    remote_id: e.remoteId,
    type:
      reviewer === null
        ? null
        : reviewer === reviewee
          ? 'SELF'
          : reviewer === reviewee.rel.manager
            ? 'MANAGER'
            : 'PEER',
    summary_comment: r.maybe(0.2, () =>
      r.pick(['Consistently delivers.', 'Grew into the tech lead role.', 'Needs support on prioritising.']),
    ),
    summary_rating: r.maybe(0.15, () =>
      ctx.tool === 'hibob'
        ? { type: 'SINGLE_SELECT', ordered_options: scale, value: r.pick(scale) }
        : { type: 'NUMERIC', min: 1, max: 5, value: r.int(2, 5) },
    ),
    ...meta(e),
    reviewee: personRef(ctx, reviewee),
    reviewer: reviewer ? personRef(ctx, reviewer) : null,
    review_cycle: e.rel.cycle ? reviewCycle(e.rel.cycle) : null,
  };
}

// ---------------------------------------------------------------- ATS

function user(ctx: RenderContext, e: Entity): Json {
  const { fixed, version: r } = rngs(ctx, e);
  const { first, last } = person(fixed);
  return {
    id: e.id,
    remote_id: e.remoteId,
    first_name: first,
    last_name: last,
    email: emailOf(first, last, domain(ctx)),
    status: e.d ? 'INACTIVE' : r.pick(['ACTIVE', 'ACTIVE', 'ACTIVE', 'INACTIVE']),
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
    system_roles: e.rel.role ? [roleAssignment(e.rel.role)] : [],
  };
}

export const roleScope = (role: Entity): 'SYSTEM' | 'JOB' =>
  (ROLE_CATALOGUE[role.idx % ROLE_CATALOGUE.length] as (typeof ROLE_CATALOGUE)[number])[1];

function role(e: Entity): Json {
  const [label, scope, unified] = ROLE_CATALOGUE[e.idx % ROLE_CATALOGUE.length] as (typeof ROLE_CATALOGUE)[number];
  const round = Math.floor(e.idx / ROLE_CATALOGUE.length);
  return {
    id: e.id,
    remote_id: e.remoteId,
    remote_label: `${label}${round ? ` ${round + 1}` : ''}${e.v > 1 ? ` (${e.v})` : ''}`,
    scope,
    // A tool's own roles beyond the catalogue are not mapped to a unified type.
    unified_type: round ? null : unified,
    ...meta(e),
  };
}

/** A role as users' system_roles and hiring teams' job_roles carry it. */
function roleAssignment(e: Entity): Json {
  const { remote_id, remote_label, scope, unified_type } = role(e);
  return { remote_id, remote_label, scope, unified_type };
}

function simpleNamed(ctx: RenderContext, e: Entity, names: readonly string[]): Json {
  const { version: r } = rngs(ctx, e);
  const base = names[e.idx % names.length] as string;
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: e.v > 1 ? `${base} (${e.v})` : base,
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
  };
}

/** An application stage as GET /ats/application-stages returns it (SDK 1.3.3 added status, custom_fields). */
function stage(ctx: RenderContext, e: Entity): Json {
  const { id, remote_id, name, ...rest } = simpleNamed(ctx, e, STAGES);
  const { version: r } = rngs(ctx, e);
  return {
    id,
    remote_id,
    name,
    // Not every ATS says whether a stage is still in use.
    status: ctx.tool === 'workable' ? null : e.d || r.bool(0.15) ? 'INACTIVE' : 'ACTIVE',
    custom_fields: r.bool(0.7) ? {} : { sla_days: r.int(2, 10) },
    ...rest,
  };
}

/** The stage nested in a candidate's applications: unchanged since SDK 1.1.3. */
const stageRef = (ctx: RenderContext, s: Entity) => ({
  id: s.id,
  remote_id: s.remoteId,
  name: simpleNamed(ctx, s, STAGES).name,
  index: s.idx % STAGES.length,
});

/** The stage nested in applications and jobs: the 1.1.3 reference plus the stage's status and custom fields. */
function currentStage(ctx: RenderContext, s: Entity): Json {
  const { status, custom_fields } = stage(ctx, s);
  return { ...stageRef(ctx, s), status, custom_fields };
}

function jobName(ctx: RenderContext, j: Entity): string {
  const { version: r } = rngs(ctx, j);
  return `${r.pick(TITLES)}${j.v > 1 ? ` (${j.v})` : ''}`;
}

function job(ctx: RenderContext, e: Entity): Json {
  const { fixed, version: r } = rngs(ctx, e);
  const status = e.d ? 'ARCHIVED' : r.pick(['OPEN', 'OPEN', 'OPEN', 'CLOSED', 'DRAFT']);
  const from = r.int(40, 90) * 1000;
  return {
    id: e.id,
    remote_id: e.remoteId,
    name: jobName(ctx, e),
    job_code: `JOB-${1000 + e.idx}`,
    description: `<p>Join our ${r.pick(DEPARTMENTS)} team.</p>`,
    confidential: false,
    weekly_hours: 40,
    employment_type: r.pick(['FULL_TIME', 'FULL_TIME', 'PART_TIME', 'CONTRACT', 'INTERNSHIP']),
    status,
    visibility: r.pick(['PUBLIC', 'PUBLIC', 'INTERNAL', 'UNLISTED']),
    category: r.pick(DEPARTMENTS),
    department: r.pick(DEPARTMENTS),
    post_url: `https://jobs.example.com/${e.remoteId}`,
    experience_level: r.pick(['Junior', 'Mid', 'Senior', null]),
    remote_work_status: r.pick(['REMOTE', 'HYBRID', 'ON_SITE']),
    salary_amount: null,
    salary_amount_from: from,
    salary_amount_to: from + 20000,
    salary_currency: 'EUR',
    salary_period: 'YEAR',
    location: fixed.maybe(0.2, () => address(fixed)),
    custom_fields: customFields(r),
    integration_fields: integrationFields(e, r),
    remote_url: `https://ats.example.com/jobs/${e.remoteId}`,
    opened_at: iso(e.createdAt),
    closed_at: status === 'CLOSED' ? iso(e.c) : null,
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    contact_id: e.rel.users?.[0]?.id ?? null,
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
    stages: (e.rel.stages ?? []).map((s) => ({ ...currentStage(ctx, s), remote_data: stage(ctx, s).remote_data })),
    screening_questions: [
      {
        id: `${e.id.slice(0, 20)}sq01`,
        remote_id: `sq-${e.remoteId}-1`,
        title: 'Which is your primary programming language?',
        description: null,
        format: {
          type: 'SINGLE_SELECT',
          options: [
            { id: 'ts', remote_id: 'ts', name: 'TypeScript' },
            { id: 'go', remote_id: 'go', name: 'Go' },
          ],
        },
        category: null,
        index: 0,
        required: true,
      },
    ],
    job_postings: [
      {
        id: `${e.id.slice(0, 20)}jp01`,
        remote_id: `jp-${e.remoteId}`,
        title: jobName(ctx, e),
        description_html: '<p>We are hiring.</p>',
        status: status === 'OPEN' ? 'ACTIVE' : 'INACTIVE',
        visibility: 'PUBLIC',
        url: `https://jobs.example.com/${e.remoteId}/apply`,
        remote_data: r.bool(0.5) ? { [`/${ctx.tool}/job_posts/jp-${e.remoteId}`]: { live: status === 'OPEN' } } : null,
      },
    ],
    hiring_team: (e.rel.users ?? []).map((u, i) => {
      const x = user(ctx, u);
      return {
        id: x.id,
        remote_id: x.remote_id,
        first_name: x.first_name,
        last_name: x.last_name,
        email: x.email,
        hiring_team_roles: [i === 0 ? 'HIRING_MANAGER' : 'RECRUITER'],
        job_roles: (() => {
          const held = e.rel.roles?.[i === 0 ? 0 : 1];
          return held ? [roleAssignment(held)] : [];
        })(),
      };
    }),
  };
}

function candidateCore(ctx: RenderContext, e: Entity) {
  const { fixed } = rngs(ctx, e);
  const { first, last } = person(fixed);
  return { first, last, fixed, email: emailOf(first, last, 'candidates.example.net') };
}

const tagRef = (ctx: RenderContext, t: Entity) => ({
  id: t.id,
  remote_id: t.remoteId,
  name: simpleNamed(ctx, t, TAGS).name,
});

function candidate(ctx: RenderContext, e: Entity): Json {
  const { first, last, fixed, email } = candidateCore(ctx, e);
  const { version: r } = rngs(ctx, e);
  return {
    id: e.id,
    remote_id: e.remoteId,
    first_name: first,
    last_name: last,
    company: r.maybe(0.3, () => r.pick(['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli'])),
    title: r.maybe(0.3, () => r.pick(TITLES)),
    confidential: false,
    source: fixed.pick(SOURCES),
    phone_numbers: [{ phone_number: `+1 555 ${fixed.int(1000000, 9999999)}`, type: 'MOBILE' }],
    email_addresses: [{ email_address: email, type: 'PERSONAL' }],
    social_media: fixed.bool(0.5)
      ? [{ link: `https://www.linkedin.com/in/${first}-${last}`.toLowerCase(), type: 'LINKEDIN', username: null }]
      : [],
    location: fixed.maybe(0.3, () => address(fixed)),
    custom_fields: customFields(r),
    integration_fields: integrationFields(e, r),
    remote_url: `https://ats.example.com/candidates/${e.remoteId}`,
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    ...meta(e),
    remote_data: remoteData(ctx, e, r),
    applications: (e.rel.applications ?? []).map((a) => {
      const x = applicationCore(ctx, a);
      return {
        id: a.id,
        remote_id: a.remoteId,
        outcome: x.outcome,
        rejection_reason_name: x.rejection_reason_name,
        rejected_at: x.rejected_at,
        remote_url: x.remote_url,
        changed_at: iso(a.c),
        remote_created_at: iso(a.createdAt),
        remote_updated_at: iso(a.c),
        current_stage: a.rel.stage ? stageRef(ctx, a.rel.stage) : null,
        job: a.rel.job ? { id: a.rel.job.id, name: jobName(ctx, a.rel.job), remote_id: a.rel.job.remoteId } : null,
      };
    }),
    tags: (e.rel.tags ?? []).map((t) => tagRef(ctx, t)),
  };
}

function applicationCore(ctx: RenderContext, e: Entity) {
  const { version: r } = rngs(ctx, e);
  const outcome = e.d ? 'DECLINED' : r.pick(['PENDING', 'PENDING', 'PENDING', 'HIRED', 'DECLINED']);
  return {
    outcome,
    rejection_reason_name: outcome === 'DECLINED' ? r.pick(REJECTION_REASONS) : null,
    rejected_at: outcome === 'DECLINED' ? iso(e.c) : null,
    remote_url: `https://ats.example.com/applications/${e.remoteId}`,
    r,
  };
}

const jobRef = (ctx: RenderContext, j: Entity | null | undefined) =>
  j ? { id: j.id, remote_id: j.remoteId, name: jobName(ctx, j) } : null;

function application(ctx: RenderContext, e: Entity): Json {
  const { outcome, rejection_reason_name, rejected_at, remote_url, r } = applicationCore(ctx, e);
  const c = e.rel.candidate;
  const cand = c ? candidate(ctx, { ...c, rel: { tags: c.rel.tags ?? [] } }) : null;
  return {
    id: e.id,
    remote_id: e.remoteId,
    outcome,
    rejection_reason_name,
    rejected_at,
    current_stage_id: e.rel.stage?.id ?? null,
    job_id: e.rel.job?.id ?? null,
    candidate_id: c?.id ?? null,
    screening_question_answers: [
      {
        question: { remote_id: 'sq-1', title: 'Which is your primary programming language?', type: 'SINGLE_SELECT' },
        answer: { choice: r.pick(['TypeScript', 'Go']) },
      },
    ],
    custom_fields: customFields(r),
    integration_fields: integrationFields(e, r),
    remote_url,
    ...meta(e),
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    remote_data: remoteData(ctx, e, r),
    candidate: cand
      ? {
          id: cand.id,
          remote_id: cand.remote_id,
          first_name: cand.first_name,
          last_name: cand.last_name,
          email_addresses: cand.email_addresses,
          phone_numbers: cand.phone_numbers,
          social_media: cand.social_media,
          source: cand.source,
          remote_url: cand.remote_url,
          tags: cand.tags,
        }
      : null,
    current_stage: e.rel.stage ? currentStage(ctx, e.rel.stage) : null,
    job: jobRef(ctx, e.rel.job),
    interviews: (e.rel.interviews ?? []).map((i) => {
      const x = interviewCore(ctx, i);
      return {
        id: i.id,
        remote_id: i.remoteId,
        title: x.title,
        starting_at: x.starting_at,
        ending_at: x.ending_at,
        location: x.location,
        canceled: x.canceled,
      };
    }),
    offers: (e.rel.offers ?? []).map((o) => ({ id: o.id, remote_id: o.remoteId, status: offerStatus(ctx, o) })),
  };
}

function applicationRef(ctx: RenderContext, a: Entity | null | undefined): Json | null {
  if (!a) return null;
  const x = applicationCore(ctx, a);
  const c = a.rel.candidate;
  const cc = c ? candidateCore(ctx, c) : null;
  return {
    id: a.id,
    remote_id: a.remoteId,
    outcome: x.outcome,
    rejection_reason_name: x.rejection_reason_name,
    candidate:
      c && cc
        ? {
            id: c.id,
            remote_id: c.remoteId,
            first_name: cc.first,
            last_name: cc.last,
            email_addresses: [{ email_address: cc.email, type: 'PERSONAL' }],
          }
        : null,
    job: jobRef(ctx, a.rel.job),
  };
}

function interviewCore(ctx: RenderContext, e: Entity) {
  const { version: r } = rngs(ctx, e);
  const start = Math.floor(e.createdAt / 3_600_000) * 3_600_000 + r.int(1, 20) * DAY;
  return {
    r,
    title: `Interview ${r.pick(['Technical', 'Culture', 'Hiring manager', 'Case study'])}`,
    starting_at: iso(start),
    ending_at: iso(start + 3_600_000),
    location: r.maybe(0.6, () => address(r)),
    canceled: e.d ? true : r.bool(0.1),
  };
}

function interview(ctx: RenderContext, e: Entity): Json {
  const x = interviewCore(ctx, e);
  return {
    id: e.id,
    remote_id: e.remoteId,
    title: x.title,
    starting_at: x.starting_at,
    ending_at: x.ending_at,
    location: x.location,
    video_conferencing_url: x.r.maybe(0.3, () => `https://meet.example.com/${e.remoteId}`),
    application_id: e.rel.application?.id ?? null,
    stage_id: e.rel.application?.rel.stage?.id ?? null,
    canceled: x.canceled,
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    ...meta(e),
    remote_data: remoteData(ctx, e, x.r),
    users: (e.rel.users ?? []).map((u) => {
      const x2 = user(ctx, u);
      return {
        id: x2.id,
        remote_id: x2.remote_id,
        first_name: x2.first_name,
        last_name: x2.last_name,
        email: x2.email,
      };
    }),
    application: applicationRef(ctx, e.rel.application),
  };
}

function offerStatus(ctx: RenderContext, e: Entity): string {
  return rngs(ctx, e).version.pick(['DRAFT', 'SENT', 'ACCEPTED', 'DECLINED', 'APPROVED']);
}

function offer(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const app = applicationRef(ctx, e.rel.application);
  return {
    id: e.id,
    remote_id: e.remoteId,
    status: offerStatus(ctx, e),
    employment_start_date: day(e.createdAt + r.int(14, 90) * DAY),
    application_id: e.rel.application?.id ?? null,
    custom_fields: customFields(r),
    integration_fields: integrationFields(e, r),
    ...meta(e),
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    remote_data: remoteData(ctx, e, r),
    application: app ? { candidate: app.candidate, job: app.job } : null,
  };
}

function rejectionReason(ctx: RenderContext, e: Entity): Json {
  const { remote_data: _, ...rest } = simpleNamed(ctx, e, REJECTION_REASONS);
  return rest;
}

function note(ctx: RenderContext, e: Entity): Json {
  const { version: r } = rngs(ctx, e);
  const [title, content] = NOTES[e.idx % NOTES.length] as (typeof NOTES)[number];
  const author = e.rel.author ? user(ctx, e.rel.author) : null;
  return {
    id: e.id,
    remote_id: e.remoteId,
    candidate_id: e.rel.candidate?.id,
    application_id: e.rel.application?.id ?? null,
    author_id: author?.id ?? null,
    title,
    content_html: e.v > 1 ? `${content}<p>Edited (${e.v}).</p>` : content,
    // Not every ATS has private notes.
    is_private: ctx.tool === 'lever' ? null : r.bool(0.2),
    remote_created_at: iso(e.createdAt),
    remote_updated_at: iso(e.c),
    ...meta(e),
    author: author && {
      id: author.id,
      remote_id: author.remote_id,
      first_name: author.first_name,
      last_name: author.last_name,
      email: author.email,
    },
  };
}

const RENDERERS: Record<EndpointName, (ctx: RenderContext, e: Entity) => Json> = {
  'hris/employees': employee,
  'hris/employments': employment,
  'hris/groups': group,
  'hris/locations': (ctx, e) => place(ctx, e, true),
  'hris/legal-entities': (ctx, e) => place(ctx, e, false),
  'hris/absence-types': absenceType,
  'hris/absences': absence,
  'hris/time-off-balances': (ctx, e) => ({
    ...balanceCore(ctx, e),
    type: e.rel.type ? absenceType(ctx, e.rel.type) : null,
  }),
  'hris/timesheets': timesheet,
  'hris/staffing-entities': staffingEntity,
  'hris/performance-reviews': performanceReview,
  'hris/performance-review-cycles': (_ctx, e) => reviewCycle(e),
  'ats/applications': application,
  'ats/candidates': candidate,
  'ats/jobs': job,
  'ats/users': user,
  'ats/tags': (ctx, e) => simpleNamed(ctx, e, TAGS),
  'ats/application-stages': stage,
  'ats/interviews': interview,
  'ats/offers': offer,
  'ats/rejection-reasons': rejectionReason,
  'ats/roles': (_ctx, e) => role(e),
  'ats/notes': note,
};

export function render(ctx: RenderContext, e: Entity): Json {
  return RENDERERS[e.kind](ctx, e);
}
