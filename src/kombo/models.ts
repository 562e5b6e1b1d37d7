import type { EndpointName } from './endpoints.ts';

/**
 * Which endpoints to re-fetch when a `data-changed` webhook names a model: kombo-api.md §2.5 (model
 * names from SDK 1.1.3 and 1.3.4), mapping a model to its own endpoint and to every endpoint that
 * nests it in a way `updated_after` reports (§2.4). Models of endpoints we do not mirror (reviews,
 * staffing entities, skills, rejection reasons, roles, document categories, LMS) map to nothing.
 */
export const MODEL_ENDPOINTS: Readonly<Record<string, readonly EndpointName[]>> = {
  hris_employees: ['hris/employees'],
  hris_employments: ['hris/employments', 'hris/employees'],
  hris_teams: ['hris/groups', 'hris/employees'],
  hris_join_employees_teams: ['hris/employees'],
  hris_locations: ['hris/locations', 'hris/employees'],
  hris_legal_entities: ['hris/legal-entities', 'hris/employees'],
  hris_absence_types: ['hris/absence-types', 'hris/absences', 'hris/time-off-balances'],
  hris_absences: ['hris/absences'],
  hris_time_off_balances: ['hris/time-off-balances', 'hris/employees'],
  hris_timesheets: ['hris/timesheets'],
  hris_employee_document_categories: [],
  hris_performance_reviews: [],
  hris_performance_review_cycles: [],
  hris_staffing_entities: [],
  hris_join_staffing_entities_locations: [],
  hris_join_staffing_entities_legal_entities: [],
  hris_join_staffing_entities_groups: [],
  hris_skill_proficiency_scales: [],
  hris_skills: [],
  hris_skill_rating_providers: [],
  hris_employee_skill_proficiency_ratings: [],
  hris_join_staffing_entities_skills: [],
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
  ats_rejection_reasons: [],
  ats_roles: [],
};

/**
 * Endpoints to re-fetch for a set of changed models, restricted to what the operator mirrors. An
 * unknown model name (Kombo adds models over time) re-fetches every mirrored endpoint of its
 * category, so a new model can cost a fetch but never a missed change.
 */
export function endpointsForModels(models: readonly string[], mirrored: readonly EndpointName[]): EndpointName[] {
  const out = new Set<EndpointName>();
  for (const m of models) {
    const known = MODEL_ENDPOINTS[m];
    if (known) for (const e of known) out.add(e);
    else if (m.startsWith('hris_') || m.startsWith('ats_')) {
      const cat = m.slice(0, m.indexOf('_'));
      for (const e of mirrored) if (e.startsWith(`${cat}/`)) out.add(e);
    }
  }
  return mirrored.filter((e) => out.has(e));
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
  'hris/groups': [{ endpoint: 'hris/employees', path: 'groups' }],
  'hris/legal-entities': [{ endpoint: 'hris/employees', path: 'legal_entity' }],
  'hris/locations': [{ endpoint: 'hris/employees', path: 'work_location' }],
  'hris/employees': [{ endpoint: 'hris/employees', path: 'manager' }],
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
  'ats/users': [{ endpoint: 'ats/interviews', path: 'users' }],
};
