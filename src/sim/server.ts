import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isEndpointName } from '../kombo/endpoints.ts';
import type { Change } from './changes.ts';
import { accessError, type LifecyclePatch } from './lifecycle.ts';
import { encodeCursor, inputInvalid, parseListQuery, SimApiError, selectPage } from './query.ts';
import { render } from './render.ts';
import type { ApiFaults, SimulatorCore, SyncType } from './simulator.ts';
import type { WebhookFaults } from './webhooks.ts';

/**
 * Kombo's HTTP API over the simulator core, plus `/sim/*` control routes (truth, faults, changes,
 * integrations) for tests, the demo and benchmarks. Everything needs the Bearer API key.
 */
export class SimServer {
  readonly core: SimulatorCore;
  readonly server: Server;
  #window = { start: Date.now(), used: 0 };

  constructor(core: SimulatorCore) {
    this.core = core;
    this.server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent)
          send(res, 500, {
            status: 'error',
            error: { code: 'PLATFORM.UNKNOWN_ERROR', title: null, message: String(err), log_url: null },
          });
      });
    });
    this.server.keepAliveTimeout = 30_000;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    const a = this.server.address() as AddressInfo;
    return `http://${host}:${a.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #rateHeaders(res: ServerResponse): boolean {
    const { limit, windowMs } = this.core.rateLimit;
    const now = Date.now();
    if (now - this.#window.start >= windowMs) this.#window = { start: now, used: 0 };
    this.#window.used++;
    const reset = Math.max(0, Math.ceil((this.#window.start + windowMs - now) / 1000));
    res.setHeader('ratelimit-limit', String(limit));
    res.setHeader('ratelimit-remaining', String(Math.max(0, limit - this.#window.used)));
    res.setHeader('ratelimit-reset', String(reset));
    if (this.#window.used > limit) {
      res.setHeader('retry-after', String(reset));
      return false;
    }
    return true;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname;
    if (req.headers.authorization !== `Bearer ${this.core.apiKey}`) {
      sendError(
        res,
        new SimApiError(401, 'PLATFORM.AUTHENTICATION_INVALID', 'The API key is invalid.', 'The API key is invalid.'),
      );
      return;
    }
    if (path.startsWith('/sim/')) return this.#control(req, res, url);

    const f = this.core.apiFaults;
    const rng = this.core.rng;
    const served = this.core.faultsServed;
    if (rng.bool(f.resetRate)) {
      served.reset++;
      req.socket.destroy();
      return;
    }
    if (rng.bool(f.slowRate)) await new Promise((r) => setTimeout(r, f.slowMs));
    if (Date.now() < f.stormUntil || rng.bool(f.rate429)) {
      served.rateLimited++;
      res.setHeader('retry-after', String(f.retryAfterSec));
      sendError(
        res,
        new SimApiError(429, 'PLATFORM.RATE_LIMIT_EXCEEDED', 'Too many requests.', 'Rate limit exceeded.'),
      );
      return;
    }
    if (!this.#rateHeaders(res)) {
      served.rateLimited++;
      sendError(
        res,
        new SimApiError(429, 'PLATFORM.RATE_LIMIT_EXCEEDED', 'Too many requests.', 'Rate limit exceeded.'),
      );
      return;
    }
    const target = req.headers['x-integration-id'];
    if (typeof target === 'string' && f.remoteRateLimited.includes(target)) {
      served.rateLimited++;
      res.setHeader('retry-after', String(f.retryAfterSec));
      sendError(
        res,
        new SimApiError(
          429,
          'REMOTE.RATE_LIMIT_EXCEEDED',
          'Rate limit exceeded.',
          "The integration's system is rate limiting our requests.",
        ),
      );
      return;
    }
    if (rng.bool(f.error5xxRate) || (typeof target === 'string' && f.failIntegrations.includes(target))) {
      served.serverError++;
      const status = rng.pick([500, 502, 503]);
      sendError(
        res,
        new SimApiError(status, 'PLATFORM.UNKNOWN_ERROR', 'Internal error.', 'Simulated upstream failure.'),
      );
      return;
    }
    try {
      const body = await this.#api(req, url);
      const text = JSON.stringify(body);
      if (rng.bool(f.truncateRate)) {
        served.truncated++;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        res.socket?.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    } catch (err) {
      if (err instanceof SimApiError) sendError(res, err);
      else throw err;
    }
  }

  async #api(req: IncomingMessage, url: URL): Promise<unknown> {
    const path = url.pathname;
    if (path === '/v1/check-api-key' && req.method === 'GET') {
      return { status: 'success', data: { environment_id: 'sim_env', customer_id: 'sim_customer' } };
    }
    const byId = /^\/v1\/integrations\/([^/]+)$/.exec(path);
    if (byId && req.method === 'GET') {
      const data = this.core.integrationInfo(decodeURIComponent(byId[1] as string));
      if (!data)
        throw new SimApiError(
          404,
          'PLATFORM.INTEGRATION_NOT_FOUND',
          'Integration not found.',
          `No integration ${byId[1]}.`,
        );
      return { status: 'success', data };
    }
    const integration = this.#integration(req);
    if (path === '/v1/force-sync' && req.method === 'POST') {
      const sync = this.core.forceSync(integration.id, syncType(await readBody(req)));
      sync.done.catch(() => {});
      return {
        status: 'success',
        data: { already_queued: sync.alreadyQueued, sync_id: sync.syncId, type: sync.type },
      };
    }
    const m = /^\/v1\/(hris|ats)\/([a-z-]+)$/.exec(path);
    const endpoint = m ? `${m[1]}/${m[2]}` : '';
    if (!m || req.method !== 'GET' || !isEndpointName(endpoint)) {
      throw new SimApiError(404, 'PLATFORM.INPUT_INVALID', 'Not found.', `No route ${req.method} ${path}.`);
    }
    if (!integration.stores.has(endpoint)) {
      throw new SimApiError(
        400,
        'INTEGRATION.MODEL_NOT_AVAILABLE',
        "This data model isn't supported for the selected integration.",
        `The "${m[2]}" model is not available for ${integration.tool}.`,
      );
    }
    this.core.listRequests.set(integration.id, (this.core.listRequests.get(integration.id) ?? 0) + 1);
    const refused = accessError(integration, endpoint);
    if (refused) throw refused;
    const q = parseListQuery(url.searchParams);
    await this.core.passHolds(integration.id, endpoint, q);
    if (this.core.apiFaults.emptyLists) return { status: 'success', data: { next: null, results: [] } };
    const store = integration.store(endpoint);
    let { page, next } = selectPage(store, q);
    // A broken upstream's cursor that leads back to the second page instead of ending.
    if (next === undefined && q.afterSeq > 0 && this.core.apiFaults.cursorLoops.includes(integration.id))
      next = selectPage(store, { ...q, afterSeq: 0 }).next;
    return {
      status: 'success',
      data: {
        next: next === undefined ? null : encodeCursor(next, q),
        results: damage(
          page.map((e) => render(integration, e)),
          this.core.apiFaults.damagedPages.includes(integration.id),
        ),
      },
    };
  }

  #integration(req: IncomingMessage) {
    const id = req.headers['x-integration-id'];
    if (typeof id !== 'string' || !id) {
      throw new SimApiError(
        400,
        'PLATFORM.INPUT_INVALID',
        'The input is invalid.',
        'The X-Integration-Id header is required.',
      );
    }
    const i = this.core.integration(id);
    if (!i)
      throw new SimApiError(404, 'PLATFORM.INTEGRATION_NOT_FOUND', 'Integration not found.', `No integration ${id}.`);
    return i;
  }

  async #control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const core = this.core;
    const json = async () => {
      const raw = await readBody(req);
      return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    };
    const routes: [string, RegExp, (m: string[]) => Promise<[number, unknown]> | [number, unknown]][] = [
      ['GET', /^\/sim\/integrations$/, () => [200, core.integrations()]],
      [
        'POST',
        /^\/sim\/integrations$/,
        async () => {
          const body = await json();
          const i = await core.createIntegration({
            category: body.category === 'ATS' ? 'ATS' : 'HRIS',
            size: Number(body.size ?? 20),
            ...(typeof body.tool === 'string' ? { tool: body.tool } : {}),
          });
          return [201, { id: i.id }];
        },
      ],
      [
        'DELETE',
        /^\/sim\/integrations\/([^/]+)$/,
        ([id]) => {
          core.deleteIntegration(id as string);
          return [200, { deleted: true }];
        },
      ],
      [
        'POST',
        /^\/sim\/integrations\/([^/]+)\/changes$/,
        async ([id]) => [200, await core.change(id as string, ((await json()).changes as Change[]) ?? [])],
      ],
      [
        'GET',
        /^\/sim\/truth\/([^/]+)\/(hris|ats)\/([a-z-]+)$/,
        ([id, cat, ep]) => {
          const endpoint = `${cat}/${ep}`;
          if (!isEndpointName(endpoint)) return [404, { error: 'unknown endpoint' }];
          const includeDeleted = url.searchParams.get('include_deleted') !== 'false';
          return [200, core.truth(id as string, endpoint, { includeDeleted })];
        },
      ],
      [
        'PUT',
        /^\/sim\/integrations\/([^/]+)\/lifecycle$/,
        async ([id]) => {
          core.setLifecycle(id as string, (await json()) as LifecyclePatch);
          return [200, core.integrationInfo(id as string)];
        },
      ],
      ['GET', /^\/sim\/faults$/, () => [200, { api: core.apiFaults, webhooks: core.webhooks.faults }]],
      [
        'PUT',
        /^\/sim\/faults$/,
        async () => {
          const body = await json();
          if (body.clear) core.clearFaults();
          if (body.api) core.setApiFaults(body.api as Partial<ApiFaults>);
          if (body.webhooks) core.setWebhookFaults(body.webhooks as Partial<WebhookFaults>);
          return [200, { api: core.apiFaults, webhooks: core.webhooks.faults }];
        },
      ],
      [
        'GET',
        /^\/sim\/webhooks$/,
        () => [200, { records: [...core.webhooks.records.values()], attempts: core.webhooks.attempts }],
      ],
    ];
    for (const [method, pattern, handle] of routes) {
      const m = pattern.exec(url.pathname);
      if (m && req.method === method) {
        const [status, body] = await handle(m.slice(1).map((x) => decodeURIComponent(x)));
        return send(res, status, body);
      }
    }
    send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }
}

/** See ApiFaults.damagedPages. */
function damage(records: Record<string, unknown>[], on: boolean): Record<string, unknown>[] {
  if (!on || records.length < 4) return records;
  const [a, b, c, d, ...rest] = records as [Record<string, unknown>, ...Record<string, unknown>[]];
  const nul = Object.fromEntries(
    Object.entries(a).map(([k, v]) => [k, typeof v === 'string' && k !== 'id' ? `${v}\u0000x` : v]),
  );
  return [
    nul,
    { ...b, changed_at: 'sometime last week' },
    c as Record<string, unknown>,
    c as Record<string, unknown>,
    { ...d, remote_data: { blob: 'x'.repeat(1_500_000) } },
    ...rest,
  ];
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: SimApiError): void {
  res.writeHead(err.status, { 'content-type': 'application/json' });
  res.end(err.body());
}

/** The body of POST /force-sync: `{type?: FULL | DELTA}`, FULL when absent (OAS, SDK 1.3.4). */
function syncType(raw: string): SyncType {
  let body: unknown = {};
  try {
    if (raw.trim()) body = JSON.parse(raw);
  } catch {
    throw inputInvalid('The request body is not valid JSON.');
  }
  const type = (body as { type?: unknown } | null)?.type ?? 'FULL';
  if (type !== 'FULL' && type !== 'DELTA') throw inputInvalid('type must be FULL or DELTA.');
  return type;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
