import { Pool } from 'undici';
import { KomboStreamError } from '../errors.ts';
import type { EndpointName } from './endpoints.ts';

/** A non-2xx answer from Kombo, with Kombo's error code when the body carried one. */
export class KomboApiError extends KomboStreamError {
  readonly status: number;
  readonly komboCode: string | undefined;
  /** Milliseconds the server asked us to wait (Retry-After or ratelimit-reset). */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, komboCode: string | undefined, message: string, retryAfterMs: number | undefined) {
    const code =
      status === 429
        ? 'KS_ERR_KOMBO_RATE_LIMITED'
        : komboCode === 'INTEGRATION.SETUP_SYNC_PENDING'
          ? 'KS_ERR_KOMBO_SETUP_PENDING'
          : status >= 500
            ? 'KS_ERR_KOMBO_SERVER'
            : 'KS_ERR_KOMBO_CLIENT';
    // 4xx other than 429 mean the request itself is wrong: retrying cannot help.
    super(code, `Kombo answered ${status}${komboCode ? ` ${komboCode}` : ''}: ${message}`, {
      retriable: status === 429 || status >= 500 || komboCode === 'INTEGRATION.SETUP_SYNC_PENDING',
    });
    this.status = status;
    this.komboCode = komboCode;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The connection failed, timed out, or the body was cut off or not JSON: retriable. */
export class KomboTransportError extends KomboStreamError {
  constructor(message: string, cause?: unknown) {
    super('KS_ERR_KOMBO_TRANSPORT', message, { retriable: true, cause });
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

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Retry-After (seconds or HTTP date), else ratelimit-reset (seconds). */
export function retryAfterMs(h: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const ra = header(h, 'retry-after');
  if (ra !== undefined) {
    const secs = Number(ra);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = Number(header(h, 'ratelimit-reset'));
  return Number.isFinite(reset) && header(h, 'ratelimit-reset') !== undefined ? Math.max(0, reset * 1000) : undefined;
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

  constructor(opts: { apiUrl: string; apiKey: string; timeoutMs?: number; connections?: number }) {
    const url = new URL(opts.apiUrl);
    this.#pool = new Pool(url.origin, { connections: opts.connections ?? 16, keepAliveTimeout: 30_000, pipelining: 1 });
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  async listPage(integrationId: string, endpoint: EndpointName, q: ListQuery): Promise<Page> {
    const params = new URLSearchParams({ page_size: String(q.pageSize), include_deleted: String(q.includeDeleted) });
    // Kombo requires the same filters on every page, with the cursor added.
    if (q.updatedAfter) params.set('updated_after', q.updatedAfter);
    if (q.cursor) params.set('cursor', q.cursor);
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await this.#pool.request({
        method: 'GET',
        path: `${this.#basePath}/${endpoint}?${params}`,
        headers: {
          authorization: `Bearer ${this.#apiKey}`,
          'x-integration-id': integrationId,
          accept: 'application/json',
        },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
    } catch (err) {
      throw new KomboTransportError(`GET ${endpoint} failed: ${(err as Error).message}`, err);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw new KomboTransportError(`GET ${endpoint}: body cut off (${(err as Error).message})`, err);
    }
    const h = res.headers as Record<string, string | string[] | undefined>;
    const rateLimit = {
      ...(header(h, 'ratelimit-limit') ? { limit: Number(header(h, 'ratelimit-limit')) } : {}),
      ...(header(h, 'ratelimit-remaining') ? { remaining: Number(header(h, 'ratelimit-remaining')) } : {}),
      ...(header(h, 'ratelimit-reset') ? { resetMs: Number(header(h, 'ratelimit-reset')) * 1000 } : {}),
    };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      if (res.statusCode >= 200 && res.statusCode < 300) {
        throw new KomboTransportError(`GET ${endpoint}: answer is not valid JSON (truncated?)`);
      }
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new KomboApiError(res.statusCode, e?.code ?? undefined, e?.message ?? text.slice(0, 200), retryAfterMs(h));
    }
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

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
