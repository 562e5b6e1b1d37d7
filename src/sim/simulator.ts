import type { EndpointName } from '../kombo/endpoints.ts';
import { applyChange, type Change, randomChange } from './changes.ts';
import {
  ATS_TOOLS,
  type Category,
  HRIS_TOOLS,
  integrationId,
  OWN_MODEL,
  populate,
  SimIntegration,
} from './integration.ts';
import { type LifecyclePatch, integrationInfo as renderInfo, setupStatus } from './lifecycle.ts';
import type { ListQuery } from './query.ts';
import { Rng } from './random.ts';
import { iso, render } from './render.ts';
import { NO_WEBHOOK_FAULTS, type WebhookConfig, type WebhookFaults, WebhookSender } from './webhooks.ts';

export interface IntegrationSpec {
  id?: string;
  tool?: string;
  category: Category;
  /** Employees (HRIS) or candidates (ATS); the other records scale with it. */
  size: number;
  /** Models its tool does not have: refused by the API, unavailable in GET /integrations/{id}. */
  unavailable?: EndpointName[];
}

export interface ApiFaults {
  /** Probability of a 500/502/503 answer. */
  error5xxRate: number;
  /** Probability the connection is reset before any answer. */
  resetRate: number;
  /** Probability a 200 body is cut off mid-way. */
  truncateRate: number;
  /** Probability of a slow answer, delayed by slowMs. */
  slowRate: number;
  slowMs: number;
  /** Probability of a 429 (beside the real rate limit). */
  rate429: number;
  /** Until this time (epoch ms) every request is answered 429 with Retry-After. */
  stormUntil: number;
  retryAfterSec: number;
  /** An outage that answers 200 with empty lists (what the drift guard exists for). */
  emptyLists: boolean;
  /** Integrations whose every API request fails with 500 (a broken upstream connection). */
  failIntegrations: string[];
  /** Integrations whose own HR system is throttling: 429 REMOTE.RATE_LIMIT_EXCEEDED with retryAfterSec. */
  remoteRateLimited: string[];
  /** Integrations whose last page points back to the second one instead of ending: a cursor cycle. */
  cursorLoops: string[];
  /**
   * Integrations whose pages (of 4 or more records) come back damaged as real upstreams damage them:
   * a NUL in the first record's strings, an unreadable changed_at in the second, the third twice,
   * and the fourth 1.5 MB large (more than a Kafka record may be).
   */
  damagedPages: string[];
}

export const NO_API_FAULTS: ApiFaults = {
  error5xxRate: 0,
  resetRate: 0,
  truncateRate: 0,
  slowRate: 0,
  slowMs: 0,
  rate429: 0,
  stormUntil: 0,
  retryAfterSec: 1,
  emptyLists: false,
  failIntegrations: [],
  remoteRateLimited: [],
  cursorLoops: [],
  damagedPages: [],
};

export interface SimulatorOptions {
  seed?: number;
  apiKey?: string;
  integrations?: IntegrationSpec[];
  webhook?: Partial<WebhookConfig> & { url: string; secret: string; legacySyncFinished?: boolean };
  /** How long a Kombo-side sync takes to stream its changes in (non-atomically). */
  syncDurationMs?: number;
  /** changed_at is this much earlier than the moment a change becomes visible (exposes watermark bugs). */
  commitLagMs?: number;
  /** Deleted records disappear entirely after this long (Kombo anonymises them); Infinity keeps them. */
  purgeAfterMs?: number;
  /** Requests per window per API key; 429 beyond. */
  rateLimit?: { limit: number; windowMs: number };
  /**
   * Kombo marks records deleted only in full syncs (kombo-2026-update.md §5); true marks them in
   * every sync, for tests that want a deletion to show with the delta that made it.
   */
  deletionsInDeltaSyncs?: boolean;
}

export type SyncType = 'FULL' | 'DELTA';

export interface SyncResult {
  syncId: string;
  type: SyncType;
  changedModels: string[];
  startedAt: string;
  endedAt: string;
}

/** The simulated Kombo: integrations, their syncs, webhooks, faults and the ground truth. */
export class SimulatorCore {
  readonly apiKey: string;
  readonly seed: number;
  readonly rng: Rng;
  readonly integrationsById = new Map<string, SimIntegration>();
  readonly webhooks: WebhookSender;
  apiFaults: ApiFaults = { ...NO_API_FAULTS };
  /** API faults served so far: each one is a request the client had to retry. */
  readonly faultsServed = { reset: 0, rateLimited: 0, serverError: 0, truncated: 0 };
  /** List requests per integration, answered or refused: what a client sent it. */
  readonly listRequests = new Map<string, number>();
  syncDurationMs: number;
  commitLagMs: number;
  purgeAfterMs: number;
  rateLimit: { limit: number; windowMs: number };
  legacySyncFinished: boolean;
  deletionsInDeltaSyncs: boolean;
  #pending = new Map<string, Change[]>();
  /** The one sync per integration that is running (Kombo: running or queued). */
  #syncing = new Map<string, { syncId: string; type: SyncType; done: Promise<SyncResult> }>();
  #syncsStarted = new Map<string, number>();
  #live: NodeJS.Timeout | undefined;
  #counter = 0;
  readonly #holds = new Set<Hold>();

  constructor(opts: SimulatorOptions) {
    this.seed = opts.seed ?? 42;
    this.apiKey = opts.apiKey ?? 'sim_api_key';
    this.rng = Rng.of(this.seed, 'sim');
    this.syncDurationMs = opts.syncDurationMs ?? 0;
    this.commitLagMs = opts.commitLagMs ?? 0;
    this.purgeAfterMs = opts.purgeAfterMs ?? Number.POSITIVE_INFINITY;
    this.rateLimit = opts.rateLimit ?? { limit: 1_000_000, windowMs: 60_000 };
    this.legacySyncFinished = opts.webhook?.legacySyncFinished ?? false;
    this.deletionsInDeltaSyncs = opts.deletionsInDeltaSyncs ?? false;
    this.webhooks = new WebhookSender(
      Rng.of(this.seed, 'webhooks'),
      opts.webhook && {
        url: opts.webhook.url,
        secret: opts.webhook.secret,
        maxAttempts: opts.webhook.maxAttempts ?? 8,
        retryBaseMs: opts.webhook.retryBaseMs ?? 200,
        timeoutMs: opts.webhook.timeoutMs ?? 10_000,
      },
    );
    const now = Date.now();
    for (const spec of opts.integrations ?? []) this.#build(spec, now, true);
  }

  #build(spec: IntegrationSpec, at: number, setupDone: boolean): SimIntegration {
    const tools: readonly string[] = spec.category === 'HRIS' ? HRIS_TOOLS : ATS_TOOLS;
    const n = this.#counter++;
    const tool = spec.tool ?? (tools[n % tools.length] as string);
    const id = spec.id ?? integrationId(tool, this.seed, n);
    if (this.integrationsById.has(id)) throw new Error(`integration ${id} exists`);
    const i = new SimIntegration({
      id,
      tool,
      category: spec.category,
      seed: this.seed + n,
      createdAt: at,
      setupDone,
      ...(spec.unavailable ? { unavailable: spec.unavailable } : {}),
    });
    populate(i, spec.size, at);
    this.integrationsById.set(id, i);
    return i;
  }

  integration(id: string): SimIntegration | undefined {
    const i = this.integrationsById.get(id);
    return i && !i.deleted ? i : undefined;
  }

  integrations(): { id: string; tool: string; category: Category; setupDone: boolean; records: number }[] {
    return [...this.integrationsById.values()].map((i) => ({
      id: i.id,
      tool: i.tool,
      category: i.category,
      setupDone: i.setupDone,
      records: [...i.stores.values()].reduce((n, s) => n + s.byId.size, 0),
    }));
  }

  #endUser(i: SimIntegration) {
    return { organization_name: `Org ${i.id.slice(-6)}`, creator_email: 'it@example.com', origin_id: i.id.slice(-6) };
  }

  /**
   * A new connection: `integration-created` now, the first sync (which ends the setup-sync-pending
   * phase) right after.
   */
  async createIntegration(spec: IntegrationSpec): Promise<SimIntegration> {
    const i = this.#build(spec, Date.now(), false);
    this.webhooks.send('integration-created', {
      id: i.id,
      tool: i.tool,
      category: i.category,
      end_user: this.#endUser(i),
    });
    await this.runSync(i.id, { type: 'FULL' });
    return i;
  }

  /** GET /integrations/{id}, as Kombo answers it. */
  integrationInfo(id: string): Record<string, unknown> | undefined {
    const i = this.integration(id);
    return i && renderInfo(i, this.#endUser(i));
  }

  /**
   * The connection changes state at Kombo (credentials expire, it is set inactive, QA fails, a
   * model is disabled, a scope change expires the data): integration-state-changed is sent.
   */
  setLifecycle(id: string, patch: LifecyclePatch): void {
    const i = this.integration(id);
    if (!i) throw new Error(`unknown integration ${id}`);
    const { unavailable, ...rest } = patch;
    Object.assign(i.life, rest);
    if (unavailable) i.life.unavailable = new Set(unavailable);
    this.#stateChanged(i);
  }

  #stateChanged(i: SimIntegration): void {
    this.webhooks.send('integration-state-changed', {
      integration_tool: i.tool,
      integration_id: i.id,
      integration_category: i.category,
      end_user: this.#endUser(i),
      qa_status: i.life.qaStatus,
      setup_status: setupStatus(i),
      state: i.life.status,
      updated_at: new Date().toISOString(),
    });
  }

  deleteIntegration(id: string): void {
    const i = this.integration(id);
    if (!i) throw new Error(`unknown integration ${id}`);
    i.deleted = true;
    this.#pending.delete(id);
    this.webhooks.send('integration-deleted', {
      id: i.id,
      tool: i.tool,
      category: i.category,
      end_user: this.#endUser(i),
      deleted_at: new Date().toISOString(),
    });
  }

  /** Queues upstream changes; they reach the API with the next sync. */
  queue(integrationId: string, changes: Change[]): void {
    if (!this.integration(integrationId)) throw new Error(`unknown integration ${integrationId}`);
    this.#pending.set(integrationId, [...(this.#pending.get(integrationId) ?? []), ...changes]);
  }

  /** Queues the changes and runs a sync (a delta one unless told) that applies them. */
  async change(integrationId: string, changes: Change[], type: SyncType = 'DELTA'): Promise<SyncResult> {
    this.queue(integrationId, changes);
    return this.runSync(integrationId, { type });
  }

  /**
   * A Kombo-side sync: applies queued changes one by one over syncDurationMs (non-atomic: each is
   * visible as soon as applied, with changed_at commitLagMs in the past), marks what vanished from
   * the tool deleted if it is a full sync (or deletionsInDeltaSyncs), then sends data-changed (and
   * sync-finished when enabled). One sync per integration at a time; a second request joins it.
   */
  runSync(integrationId: string, opts: { type: SyncType } = { type: 'DELTA' }): Promise<SyncResult> {
    return this.forceSync(integrationId, opts.type).done;
  }

  /**
   * POST /force-sync: starts a sync unless one is running, in which case that one is the answer
   * (already_queued), whatever type was asked for, as Kombo allows one per integration.
   */
  forceSync(
    integrationId: string,
    type: SyncType,
  ): { alreadyQueued: boolean; syncId: string; type: SyncType; done: Promise<SyncResult> } {
    const running = this.#syncing.get(integrationId);
    if (running) return { alreadyQueued: true, ...running };
    const syncId = `sync_${this.rng.int(1e9, 9e9)}`;
    const done = this.#sync(integrationId, syncId, type).finally(() => this.#syncing.delete(integrationId));
    this.#syncing.set(integrationId, { syncId, type, done });
    return { alreadyQueued: false, syncId, type, done };
  }

  async #sync(integrationId: string, syncId: string, type: SyncType): Promise<SyncResult> {
    const i = this.integration(integrationId);
    if (!i) throw new Error(`unknown integration ${integrationId}`);
    const startedAt = Date.now();
    const changes = this.#pending.get(integrationId) ?? [];
    this.#pending.delete(integrationId);
    const models = new Set<string>();
    if (!i.setupDone) {
      // First sync: the tool's data is read in (taking the sync's duration), then everything is visible.
      if (this.syncDurationMs > 0) await new Promise((r) => setTimeout(r, this.syncDurationMs));
      for (const s of i.stores.values()) for (const e of s.live()) e.c = Math.max(e.c, startedAt - this.commitLagMs);
      for (const ep of i.endpoints()) if (i.store(ep).byId.size) models.add(OWN_MODEL[ep]);
      i.setupDone = true;
      this.#stateChanged(i);
    }
    // A full sync after a scope-config change makes the data valid again.
    if (type === 'FULL') i.life.dataExpiredAt = null;
    const detects = type === 'FULL' || this.deletionsInDeltaSyncs;
    const detect = () => {
      if (detects) for (const e of i.detectVanished(Date.now() - this.commitLagMs)) models.add(OWN_MODEL[e.kind]);
    };
    const step = changes.length ? this.syncDurationMs / changes.length : 0;
    for (const c of changes) {
      if (step > 0) await new Promise((r) => setTimeout(r, step));
      if (i.deleted) break;
      for (const m of applyChange(i, c, Date.now() - this.commitLagMs, this.rng)) models.add(m);
      detect();
    }
    detect();
    this.#purge(i);
    const endedAt = Date.now();
    const base = { integration_id: i.id, integration_tool: i.tool, integration_category: i.category };
    if (models.size && !i.deleted) {
      this.webhooks.send('data-changed', { ...base, changed_models: [...models].sort().map((name) => ({ name })) });
    }
    if (this.legacySyncFinished && !i.deleted) {
      this.webhooks.send('sync-finished', {
        sync_id: syncId,
        sync_state: 'SUCCEEDED',
        sync_started_at: iso(startedAt),
        sync_ended_at: iso(endedAt),
        sync_duration_seconds: Math.round((endedAt - startedAt) / 1000),
        ...base,
        end_user: this.#endUser(i),
        log_url: `https://app.kombo.dev/sim/logs/${syncId}`,
      });
    }
    return { syncId, type, changedModels: [...models].sort(), startedAt: iso(startedAt), endedAt: iso(endedAt) };
  }

  #purge(i: SimIntegration): void {
    if (!Number.isFinite(this.purgeAfterMs)) return;
    const cutoff = Date.now() - this.purgeAfterMs;
    for (const s of i.stores.values()) for (const e of [...s.live()]) if (e.d && e.d <= cutoff) i.purge(e);
  }

  /**
   * Random upstream changes across integrations, synced in small batches, until stopped. Every
   * `fullSyncEvery`-th sync of an integration is a full one (Kombo: deltas every 3 h, full syncs every
   * 10 h), which is when deletions show.
   */
  startLiveChanges(opts: {
    changesPerSec: number;
    integrations?: string[];
    batch?: number;
    fullSyncEvery?: number;
  }): void {
    this.stopLiveChanges();
    const batch = opts.batch ?? 3;
    const fullEvery = opts.fullSyncEvery ?? 4;
    const period = Math.max(20, (1000 * batch) / opts.changesPerSec);
    this.#live = setInterval(() => {
      const ids =
        opts.integrations ??
        [...this.integrationsById.values()].filter((i) => !i.deleted && i.setupDone).map((i) => i.id);
      if (!ids.length) return;
      const i = this.integration(this.rng.pick(ids));
      if (!i) return;
      this.queue(
        i.id,
        Array.from({ length: batch }, () => randomChange(i, this.rng)),
      );
      const n = (this.#syncsStarted.get(i.id) ?? 0) + 1;
      this.#syncsStarted.set(i.id, n);
      void this.runSync(i.id, { type: n % fullEvery === 0 ? 'FULL' : 'DELTA' }).catch(() => {});
    }, period);
  }

  stopLiveChanges(): void {
    if (this.#live) clearInterval(this.#live);
    this.#live = undefined;
  }

  /** Waits for running syncs and webhook deliveries to finish. */
  async settle(): Promise<void> {
    while (this.#syncing.size) await Promise.allSettled([...this.#syncing.values()].map((s) => s.done));
    await this.webhooks.drain();
  }

  /**
   * Ground truth: what a perfect mirror of this endpoint holds now, in API order. Deleted records
   * are included (with remote_deleted_at) unless asked otherwise; purged ones are gone.
   */
  truth(
    integrationId: string,
    endpoint: EndpointName,
    opts: { includeDeleted?: boolean } = {},
  ): Record<string, unknown>[] {
    const i = this.integration(integrationId);
    // What the API serves: nothing of a model the integration does not have.
    if (!i?.stores.has(endpoint) || i.life.unavailable.has(endpoint)) return [];
    const out: Record<string, unknown>[] = [];
    for (const e of i.store(endpoint).live()) if (!e.d || (opts.includeDeleted ?? true)) out.push(render(i, e));
    return out;
  }

  setWebhookFaults(f: Partial<WebhookFaults>): void {
    this.webhooks.faults = { ...this.webhooks.faults, ...f };
  }

  setApiFaults(f: Partial<ApiFaults>): void {
    this.apiFaults = { ...this.apiFaults, ...f };
  }

  clearFaults(): void {
    this.apiFaults = { ...NO_API_FAULTS };
    this.webhooks.faults = { ...NO_WEBHOOK_FAULTS };
  }

  /**
   * Holds the list requests of an integration (optionally only of one endpoint, only those `match`
   * accepts, and after letting `after` of them pass) until released: tests use it to force an
   * interleaving (a delta between two turns of a full fetch) without relying on timing.
   */
  hold(
    integrationId: string,
    endpoint?: EndpointName,
    opts: { after?: number; match?: (q: ListQuery) => boolean } = {},
  ): Hold {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    const hold: Hold = {
      integrationId,
      ...(endpoint ? { endpoint } : {}),
      passes: opts.after ?? 0,
      match: opts.match ?? (() => true),
      waiting: 0,
      released,
      release: () => {
        this.#holds.delete(hold);
        release();
      },
    };
    this.#holds.add(hold);
    return hold;
  }

  /** Resolves when no hold applies to this request (called by the API before answering a list). */
  async passHolds(integrationId: string, endpoint: EndpointName, q: ListQuery): Promise<void> {
    for (const h of [...this.#holds]) {
      if (h.integrationId !== integrationId || (h.endpoint && h.endpoint !== endpoint) || !h.match(q)) continue;
      if (h.passes > 0) {
        h.passes--;
        continue;
      }
      h.waiting++;
      await h.released;
      h.waiting--;
    }
  }
}

export interface Hold {
  readonly integrationId: string;
  readonly endpoint?: EndpointName;
  /** Requests still let through before the hold applies. */
  passes: number;
  readonly match: (q: ListQuery) => boolean;
  /** Requests waiting on this hold now. */
  waiting: number;
  readonly released: Promise<void>;
  release(): void;
}
