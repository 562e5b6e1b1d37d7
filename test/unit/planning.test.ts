import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { tokenMatches } from '../../src/ingress/admin.ts';
import { ENDPOINT_NAMES } from '../../src/kombo/endpoints.ts';
import { endpointsForModels, MODEL_ENDPOINTS, unknownModels } from '../../src/kombo/models.ts';
import { parseWebhook } from '../../src/kombo/webhooks.ts';
import { createLogger } from '../../src/observability/log.ts';
import { coalesce, planEvent } from '../../src/planner/plan.ts';
import { cronPeriodMs, nextCronAfter } from '../../src/planner/schedule.ts';
import { Scheduler } from '../../src/planner/scheduler.ts';
import { newTask } from '../../src/planner/task.ts';

const NOW = new Date('2026-11-18T10:00:00Z');

// Every changed_models name in kombo-api.md §2.5 (SDK 1.1.3 plus 1.3.4) and kombo-2026-update.md §3.
const REFERENCE_MODELS =
  `hris_employees hris_employments hris_teams hris_join_employees_teams hris_locations hris_legal_entities
hris_absence_types hris_absences hris_time_off_balances hris_timesheets hris_employee_document_categories hris_performance_reviews
hris_performance_review_cycles hris_staffing_entities hris_join_staffing_entities_locations hris_join_staffing_entities_legal_entities
hris_join_staffing_entities_groups hris_skill_proficiency_scales hris_skills hris_skill_rating_providers
hris_employee_skill_proficiency_ratings hris_join_staffing_entities_skills ats_applications ats_candidates ats_jobs ats_job_postings
ats_screening_questions ats_join_jobs_screening_questions ats_application_stages ats_join_jobs_application_stages ats_users
ats_join_jobs_users ats_join_user_job_role_assignments ats_join_users_roles ats_tags ats_join_candidates_tags ats_interviews
ats_join_interviews_users ats_offers ats_rejection_reasons ats_roles ats_notes`.split(/\s+/);

const dataChanged = (models: string[], category = 'HRIS') => ({
  id: 'evt1',
  type: 'data-changed',
  data: {
    integration_id: 'personio:abc',
    integration_tool: 'personio',
    integration_category: category,
    changed_models: models.map((name) => ({ name })),
  },
});

const parse = (o: unknown) => {
  const r = parseWebhook(JSON.stringify(o));
  if (!r.ok) throw new Error(r.reason);
  return r.event;
};

describe('model -> endpoint map', () => {
  it('covers every model name of the reference, and nothing unknown', () => {
    expect(Object.keys(MODEL_ENDPOINTS).sort()).toEqual([...REFERENCE_MODELS].sort());
  });
  it('re-fetches nesting endpoints too (employments nest in employees)', () => {
    expect(endpointsForModels(['hris_employments'], ENDPOINT_NAMES)).toEqual(['hris/employees', 'hris/employments']);
    expect(endpointsForModels(['hris_join_employees_teams'], ENDPOINT_NAMES)).toEqual(['hris/employees']);
    expect(endpointsForModels(['hris_performance_review_cycles'], ENDPOINT_NAMES)).toEqual([
      'hris/performance-reviews',
      'hris/performance-review-cycles',
    ]);
    expect(endpointsForModels(['hris_join_staffing_entities_groups'], ENDPOINT_NAMES)).toEqual([
      'hris/staffing-entities',
    ]);
    expect(endpointsForModels(['ats_roles'], ENDPOINT_NAMES)).toEqual(['ats/users', 'ats/roles']);
    expect(endpointsForModels(['ats_notes'], ENDPOINT_NAMES)).toEqual(['ats/notes']);
    expect(endpointsForModels(['hris_employee_document_categories'], ENDPOINT_NAMES)).toEqual([]);
  });
  it('keeps to the mirrored endpoints', () => {
    expect(endpointsForModels(['hris_employments'], ['hris/employments'])).toEqual(['hris/employments']);
  });
  it('re-fetches nothing for a model it does not know, and names it', () => {
    expect(endpointsForModels(['hris_new_thing', 'ats_new_thing'], ENDPOINT_NAMES)).toEqual([]);
    expect(unknownModels(['hris_new_thing', 'hris_employees', 'lms_courses'])).toEqual([
      'hris_new_thing',
      'lms_courses',
    ]);
    const plan = planEvent(parse(dataChanged(['hris_new_thing', 'hris_timesheets'])), ENDPOINT_NAMES, NOW);
    expect(plan.tasks.map((t) => t.endpoint)).toEqual(['hris/timesheets']);
    expect(plan.unknownModels).toEqual(['hris_new_thing']);
  });
});

describe('webhook payloads', () => {
  it('accepts the documented shapes and unknown types', () => {
    expect(parseWebhook(JSON.stringify(dataChanged(['hris_employees']))).ok).toBe(true);
    const created = {
      id: 'e2',
      type: 'integration-created',
      data: {
        id: 'x:1',
        tool: 'x',
        category: 'ATS',
        end_user: { organization_name: 'A', creator_email: null, origin_id: null },
      },
    };
    expect(parseWebhook(JSON.stringify(created)).ok).toBe(true);
    const future = parseWebhook(JSON.stringify({ id: 'e3', type: 'brand-new-event', data: { anything: 1 } }));
    expect(future.ok && 'known' in future.event).toBe(true);
  });
  it('refuses malformed bodies with a reason', () => {
    const r1 = parseWebhook('{not json');
    expect(r1).toEqual({ ok: false, reason: 'body is not valid JSON' });
    const r2 = parseWebhook(JSON.stringify({ id: 'x', type: 'data-changed', data: { integration_id: 'a' } }));
    expect(r2.ok).toBe(false);
    expect(!r2.ok && r2.reason).toMatch(/invalid data-changed payload/);
    expect(parseWebhook(JSON.stringify([1, 2])).ok).toBe(false);
    expect(parseWebhook(JSON.stringify({ id: '', type: 'data-changed', data: {} })).ok).toBe(false);
  });
});

describe('planning', () => {
  it('data-changed -> deltas of the mirrored endpoints of its category', () => {
    const plan = planEvent(parse(dataChanged(['hris_employments', 'ats_jobs'])), ENDPOINT_NAMES, NOW);
    expect(plan.tasks.map((t) => [t.endpoint, t.mode])).toEqual([
      ['hris/employees', 'delta'],
      ['hris/employments', 'delta'],
    ]);
    expect(plan.integration).toMatchObject({ integration_id: 'personio:abc', webhook: true });
  });
  it('integration-created -> full fetches; integration-deleted -> purges; sync-finished -> every endpoint', () => {
    const created = planEvent(
      parse({ id: 'c', type: 'integration-created', data: { id: 'g:1', tool: 'greenhouse', category: 'ATS' } }),
      ENDPOINT_NAMES,
      NOW,
    );
    expect(created.tasks).toHaveLength(11);
    expect(new Set(created.tasks.map((t) => t.mode))).toEqual(new Set(['full']));
    const deleted = planEvent(
      parse({
        id: 'd',
        type: 'integration-deleted',
        data: { id: 'g:1', tool: 'greenhouse', category: 'ATS', deleted_at: '2026-01-01T00:00:00Z' },
      }),
      ENDPOINT_NAMES,
      NOW,
    );
    expect(new Set(deleted.tasks.map((t) => t.mode))).toEqual(new Set(['purge']));
    expect(deleted.integration?.deleted).toBe(true);
    const finished = planEvent(
      parse({
        id: 's',
        type: 'sync-finished',
        data: {
          sync_id: 's',
          sync_state: 'SUCCEEDED',
          integration_id: 'p:1',
          integration_tool: 'p',
          integration_category: 'HRIS',
        },
      }),
      ENDPOINT_NAMES,
      NOW,
    );
    expect(finished.tasks).toHaveLength(12);
  });
  it('unknown events plan nothing', () => {
    expect(planEvent(parse({ id: 'u', type: 'brand-new-event', data: {} }), ENDPOINT_NAMES, NOW).tasks).toEqual([]);
  });
  it('coalesces duplicates within a batch, keeping the earliest', () => {
    const a = newTask({
      integration_id: 'i',
      endpoint: 'hris/employees',
      mode: 'delta',
      reason: 'a',
      requested_at: NOW,
    });
    const b = newTask({
      integration_id: 'i',
      endpoint: 'hris/employees',
      mode: 'delta',
      reason: 'b',
      requested_at: NOW,
    });
    const c = newTask({
      integration_id: 'i',
      endpoint: 'hris/employees',
      mode: 'full',
      reason: 'c',
      requested_at: NOW,
    });
    expect(coalesce([a, b, c])).toEqual([a, c]);
  });
});

describe('schedules', () => {
  it('computes the weekly Sunday 02:00 drift schedule and its period', () => {
    const next = nextCronAfter('0 2 * * 0', 'UTC', new Date('2026-11-18T10:00:00Z'));
    expect(next.toISOString()).toBe('2026-11-22T02:00:00.000Z');
    expect(cronPeriodMs('0 2 * * 0', 'UTC', new Date('2026-11-18T10:00:00Z'))).toBe(7 * 86_400_000);
  });
});

describe('admin token', () => {
  it('matches only the exact bearer token', () => {
    expect(tokenMatches('s3cret-admin-token-123', 'Bearer s3cret-admin-token-123')).toBe(true);
    expect(tokenMatches('s3cret-admin-token-123', 'Bearer s3cret-admin-token-12')).toBe(false);
    expect(tokenMatches('s3cret-admin-token-123', 's3cret-admin-token-123')).toBe(false);
    expect(tokenMatches('s3cret-admin-token-123', undefined)).toBe(false);
  });
});

describe('scheduler shutdown', () => {
  it('does not arm its timer again when stopped during a tick (a planner would never exit)', async () => {
    let ticks = 0;
    let release: () => void = () => {};
    const store = {
      pool: { query: async () => ({ rows: [{ t: new Date() }] }) },
      stateSchema: 'kombo_stream',
      listIntegrations: async () => {
        ticks++;
        await new Promise<void>((r) => (release = r));
        return [];
      },
    };
    const config = loadConfig({
      env: { KAFKA_BROKERS: '127.0.0.1:9092', DATABASE_URL: 'postgres://u@127.0.0.1/db', SCHEDULER_TICK: '20ms' },
    });
    const sch = new Scheduler({
      config,
      store: store as never,
      producer: {} as never,
      logger: createLogger({ level: 'silent' }),
    });
    sch.start();
    while (ticks === 0) await new Promise((r) => setTimeout(r, 5));
    const stopped = sch.stop();
    release();
    await stopped;
    await new Promise((r) => setTimeout(r, 100));
    expect(ticks).toBe(1);
  });
});
