import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kombo } from '@kombo-api/sdk';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENDPOINTS, type EndpointName } from '../../src/kombo/endpoints.ts';
import { signWebhook, verifyWebhook } from '../../src/kombo/signature.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';

// SDK method per endpoint: proves the simulator's responses parse with Kombo's official client.
// ats/notes is newer than SDK 1.1.3 (Ruby SDK 1.2.6); sim-conformance.test.ts checks it.
const SDK: Record<
  Exclude<EndpointName, 'ats/notes'>,
  (k: Kombo, page_size: number) => Promise<AsyncIterable<{ result: { data: { results: unknown[] } } }>>
> = {
  'hris/employees': (k, p) => k.hris.getEmployees({ page_size: p, include_deleted: true }),
  'hris/employments': (k, p) => k.hris.getEmployments({ page_size: p, include_deleted: true }),
  'hris/groups': (k, p) => k.hris.getGroups({ page_size: p, include_deleted: true }),
  'hris/locations': (k, p) => k.hris.getLocations({ page_size: p, include_deleted: true }),
  'hris/legal-entities': (k, p) => k.hris.getLegalEntities({ page_size: p, include_deleted: true }),
  'hris/absence-types': (k, p) => k.hris.getAbsenceTypes({ page_size: p, include_deleted: true }),
  'hris/absences': (k, p) => k.hris.getAbsences({ page_size: p, include_deleted: true }),
  'hris/time-off-balances': (k, p) => k.hris.getTimeOffBalances({ page_size: p, include_deleted: true }),
  'hris/timesheets': (k, p) => k.hris.getTimesheets({ page_size: p, include_deleted: true }),
  'hris/staffing-entities': (k, p) => k.hris.getStaffingEntities({ page_size: p, include_deleted: true }),
  'hris/performance-reviews': (k, p) => k.hris.getPerformanceReviews({ page_size: p, include_deleted: true }),
  'hris/performance-review-cycles': (k, p) =>
    k.hris.getPerformanceReviewCycles({ page_size: p, include_deleted: true }),
  'ats/applications': (k, p) => k.ats.getApplications({ page_size: p, include_deleted: true }),
  'ats/candidates': (k, p) => k.ats.getCandidates({ page_size: p, include_deleted: true }),
  'ats/jobs': (k, p) => k.ats.getJobs({ page_size: p, include_deleted: true }),
  'ats/users': (k, p) => k.ats.getUsers({ page_size: p, include_deleted: true }),
  'ats/tags': (k, p) => k.ats.getTags({ page_size: p, include_deleted: true }),
  'ats/application-stages': (k, p) => k.ats.getApplicationStages({ page_size: p, include_deleted: true }),
  'ats/interviews': (k, p) => k.ats.getInterviews({ page_size: p, include_deleted: true }),
  'ats/offers': (k, p) => k.ats.getOffers({ page_size: p, include_deleted: true }),
  'ats/rejection-reasons': (k, p) => k.ats.getRejectionReasons({ page_size: p, include_deleted: true }),
  'ats/roles': (k, p) => k.ats.getRoles({ page_size: p, include_deleted: true }),
};

const SECRET = 'whsec_sim_test';
let sim: Simulator;
let receiver: Server;
let receiverUrl: string;
const received: { body: string; signature: string }[] = [];
let failNext = 0;
let HRIS: string;
let ATS: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
        return;
      }
      received.push({ body: Buffer.concat(chunks).toString(), signature: String(req.headers['x-kombo-signature']) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  sim = await startSimulator({
    seed: 3,
    integrations: [
      { category: 'HRIS', size: 40 },
      { category: 'ATS', size: 40 },
    ],
    webhook: { url: receiverUrl, secret: SECRET, retryBaseMs: 10, legacySyncFinished: true },
  });
  [HRIS, ATS] = sim.core.integrations().map((i) => i.id) as [string, string];
});

afterAll(async () => {
  await sim?.stop();
  await new Promise((r) => receiver?.close(r));
});

async function get(path: string, opts: { integration?: string; key?: string } = {}) {
  const res = await request(`${sim.url}${path}`, {
    headers: {
      authorization: `Bearer ${opts.key ?? sim.apiKey}`,
      ...(opts.integration ? { 'x-integration-id': opts.integration } : {}),
    },
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as any };
}

async function listAll(endpoint: string, integration: string, query = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const r = await get(`/${endpoint}?page_size=50${query}${cursor ? `&cursor=${cursor}` : ''}`, { integration });
    expect(r.status).toBe(200);
    out.push(...r.body.data.results);
    cursor = r.body.data.next;
  } while (cursor);
  return out;
}

describe('the simulator speaks Kombo API (official SDK as client)', () => {
  for (const { name, category } of ENDPOINTS.filter((e) => e.name !== 'ats/notes')) {
    it(`${name} parses with @kombo-api/sdk across pages and matches the truth`, async () => {
      const integration = category === 'hris' ? HRIS : ATS;
      const kombo = new Kombo({ api_key: sim.apiKey, integration_id: integration, server_url: sim.url });
      let n = 0;
      let pages = 0;
      for await (const page of await SDK[name as keyof typeof SDK](kombo, 7)) {
        n += page.result.data.results.length;
        pages++;
      }
      expect(n).toBe(sim.core.truth(integration, name).length);
      if (n > 7) expect(pages).toBeGreaterThan(1);
    });
  }
  it('check-api-key answers', async () => {
    const kombo = new Kombo({ api_key: sim.apiKey, server_url: sim.url });
    expect((await kombo.general.checkApiKey()).data.environment_id).toBeTruthy();
  });
});

describe('API rules', () => {
  it('refuses a missing or wrong API key with 401 in Kombo error shape', async () => {
    const r = await get('/hris/employees', { integration: HRIS, key: 'nope' });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ status: 'error', error: { code: 'PLATFORM.AUTHENTICATION_INVALID' } });
    expect(Object.keys(r.body.error).sort()).toEqual(['code', 'log_url', 'message', 'title']);
  });

  it('404s an unknown integration', async () => {
    const r = await get('/hris/employees', { integration: 'personio:doesnotexist0000000000000' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('PLATFORM.INTEGRATION_NOT_FOUND');
  });

  it('answers setup-sync-pending before an integration first synced', async () => {
    const i = await (async () => {
      sim.core.syncDurationMs = 300;
      const created = sim.core.createIntegration({ category: 'HRIS', size: 3 });
      await new Promise((r) => setTimeout(r, 50));
      const id = sim.core.integrations().at(-1)?.id as string;
      const pending = await get('/hris/employees', { integration: id });
      await created;
      sim.core.syncDurationMs = 0;
      return { id, pending };
    })();
    // 409 since 2026-05 (503 before): kombo-2026-update.md §4.
    expect(i.pending.status).toBe(409);
    expect(i.pending.body.error.code).toBe('INTEGRATION.SETUP_SYNC_PENDING');
    expect((await get('/hris/employees', { integration: i.id })).status).toBe(200);
  });

  it('serves GET /integrations/{id} as the SDK reads it, and refuses data by the integration state', async () => {
    const created = await sim.core.createIntegration({ category: 'HRIS', size: 3, unavailable: ['hris/timesheets'] });
    const sdk = new Kombo({ api_key: sim.apiKey, server_url: sim.url });
    const details = await sdk.general.getIntegrationDetails({ integration_id: created.id });
    expect(details.data).toMatchObject({
      id: created.id,
      category: 'HRIS',
      status: 'ACTIVE',
      setup_status: 'COMPLETED',
    });
    const models = new Map(details.data.read_models.map((m) => [m.id, m.is_available]));
    // Every model of the category is listed, the one its tool lacks as unavailable.
    expect(models.get('hris_timesheets')).toBe(false);
    expect(models.get('hris_employees')).toBe(true);
    expect(models.get('hris_teams')).toBe(true);
    expect((await get('/hris/timesheets', { integration: created.id })).body.error.code).toBe(
      'INTEGRATION.MODEL_NOT_AVAILABLE',
    );
    expect(sim.core.truth(created.id, 'hris/timesheets')).toEqual([]);
    const unknown = await request(`${sim.url}/integrations/nope`, {
      headers: { authorization: `Bearer ${sim.apiKey}` },
    });
    expect(unknown.statusCode).toBe(404);
    expect(((await unknown.body.json()) as { error: { code: string } }).error.code).toBe(
      'PLATFORM.INTEGRATION_NOT_FOUND',
    );
    for (const [patch, code] of [
      [{ status: 'INACTIVE' }, 'INTEGRATION.INACTIVE'],
      [{ status: 'INVALID' }, 'INTEGRATION.AUTHENTICATION_INVALID'],
      [{ status: 'ACTIVE', setupIncomplete: true }, 'INTEGRATION.SETUP_INCOMPLETE'],
      [{ setupIncomplete: false, qaStatus: 'FAILED' }, 'INTEGRATION.QA_FAILED'],
    ] as const) {
      sim.core.setLifecycle(created.id, patch);
      expect((await get('/hris/employees', { integration: created.id })).body.error.code).toBe(code);
    }
    sim.core.setLifecycle(created.id, { qaStatus: 'PASSED' });
    expect((await get('/hris/employees', { integration: created.id })).status).toBe(200);
  });

  it('bounds page_size to 1..250 with a default of 100', async () => {
    expect((await get('/hris/employments?page_size=0', { integration: HRIS })).status).toBe(400);
    expect((await get('/hris/employments?page_size=251', { integration: HRIS })).status).toBe(400);
    expect((await get('/hris/employments?page_size=250', { integration: HRIS })).status).toBe(200);
    const all = sim.core.truth(HRIS, 'hris/employments', { includeDeleted: false }).length;
    expect((await get('/hris/employments', { integration: HRIS })).body.data.results).toHaveLength(Math.min(100, all));
  });

  it('refuses a bad cursor, and a cursor replayed with other filters, with 400 INPUT_INVALID', async () => {
    const bad = await get('/hris/employees?cursor=garbage!!', { integration: HRIS });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('PLATFORM.INPUT_INVALID');
    const first = await get('/hris/employees?page_size=5', { integration: HRIS });
    const next = first.body.data.next as string;
    expect((await get(`/hris/employees?page_size=5&cursor=${next}`, { integration: HRIS })).status).toBe(200);
    const other = await get(`/hris/employees?page_size=5&include_deleted=true&cursor=${next}`, { integration: HRIS });
    expect(other.status).toBe(400);
  });

  it('filters by ids and remote_ids (AND), and 404s an unknown id', async () => {
    const [a, b] = sim.core.truth(HRIS, 'hris/employees') as any[];
    const r = await get(`/hris/employees?ids=${a.id},${b.id}`, { integration: HRIS });
    expect(r.body.data.results.map((x: any) => x.id).sort()).toEqual([a.id, b.id].sort());
    const both = await get(`/hris/employees?ids=${a.id},${b.id}&remote_ids=${a.remote_id}`, { integration: HRIS });
    expect(both.body.data.results.map((x: any) => x.id)).toEqual([a.id]);
    expect((await get('/hris/employees?ids=unknownunknownunknown123', { integration: HRIS })).status).toBe(404);
  });

  it('sends rate-limit headers and 429s beyond the limit', async () => {
    const r = await get('/hris/groups', { integration: HRIS });
    expect(Number(r.headers['ratelimit-limit'])).toBeGreaterThan(0);
    expect(r.headers['ratelimit-remaining']).toBeDefined();
    expect(r.headers['ratelimit-reset']).toBeDefined();
    const saved = sim.core.rateLimit;
    sim.core.rateLimit = { limit: 2, windowMs: 60_000 };
    try {
      const codes = [];
      for (let k = 0; k < 4; k++) codes.push((await get('/hris/groups', { integration: HRIS })).status);
      expect(codes).toContain(429);
    } finally {
      sim.core.rateLimit = saved;
    }
  });

  const forceSync = async (body?: unknown) => {
    const res = await request(`${sim.url}/force-sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sim.apiKey}`, 'x-integration-id': HRIS, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: (await res.body.json()) as any };
  };

  it('force-sync starts a full sync unless told otherwise, and says when one is already running', async () => {
    sim.core.syncDurationMs = 300;
    try {
      sim.core.queue(HRIS, [{ op: 'create', endpoint: 'hris/timesheets' }]);
      const first = await forceSync();
      expect(first.body.data).toMatchObject({ already_queued: false, type: 'FULL' });
      // One sync per integration, running or queued: a second request gets that one, whatever it asks.
      const second = await forceSync({ type: 'DELTA' });
      expect(second.body.data).toEqual({ already_queued: true, sync_id: first.body.data.sync_id, type: 'FULL' });
      await sim.core.settle();
      const third = await forceSync({ type: 'DELTA' });
      expect(third.body.data).toMatchObject({ already_queued: false, type: 'DELTA' });
      expect(third.body.data.sync_id).not.toBe(first.body.data.sync_id);
      await sim.core.settle();
    } finally {
      sim.core.syncDurationMs = 0;
    }
    for (const bad of [{ type: 'PARTIAL' }, '{not json'])
      expect(await forceSync(bad)).toMatchObject({ status: 400, body: { error: { code: 'PLATFORM.INPUT_INVALID' } } });
  });

  it('refuses endpoint filters it does not implement with 400 INPUT_INVALID, rather than ignoring them', async () => {
    const refused = await get('/hris/employees?employment_statuses=ACTIVE', { integration: HRIS });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'PLATFORM.INPUT_INVALID' });
    expect(refused.body.error.message).toContain('employment_statuses');
    expect((await get('/ats/notes?candidate_ids=x', { integration: ATS })).status).toBe(400);
    expect((await get('/hris/groups?ignore_unsupported_filters=maybe', { integration: HRIS })).status).toBe(400);
    // The common parameters, as the SDK sends them, are served.
    expect(
      (await get('/hris/groups?ignore_unsupported_filters=false&include_deleted=true', { integration: HRIS })).status,
    ).toBe(200);
  });
});

describe('changes and updated_after (kombo-api.md §2.4)', () => {
  const since = async () => {
    await new Promise((r) => setTimeout(r, 5));
    const t = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    return t;
  };
  const ids = (records: any[]) => records.map((r) => r.id);

  it('an own-field update moves changed_at and matches', async () => {
    const t = await since();
    const e = sim.core.truth(HRIS, 'hris/employees')[3] as any;
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/employees', id: e.id }]);
    const got = await listAll('hris/employees', HRIS, `&updated_after=${t}`);
    expect(ids(got)).toContain(e.id);
    expect(Date.parse(got.find((x) => x.id === e.id).changed_at)).toBeGreaterThan(Date.parse(t));
  });

  it('a nested employment change matches the employee although its changed_at stays', async () => {
    const emp = (sim.core.truth(HRIS, 'hris/employees') as any[]).find(
      (x) => x.employments.length && !x.remote_deleted_at,
    );
    const t = await since();
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/employments', id: emp.employments[0].id }]);
    const got = (await listAll('hris/employees', HRIS, `&updated_after=${t}`)).find((x) => x.id === emp.id);
    expect(got).toBeDefined();
    expect(got.changed_at).toBe(emp.changed_at);
    expect(Date.parse(got.employments[0].changed_at)).toBeGreaterThan(Date.parse(t));
  });

  it('a work location change matches its employees; a group change does not (linked record: no)', async () => {
    const emps = sim.core.truth(HRIS, 'hris/employees', { includeDeleted: false }) as any[];
    const withLoc = emps.find((x) => x.work_location);
    let t = await since();
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/locations', id: withLoc.work_location.id }]);
    expect(ids(await listAll('hris/employees', HRIS, `&updated_after=${t}`))).toContain(withLoc.id);
    const withGroup = emps.find((x) => x.groups.length);
    t = await since();
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/groups', id: withGroup.groups[0].id }]);
    expect(await listAll('hris/employees', HRIS, `&updated_after=${t}`)).toEqual([]);
    t = await since();
    await sim.core.change(HRIS, [{ op: 'nested', relation: 'employee-groups', id: withGroup.id }]);
    const r = await sim.core.change(HRIS, []);
    void r;
    expect(ids(await listAll('hris/employees', HRIS, `&updated_after=${t}`))).toEqual([withGroup.id]);
  });

  it('an absence type change matches absences and balances', async () => {
    const abs = (sim.core.truth(HRIS, 'hris/absences', { includeDeleted: false }) as any[]).find((x) => x.type);
    const t = await since();
    await sim.core.change(HRIS, [{ op: 'update', endpoint: 'hris/absence-types', id: abs.type.id }]);
    expect(ids(await listAll('hris/absences', HRIS, `&updated_after=${t}`))).toContain(abs.id);
    const balances = await listAll('hris/time-off-balances', HRIS, `&updated_after=${t}`);
    expect(balances.every((b) => b.type_id === abs.type.id)).toBe(true);
  });

  it('ATS: a candidate change matches its applications; a job change does not; a tag toggle matches the candidate', async () => {
    const app = (sim.core.truth(ATS, 'ats/applications', { includeDeleted: false }) as any[]).find((x) => x.candidate);
    let t = await since();
    await sim.core.change(ATS, [{ op: 'update', endpoint: 'ats/candidates', id: app.candidate_id }]);
    expect(ids(await listAll('ats/applications', ATS, `&updated_after=${t}`))).toContain(app.id);
    t = await since();
    await sim.core.change(ATS, [{ op: 'update', endpoint: 'ats/jobs', id: app.job_id }]);
    expect(await listAll('ats/applications', ATS, `&updated_after=${t}`)).toEqual([]);
    expect(ids(await listAll('ats/jobs', ATS, `&updated_after=${t}`))).toEqual([app.job_id]);
    t = await since();
    await sim.core.change(ATS, [{ op: 'nested', relation: 'candidate-tags', id: app.candidate_id }]);
    expect(ids(await listAll('ats/candidates', ATS, `&updated_after=${t}`))).toEqual([app.candidate_id]);
    t = await since();
    await sim.core.change(ATS, [{ op: 'nested', relation: 'job-stages', id: app.job_id }]);
    expect(ids(await listAll('ats/jobs', ATS, `&updated_after=${t}`))).toEqual([app.job_id]);
  });

  it('deletions show in full syncs only (as Kombo), with remote_deleted_at, hidden unless include_deleted', async () => {
    const [e, f] = sim.core.truth(HRIS, 'hris/timesheets', { includeDeleted: false }) as any[];
    const t = await since();
    const delta = await sim.core.change(HRIS, [{ op: 'delete', endpoint: 'hris/timesheets', id: e.id }]);
    expect(delta.changedModels).toEqual([]);
    expect(ids(await listAll('hris/timesheets', HRIS))).toContain(e.id);
    // Gone from the tool, so no later change picks it; the next full sync marks it deleted.
    const full = await sim.core.change(HRIS, [], 'FULL');
    expect(full.changedModels).toEqual(['hris_timesheets']);
    expect(ids(await listAll('hris/timesheets', HRIS))).not.toContain(e.id);
    const withDeleted = await listAll('hris/timesheets', HRIS, `&include_deleted=true&updated_after=${t}`);
    expect(withDeleted.map((x) => [x.id, typeof x.remote_deleted_at])).toEqual([[e.id, 'string']]);
    // deletionsInDeltaSyncs: every sync marks them.
    sim.core.deletionsInDeltaSyncs = true;
    try {
      await sim.core.change(HRIS, [{ op: 'delete', endpoint: 'hris/timesheets', id: f.id }]);
    } finally {
      sim.core.deletionsInDeltaSyncs = false;
    }
    expect(ids(await listAll('hris/timesheets', HRIS))).not.toContain(f.id);
  });

  it('purges deleted records after the configured time', async () => {
    const e = (sim.core.truth(ATS, 'ats/tags', { includeDeleted: false }) as any[])[0];
    sim.core.purgeAfterMs = 0;
    try {
      await sim.core.change(ATS, [{ op: 'delete', endpoint: 'ats/tags', id: e.id }], 'FULL');
      await sim.core.change(ATS, []);
      expect(ids(await listAll('ats/tags', ATS, '&include_deleted=true'))).not.toContain(e.id);
    } finally {
      sim.core.purgeAfterMs = Number.POSITIVE_INFINITY;
    }
  });

  it('a sync is not atomic: records appear one by one while it runs', async () => {
    sim.core.syncDurationMs = 400;
    const t = await since();
    const done = sim.core.change(
      ATS,
      Array.from({ length: 8 }, () => ({ op: 'create' as const, endpoint: 'ats/tags' as const })),
    );
    await new Promise((r) => setTimeout(r, 200));
    const midway = (await listAll('ats/tags', ATS, `&updated_after=${t}`)).length;
    await done;
    sim.core.syncDurationMs = 0;
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(8);
    expect(await listAll('ats/tags', ATS, `&updated_after=${t}`)).toHaveLength(8);
  });

  it('commit lag: a record can become visible with a changed_at before the moment it appeared', async () => {
    sim.core.commitLagMs = 2_000;
    const before = Date.now();
    await sim.core.change(ATS, [{ op: 'create', endpoint: 'ats/tags' }]);
    sim.core.commitLagMs = 0;
    const tags = sim.core.truth(ATS, 'ats/tags') as any[];
    const created = tags.at(-1);
    expect(Date.parse(created.changed_at)).toBeLessThan(before);
    // A consumer whose watermark is its fetch start (>= before) misses it without an overlap.
    expect(ids(await listAll('ats/tags', ATS, `&updated_after=${new Date(before).toISOString()}`))).not.toContain(
      created.id,
    );
  });
});

describe('webhooks', () => {
  it('signs as Kombo does (kombo-api.md §5.2 test vector)', () => {
    const body =
      '{"id":"FhghqjnCi9WuAoLT8Z75CFcs","type":"data-changed","data":{"integration_id":"personio:CBNMt7dSNCzBdnRTx87dev4E","integration_tool":"personio","integration_category":"HRIS","changed_models":[{"name":"hris_employees"},{"name":"hris_employments"}]}}';
    expect(signWebhook('whsec_test_123', body)).toBe('H7rthPRGENctPy5MjvhhxmAYjtOXTh2WDl2ztwLwESM');
    expect(
      verifyWebhook(['other', 'whsec_test_123'], Buffer.from(body), 'H7rthPRGENctPy5MjvhhxmAYjtOXTh2WDl2ztwLwESM'),
    ).toBe(true);
    expect(
      verifyWebhook(['whsec_test_123'], Buffer.from(`${body} `), 'H7rthPRGENctPy5MjvhhxmAYjtOXTh2WDl2ztwLwESM'),
    ).toBe(false);
  });

  it('sends signed data-changed with the changed models and legacy sync-finished, retrying non-2xx', async () => {
    received.length = 0;
    failNext = 2;
    const e = (sim.core.truth(HRIS, 'hris/employees', { includeDeleted: false }) as any[])[1];
    await sim.core.change(HRIS, [
      { op: 'update', endpoint: 'hris/employees', id: e.id },
      { op: 'update', endpoint: 'hris/employments', id: e.employments[0].id },
    ]);
    await sim.core.settle();
    const bodies = received.map((r) => JSON.parse(r.body));
    for (const r of received) expect(verifyWebhook([SECRET], Buffer.from(r.body), r.signature)).toBe(true);
    const dc = bodies.find((b) => b.type === 'data-changed');
    expect(dc.data).toMatchObject({ integration_id: HRIS, integration_category: 'HRIS' });
    expect(dc.data.changed_models).toEqual([{ name: 'hris_employees' }, { name: 'hris_employments' }]);
    expect(bodies.some((b) => b.type === 'sync-finished' && b.data.sync_state === 'SUCCEEDED')).toBe(true);
    const attempts = sim.core.webhooks.attempts.filter((a) => a.id === dc.id || bodies.some((b) => b.id === a.id));
    expect(attempts.some((a) => a.status === 503)).toBe(true);
    const acked = new Set(sim.core.webhooks.acknowledged().map((r) => r.id));
    for (const b of bodies) expect(acked.has(b.id)).toBe(true);
  });

  it('sends integration-created and integration-deleted with data.id/tool/category', async () => {
    received.length = 0;
    const i = await sim.core.createIntegration({ category: 'ATS', size: 2 });
    sim.core.deleteIntegration(i.id);
    await sim.core.settle();
    const bodies = received.map((r) => JSON.parse(r.body));
    expect(bodies.find((b) => b.type === 'integration-created').data).toMatchObject({ id: i.id, category: 'ATS' });
    expect(bodies.find((b) => b.type === 'integration-deleted').data.deleted_at).toBeTruthy();
    expect((await get('/ats/tags', { integration: i.id })).status).toBe(404);
  });

  it('drops and duplicates webhooks on request, and logs which were acknowledged', async () => {
    received.length = 0;
    sim.core.legacySyncFinished = false;
    sim.core.setWebhookFaults({ dropRate: 1 });
    await sim.core.change(ATS, [{ op: 'create', endpoint: 'ats/tags' }]);
    await sim.core.settle();
    expect(received).toHaveLength(0);
    sim.core.setWebhookFaults({ dropRate: 0, duplicateRate: 1 });
    await sim.core.change(ATS, [{ op: 'create', endpoint: 'ats/tags' }]);
    await sim.core.settle();
    sim.core.clearFaults();
    expect(received).toHaveLength(2);
    expect(JSON.parse(received[0]?.body as string).id).toBe(JSON.parse(received[1]?.body as string).id);
    const states = [...sim.core.webhooks.records.values()].slice(-2).map((r) => r.state);
    expect(states).toEqual(['dropped', 'acknowledged']);
  });

  it('reorders and delays webhooks on request', async () => {
    received.length = 0;
    sim.core.legacySyncFinished = false;
    sim.core.setWebhookFaults({ reorderRate: 1 });
    await sim.core.change(ATS, [{ op: 'create', endpoint: 'ats/tags' }]);
    sim.core.setWebhookFaults({ reorderRate: 0, delayRate: 1, delayMs: 100 });
    await sim.core.change(HRIS, [{ op: 'create', endpoint: 'hris/timesheets' }]);
    sim.core.clearFaults();
    await new Promise((r) => setTimeout(r, 30));
    const early = received.length;
    await sim.core.settle();
    await new Promise((r) => setTimeout(r, 150));
    expect(early).toBe(0);
    expect(received.map((r) => JSON.parse(r.body).data.integration_id)).toEqual([HRIS, ATS]);
  });
});

describe('API faults', () => {
  const status = async () => {
    try {
      return (await get('/hris/groups', { integration: HRIS })).status;
    } catch (err) {
      return (err as Error).name;
    }
  };

  it('serves 5xx, 429 storms with Retry-After, resets, truncated bodies and slow answers', async () => {
    sim.core.setApiFaults({ error5xxRate: 1 });
    expect([500, 502, 503]).toContain(await status());
    sim.core.setApiFaults({ error5xxRate: 0, stormUntil: Date.now() + 60_000, retryAfterSec: 7 });
    const storm = await get('/hris/groups', { integration: HRIS });
    expect(storm.status).toBe(429);
    expect(storm.headers['retry-after']).toBe('7');
    sim.core.setApiFaults({ stormUntil: 0, resetRate: 1 });
    expect(await status()).not.toBe(200);
    sim.core.setApiFaults({ resetRate: 0, truncateRate: 1 });
    await expect(get('/hris/groups', { integration: HRIS })).rejects.toThrow();
    sim.core.setApiFaults({ truncateRate: 0, slowRate: 1, slowMs: 150 });
    const t0 = Date.now();
    expect(await status()).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    sim.core.clearFaults();
    expect(await status()).toBe(200);
  });

  it('exposes faults, truth and changes over HTTP', async () => {
    const auth = { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json' };
    const put = await request(`${sim.rootUrl}/sim/faults`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ api: { error5xxRate: 0.5 } }),
    });
    expect(((await put.body.json()) as any).api.error5xxRate).toBe(0.5);
    sim.core.clearFaults();
    const truth = await request(`${sim.rootUrl}/sim/truth/${HRIS}/hris/employees`, { headers: auth });
    expect(((await truth.body.json()) as any[]).length).toBe(sim.core.truth(HRIS, 'hris/employees').length);
    const ch = await request(`${sim.rootUrl}/sim/integrations/${HRIS}/changes`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ changes: [{ op: 'create', endpoint: 'hris/employees' }] }),
    });
    expect(((await ch.body.json()) as any).changedModels).toContain('hris_employees');
  });
});
