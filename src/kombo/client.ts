import { Pool } from 'undici';
import type { Config } from '../config/config.ts';
import { ConfigError, KomboStreamError } from '../errors.ts';
import type { EndpointName } from './endpoints.ts';
import { type IntegrationInfo, integrationInfoSchema } from './integration-info.ts';

/**
 * Anything Kombo's side did wrong: what the page policy could retry it has, so a task failing with
 * one of these is dead-lettered (and shows in the endpoint's status), never retried without end.
 */
export class KomboUpstreamError extends KomboStreamError {}

/** A non-2xx answer from Kombo, with Kombo's error code when the body carried one. */
export class KomboApiError extends KomboUpstreamError {
  readonly status: number;
  readonly komboCode: string | undefined;
  /** Milliseconds the server asked us to wait (Retry-After or ratelimit-reset). */
  readonly retryAfterMs: number | undefined;
  /**
   * Whose limit or failure this is: REMOTE.* codes are the integration's own upstream system (its
   * HR tool's rate limit), so only that integration waits; anything else is Kombo's, for everyone.
   */
  readonly scope: 'integration' | 'global';

  constructor(status: number, komboCode: string | undefined, message: string, retryAfterMs: number | undefined) {
    const code =
      status === 429
        ? 'KS_ERR_KOMBO_RATE_LIMITED'
        : komboCode === 'INTEGRATION.SETUP_SYNC_PENDING'
          ? 'KS_ERR_KOMBO_SETUP_PENDING'
          : status >= 500
            ? 'KS_ERR_KOMBO_SERVER'
            : 'KS_ERR_KOMBO_CLIENT';
    // 4xx other than 429 mean the request itself is wrong, or the integration cannot be read now
    // (setup pending, inactive: src/integrations/lifecycle.ts decides): retrying cannot help. A
    // setup-pending 503 (Kombo's answer before 2026-05) is the same as the 409 it is today.
    super(code, `Kombo answered ${status}${komboCode ? ` ${komboCode}` : ''}: ${message}`, {
      retriable: status === 429 || (status >= 500 && komboCode !== 'INTEGRATION.SETUP_SYNC_PENDING'),
    });
    this.status = status;
    this.komboCode = komboCode;
    this.retryAfterMs = retryAfterMs;
    this.scope = komboCode?.startsWith('REMOTE.') ? 'integration' : 'global';
  }
}

/** The answer was larger than FETCH_MAX_RESPONSE_BYTES: not read, and not retried. */
export class KomboResponseTooLargeError extends KomboUpstreamError {
  constructor(endpoint: string, limit: number) {
    super('KS_ERR_KOMBO_RESPONSE_TOO_LARGE', `GET ${endpoint}: the answer exceeds ${limit} bytes; not read`);
  }
}

/** The connection failed, timed out, or the body was cut off or not JSON: retriable. */
export class KomboTransportError extends KomboUpstreamError {
  constructor(message: string, cause?: unknown) {
    super('KS_ERR_KOMBO_TRANSPORT', message, { retriable: true, cause });
  }
}

/** The cursor led back to a page already read in this fetch: following it would never end. */
export class KomboCursorLoopError extends KomboUpstreamError {
  constructor(endpoint: string, pages: number) {
    super(
      'KS_ERR_KOMBO_CURSOR_LOOP',
      `GET ${endpoint}: the next cursor repeats one of this fetch's (after ${pages} pages)`,
    );
  }
}

export interface Page {
  results: Record<string, unknown>[];
  next: string | null;
  rateLimit: { limit?: number; remaining?: number; resetMs?: number };
}

export interface ListQuery {
  pageSize: number;
  includeDeleted: boolean;
  updatedAfter?: string;
  cursor?: string;
}

type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Seconds this large are not a delay but a Unix time (some servers send ratelimit-reset so). */
const EPOCH_SECONDS = 1e9;

/** ratelimit-reset: seconds until the window resets (or, sent as a Unix time, when it does). */
function resetMs(h: Headers, now: number): number | undefined {
  const raw = header(h, 'ratelimit-reset');
  const reset = Number(raw);
  if (raw === undefined || !Number.isFinite(reset)) return undefined;
  return Math.max(0, reset >= EPOCH_SECONDS ? reset * 1000 - now : reset * 1000);
}

/**
 * Retry-After (seconds or HTTP date), else ratelimit-reset, clamped to `maxMs`: a server asking for
 * days (or sending a Unix time where seconds belong) must not park a fetch beyond the longest wait
 * we honour; after that wait the request is simply tried again.
 */
export function retryAfterMs(h: Headers, now = Date.now(), maxMs = Number.POSITIVE_INFINITY): number | undefined {
  const ra = header(h, 'retry-after');
  let ms: number | undefined;
  if (ra !== undefined) {
    const secs = Number(ra);
    const at = Date.parse(ra);
    if (Number.isFinite(secs)) ms = Math.max(0, secs >= EPOCH_SECONDS ? secs * 1000 - now : secs * 1000);
    else if (!Number.isNaN(at)) ms = Math.max(0, at - now);
  }
  ms ??= resetMs(h, now);
  return ms === undefined ? undefined : Math.min(ms, maxMs);
}

/**
 * Kombo's list endpoints over one pooled keep-alive connection set (undici). One call = one page;
 * retries and rate limits are the caller's policy.
 */
export class KomboClient {
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #apiKey: string;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #maxWaitMs: number;

  constructor(opts: {
    apiUrl: string;
    apiKey: string;
    timeoutMs?: number;
    connections?: number;
    maxResponseBytes?: number;
    maxRetryWaitMs?: number;
  }) {
    const url = new URL(opts.apiUrl);
    this.#pool = new Pool(url.origin, { connections: opts.connections ?? 16, keepAliveTimeout: 30_000, pipelining: 1 });
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#maxBytes = opts.maxResponseBytes ?? 64 * 1024 * 1024;
    this.#maxWaitMs = opts.maxRetryWaitMs ?? 15 * 60_000;
  }

  /** The body as text, refusing (and abandoning the connection) past the byte limit. */
  async #text(res: Awaited<ReturnType<Pool['request']>>, endpoint: string): Promise<string> {
    const declared = Number(header(res.headers as Headers, 'content-length'));
    if (declared > this.#maxBytes) {
      res.body.destroy();
      throw new KomboResponseTooLargeError(endpoint, this.#maxBytes);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of res.body) {
        size += (c as Buffer).length;
        if (size > this.#maxBytes) {
          res.body.destroy();
          throw new KomboResponseTooLargeError(endpoint, this.#maxBytes);
        }
        chunks.push(c as Buffer);
      }
    } catch (err) {
      if (err instanceof KomboResponseTooLargeError) throw err;
      throw new KomboTransportError(`GET ${endpoint}: body cut off (${(err as Error).message})`, err);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /**
   * One GET: the parsed body of a 2xx answer with its headers; a non-2xx one as a KomboApiError with
   * Kombo's code; transport trouble (and a 2xx body that is not JSON) as a KomboTransportError.
   */
  async #get(path: string, label: string, integrationId?: string): Promise<{ body: unknown; headers: Headers }> {
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await this.#pool.request({
        method: 'GET',
        path: `${this.#basePath}${path}`,
        headers: {
          authorization: `Bearer ${this.#apiKey}`,
          ...(integrationId ? { 'x-integration-id': integrationId } : {}),
          accept: 'application/json',
        },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
    } catch (err) {
      throw new KomboTransportError(`GET ${label} failed: ${(err as Error).message}`, err);
    }
    const text = await this.#text(res, label);
    const headers = res.headers as Headers;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      if (res.statusCode >= 200 && res.statusCode < 300) {
        throw new KomboTransportError(`GET ${label}: answer is not valid JSON (truncated?)`);
      }
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new KomboApiError(
        res.statusCode,
        e?.code ?? undefined,
        e?.message ?? text.slice(0, 200),
        retryAfterMs(headers, Date.now(), this.#maxWaitMs),
      );
    }
    return { body, headers };
  }

  async listPage(integrationId: string, endpoint: EndpointName, q: ListQuery): Promise<Page> {
    const params = new URLSearchParams({ page_size: String(q.pageSize), include_deleted: String(q.includeDeleted) });
    // Kombo requires the same filters on every page, with the cursor added.
    if (q.updatedAfter) params.set('updated_after', q.updatedAfter);
    if (q.cursor) params.set('cursor', q.cursor);
    const { body, headers: h } = await this.#get(`/${endpoint}?${params}`, endpoint, integrationId);
    const reset = resetMs(h, Date.now());
    const rateLimit = {
      ...(header(h, 'ratelimit-limit') ? { limit: Number(header(h, 'ratelimit-limit')) } : {}),
      ...(header(h, 'ratelimit-remaining') ? { remaining: Number(header(h, 'ratelimit-remaining')) } : {}),
      ...(reset === undefined ? {} : { resetMs: Math.min(reset, this.#maxWaitMs) }),
    };
    const data = (body as { data?: { results?: unknown; next?: unknown } }).data;
    if (!data || !Array.isArray(data.results) || !(data.next === null || typeof data.next === 'string')) {
      throw new KomboTransportError(`GET ${endpoint}: answer lacks data.results / data.next`);
    }
    return {
      results: data.results as Record<string, unknown>[],
      next: data.next?.trim() ? data.next : null,
      rateLimit,
    };
  }

  /**
   * An integration's state at Kombo: status, setup status, read models, data_expired_at. An unknown
   * id answers Kombo's PLATFORM.INTEGRATION_NOT_FOUND (a KomboApiError).
   */
  async getIntegration(integrationId: string): Promise<IntegrationInfo> {
    const label = `integrations/${integrationId}`;
    const { body } = await this.#get(`/integrations/${encodeURIComponent(integrationId)}`, label);
    const parsed = integrationInfoSchema.safeParse((body as { data?: unknown } | undefined)?.data);
    if (!parsed.success)
      throw new KomboTransportError(`GET ${label}: unexpected answer (${parsed.error.issues[0]?.message})`);
    return parsed.data;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** The client for the configured Kombo account: how every role and command reaches Kombo. */
export function komboClient(config: Config, needs: string): KomboClient {
  if (!config.kombo.apiKey) throw new ConfigError([{ key: 'KOMBO_API_KEY', message: `is required ${needs}` }]);
  return new KomboClient({
    apiUrl: config.kombo.apiUrl,
    apiKey: config.kombo.apiKey,
    timeoutMs: config.fetcher.timeoutMs,
    maxResponseBytes: config.fetcher.maxResponseBytes,
    maxRetryWaitMs: config.fetcher.maxRetryWaitMs,
  });
}
