import type { EndpointName } from './endpoints.ts';

/**
 * Which endpoints to re-fetch when a `data-changed` webhook names a model: kombo-api.md §2.5 and
 * kombo-2026-update.md §3 (model names from SDK 1.1.3, 1.3.4 and Ruby 1.2.8), mapping a model to its
 * own endpoint and to every endpoint that nests it in a way `updated_after` reports (§2.4 and the
 * SDKs' per-endpoint tables). Models of endpoints we do not mirror (document categories, employee
 * skill ratings, LMS) map to nothing; skills map to staffing entities, which nest them.
 */
export const MODEL_ENDPOINTS: Readonly<Record<string, readonly EndpointName[]>> = {
  hris_employees: ['hris/employees', 'hris/performance-reviews'],
  hris_employments: ['hris/employments', 'hris/employees'],
  hris_teams: ['hris/groups', 'hris/employees', 'hris/staffing-entities'],
  hris_join_employees_teams: ['hris/employees'],
  hris_locations: ['hris/locations', 'hris/employees', 'hris/staffing-entities'],
  hris_legal_entities: ['hris/legal-entities', 'hris/employees', 'hris/staffing-entities'],
  hris_absence_types: ['hris/absence-types', 'hris/absences', 'hris/time-off-balances'],
  hris_absences: ['hris/absences'],
  hris_time_off_balances: ['hris/time-off-balances', 'hris/employees'],
  hris_timesheets: ['hris/timesheets'],
  hris_employee_document_categories: [],
  hris_performance_reviews: ['hris/performance-reviews'],
  hris_performance_review_cycles: ['hris/performance-review-cycles', 'hris/performance-reviews'],
  hris_staffing_entities: ['hris/staffing-entities'],
  hris_join_staffing_entities_locations: ['hris/staffing-entities'],
  hris_join_staffing_entities_legal_entities: ['hris/staffing-entities'],
  hris_join_staffing_entities_groups: ['hris/staffing-entities'],
  hris_skill_proficiency_scales: ['hris/staffing-entities'],
  hris_skills: ['hris/staffing-entities'],
  hris_skill_rating_providers: [],
  hris_employee_skill_proficiency_ratings: [],
  hris_join_staffing_entities_skills: ['hris/staffing-entities'],
  ats_applications: ['ats/applications', 'ats/candidates', 'ats/interviews', 'ats/offers'],
  ats_candidates: ['ats/candidates', 'ats/applications'],
  ats_jobs: ['ats/jobs'],
  ats_job_postings: ['ats/jobs'],
  ats_screening_questions: ['ats/jobs'],
  ats_join_jobs_screening_questions: ['ats/jobs'],
  ats_application_stages: ['ats/application-stages', 'ats/applications'],
  ats_join_jobs_application_stages: ['ats/jobs'],
  ats_users: ['ats/users'],
  ats_join_jobs_users: ['ats/jobs'],
  ats_join_user_job_role_assignments: ['ats/jobs'],
  ats_join_users_roles: ['ats/users'],
  ats_tags: ['ats/tags'],
  ats_join_candidates_tags: ['ats/candidates'],
  ats_interviews: ['ats/interviews', 'ats/applications'],
  ats_join_interviews_users: ['ats/interviews'],
  ats_offers: ['ats/offers', 'ats/applications'],
  ats_rejection_reasons: ['ats/rejection-reasons'],
  ats_roles: ['ats/roles', 'ats/users'],
  ats_notes: ['ats/notes'],
};

/**
 * Endpoints to re-fetch for a set of changed models, restricted to what the operator mirrors. A
 * model name not in the map (Kombo adds models over time) re-fetches nothing: the caller reports it
 * (`unknownModels`), and the weekly full fetch reads whatever it may have changed.
 */
export function endpointsForModels(models: readonly string[], mirrored: readonly EndpointName[]): EndpointName[] {
  const out = new Set(models.flatMap((m) => MODEL_ENDPOINTS[m] ?? []));
  return mirrored.filter((e) => out.has(e));
}

/** The model names of a data-changed webhook that the map does not know. */
export function unknownModels(models: readonly string[]): string[] {
  return models.filter((m) => !Object.hasOwn(MODEL_ENDPOINTS, m));
}

/**
 * Where an endpoint's records appear nested inside another endpoint's (the paths of the nested
 * records in schemas/; `[]` steps into an array). An exclusion of an endpoint's field applies at each
 * of these places too: excluding hris/employments.pay_rate must also keep it out of every employee's
 * `employments`.
 */
export const NESTED_IN: Readonly<Partial<Record<EndpointName, readonly { endpoint: EndpointName; path: string }[]>>> = {
  'hris/employments': [{ endpoint: 'hris/employees', path: 'employments' }],
  'hris/time-off-balances': [{ endpoint: 'hris/employees', path: 'time_off_balances' }],
  'hris/groups': [
    { endpoint: 'hris/employees', path: 'groups' },
    { endpoint: 'hris/staffing-entities', path: 'groups' },
  ],
  'hris/legal-entities': [
    { endpoint: 'hris/employees', path: 'legal_entity' },
    { endpoint: 'hris/staffing-entities', path: 'legal_entities' },
  ],
  'hris/locations': [
    { endpoint: 'hris/employees', path: 'work_location' },
    { endpoint: 'hris/staffing-entities', path: 'locations' },
  ],
  'hris/employees': [
    { endpoint: 'hris/employees', path: 'manager' },
    { endpoint: 'hris/performance-reviews', path: 'reviewee' },
    { endpoint: 'hris/performance-reviews', path: 'reviewer' },
  ],
  'hris/performance-review-cycles': [{ endpoint: 'hris/performance-reviews', path: 'review_cycle' }],
  'hris/absence-types': [
    { endpoint: 'hris/absences', path: 'type' },
    { endpoint: 'hris/time-off-balances', path: 'type' },
  ],
  'ats/candidates': [
    { endpoint: 'ats/applications', path: 'candidate' },
    { endpoint: 'ats/interviews', path: 'application.candidate' },
    { endpoint: 'ats/offers', path: 'application.candidate' },
  ],
  'ats/applications': [
    { endpoint: 'ats/candidates', path: 'applications' },
    { endpoint: 'ats/interviews', path: 'application' },
    { endpoint: 'ats/offers', path: 'application' },
  ],
  'ats/interviews': [{ endpoint: 'ats/applications', path: 'interviews' }],
  'ats/offers': [{ endpoint: 'ats/applications', path: 'offers' }],
  'ats/jobs': [
    { endpoint: 'ats/applications', path: 'job' },
    { endpoint: 'ats/candidates', path: 'applications.job' },
    { endpoint: 'ats/interviews', path: 'application.job' },
    { endpoint: 'ats/offers', path: 'application.job' },
  ],
  'ats/application-stages': [
    { endpoint: 'ats/applications', path: 'current_stage' },
    { endpoint: 'ats/candidates', path: 'applications.current_stage' },
    { endpoint: 'ats/jobs', path: 'stages' },
  ],
  'ats/tags': [
    { endpoint: 'ats/candidates', path: 'tags' },
    { endpoint: 'ats/applications', path: 'candidate.tags' },
  ],
  'ats/users': [
    { endpoint: 'ats/interviews', path: 'users' },
    { endpoint: 'ats/notes', path: 'author' },
  ],
  'ats/roles': [
    { endpoint: 'ats/users', path: 'system_roles' },
    { endpoint: 'ats/jobs', path: 'hiring_team.job_roles' },
  ],
};
