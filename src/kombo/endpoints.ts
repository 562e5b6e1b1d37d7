/**
 * The Kombo list endpoints this connector can mirror, and which webhook model names touch each one.
 * Kept as data: the source is ../shared/reference/kombo-api.md §2.3-2.5 (SDK 1.1.3 and the OAS) and
 * kombo-2026-update.md §2 (ats/notes exists in the Ruby SDK 1.2.6+ only).
 */
export type Category = 'hris' | 'ats';

export interface EndpointSpec {
  /** `<category>/<path segment>`, e.g. `hris/employees`: the name operators use in config. */
  readonly name: EndpointName;
  readonly category: Category;
  /** The URL path segment after `/v1/<category>/`. */
  readonly path: string;
}

export const ENDPOINT_NAMES = [
  'hris/employees',
  'hris/employments',
  'hris/groups',
  'hris/locations',
  'hris/legal-entities',
  'hris/absence-types',
  'hris/absences',
  'hris/time-off-balances',
  'hris/timesheets',
  'hris/staffing-entities',
  'hris/performance-reviews',
  'hris/performance-review-cycles',
  'ats/applications',
  'ats/candidates',
  'ats/jobs',
  'ats/users',
  'ats/tags',
  'ats/application-stages',
  'ats/interviews',
  'ats/offers',
  'ats/rejection-reasons',
  'ats/roles',
  'ats/notes',
] as const;

export type EndpointName = (typeof ENDPOINT_NAMES)[number];

export const ENDPOINTS: readonly EndpointSpec[] = ENDPOINT_NAMES.map((name) => {
  const [category, path] = name.split('/') as [Category, string];
  return { name, category, path };
});

export function isEndpointName(value: string): value is EndpointName {
  return (ENDPOINT_NAMES as readonly string[]).includes(value);
}

export function endpointSpec(name: EndpointName): EndpointSpec {
  const spec = ENDPOINTS.find((e) => e.name === name);
  if (!spec) throw new Error(`unknown endpoint ${name}`);
  return spec;
}

/** Postgres table name inside the sink schema: `hris_legal_entities`. */
export function tableName(name: EndpointName): string {
  return name.replace('/', '_').replaceAll('-', '_');
}
