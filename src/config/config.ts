import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { NESTED_IN } from '../kombo/models.ts';
import { SETTING_KEYS, type Settings, settingsSchema } from './schema.ts';
import {
  type KafkaSecurity,
  kafkaSecurity,
  type PostgresTls,
  postgresTls,
  type RegistryAccess,
  registryAccess,
} from './tls.ts';

/** The one validated configuration object every part receives. */
export interface Config {
  readonly kafka: {
    /** Endpoints whose record topic has a `.changes` topic of change events, and how long they are kept. */
    readonly changeEvents: readonly EndpointName[];
    readonly changeEventsRetentionMs: number;
    readonly brokers: readonly string[];
    readonly topicPrefix: string;
    /** Partitions of topics we create; -1 replication means the broker's default. */
    readonly partitions: number;
    readonly replicationFactor: number;
    /** How long a silent group member keeps its partitions (a crashed process's work waits this long). */
    readonly sessionTimeoutMs: number;
    /** A record larger than this (the brokers' message.max.bytes, less overhead) is dead-lettered. */
    readonly maxRecordBytes: number;
    /** TLS and SASL, with the PEM files already read. */
    readonly security: KafkaSecurity;
  };
  readonly databaseUrl: string;
  /** Postgres schemas: the sink's tables, and the connector's own state. */
  readonly postgres: { readonly sinkSchema: string; readonly stateSchema: string; readonly tls?: PostgresTls };
  readonly schemaRegistryUrl: string | undefined;
  readonly schemaRegistry: RegistryAccess;
  readonly kombo: {
    readonly apiUrl: string;
    readonly apiKey: string | undefined;
    readonly webhookSecrets: readonly string[];
    readonly endpoints: readonly EndpointName[];
  };
  readonly http: {
    /** The internet-facing listener: webhooks and a bare /healthz. */
    readonly port: number;
    /** The internal listener: admin API, /metrics, detailed /healthz and /readyz. */
    readonly adminPort: number;
    readonly adminHost: string;
    readonly adminToken: string | undefined;
  };
  readonly ingress: { readonly bodyLimitBytes: number; readonly ackTimeoutMs: number };
  readonly planner: {
    readonly deltaPollIntervalMs: number;
    readonly fullSyncCron: string;
    readonly fullSyncTimezone: string;
    readonly schedulerTickMs: number;
    /** How often every integration's state is read again from Kombo (GET /integrations/{id}). */
    readonly refreshIntervalMs: number;
    /** How often a parked or held integration is read again, to resume it once it can be read. */
    readonly recheckIntervalMs: number;
  };
  readonly fetcher: {
    readonly concurrency: number;
    readonly overlapMs: number;
    readonly pageSize: number;
    readonly maxPagesPerTurn: number;
    /** A full fetch in flight that made no progress this long is abandoned (a lost continuation). */
    readonly runStaleAfterMs: number;
    /** Bulk reads pause while the sink is more records behind than this (0: never). */
    readonly maxSinkLag: number;
    readonly timeoutMs: number;
    /** Larger answers are refused (a misbehaving upstream must not run the process out of memory). */
    readonly maxResponseBytes: number;
    /** The longest a 429's Retry-After / ratelimit-reset is honoured for, per wait. */
    readonly maxRetryWaitMs: number;
    readonly retry: {
      readonly maxAttempts: number;
      readonly baseMs: number;
      readonly maxMs: number;
    };
    readonly rateLimit: { readonly globalPerSec: number; readonly perIntegrationPerSec: number };
    /** Fields never emitted, per endpoint (sensitive data outside the operator's scope). */
    readonly excludeFields: ReadonlyMap<EndpointName, readonly string[]>;
  };
  readonly sink: {
    readonly deleteMode: 'soft' | 'hard';
    readonly concurrency: number;
    /** Endpoints whose every version is kept in `<table>_history`. */
    readonly history: readonly EndpointName[];
  };
  readonly drift: {
    /** A sweep that would delete more than this share of an endpoint's records stops and alerts. */
    readonly maxDeleteFraction: number;
    /** Sweeps deleting fewer records than this never trip the guard (small integrations churn). */
    readonly guardMinRecords: number;
    /**
     * How long the sink check waits for the Postgres sink to store everything emitted before it; a
     * sink still behind then is not judged (the report says the check was skipped).
     */
    readonly sinkGraceMs: number;
  };
  readonly logLevel: Settings['LOG_LEVEL'];
}

export type RawSettings = Partial<Record<string, string | number | undefined>>;

/**
 * Where a JSON syntax error is, and nothing of the text around it: the parser quotes the file's
 * contents in its message, and they may be a secret.
 */
function syntaxErrorPlace(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return 'not valid JSON';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return `not valid JSON (line ${line}, column ${before.length - before.lastIndexOf('\n')})`;
}

function readConfigFile(file: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      { key: '--config', message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ key: '--config', message: `${file} is ${syntaxErrorPlace(text, err as Error)}` }]);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([{ key: '--config', message: `${file} must hold a JSON object of settings` }]);
  }
  const unknown = Object.keys(parsed).filter((k) => !(SETTING_KEYS as string[]).includes(k));
  if (unknown.length) {
    throw new ConfigError(unknown.map((key) => ({ key, message: `unknown setting in ${file}` })));
  }
  return parsed as RawSettings;
}

/**
 * Builds the configuration from, in rising precedence: `defaults` (e.g. the demo's local stack),
 * the config file, and the environment. Only the settings' own keys are read from `env`. Throws a
 * ConfigError naming every bad key at once.
 */
export function loadConfig(opts: { env: NodeJS.ProcessEnv; file?: string; defaults?: RawSettings }): Config {
  const fromFile = opts.file ? readConfigFile(opts.file) : {};
  const merged: RawSettings = { ...opts.defaults, ...fromFile };
  for (const key of SETTING_KEYS) {
    const v = opts.env[key];
    if (v !== undefined && v !== '') merged[key] = v;
  }
  const result = settingsSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({
        key: String(i.path[0] ?? '(config)'),
        message: i.code === 'invalid_type' && merged[String(i.path[0])] === undefined ? 'is required' : i.message,
      })),
    );
  }
  const s = result.data;
  const issues: { key: string; message: string }[] = [];
  const kafkaSec = kafkaSecurity(s, issues);
  const pgTls = postgresTls(s, issues);
  const registry = registryAccess(s, issues);
  if (issues.length) throw new ConfigError(issues);
  return Object.freeze({
    kafka: Object.freeze({
      brokers: s.KAFKA_BROKERS,
      topicPrefix: s.TOPIC_PREFIX,
      partitions: s.KAFKA_PARTITIONS,
      replicationFactor: s.KAFKA_REPLICATION_FACTOR,
      sessionTimeoutMs: s.KAFKA_SESSION_TIMEOUT,
      maxRecordBytes: s.KAFKA_MAX_RECORD_BYTES,
      security: kafkaSec,
      // Only mirrored endpoints have record topics, so only they can have change topics.
      changeEvents: s.CHANGE_EVENTS.filter((e) => s.KOMBO_ENDPOINTS.includes(e)),
      changeEventsRetentionMs: s.CHANGE_EVENTS_RETENTION,
    }),
    databaseUrl: s.DATABASE_URL,
    postgres: Object.freeze({
      sinkSchema: s.PG_SCHEMA,
      stateSchema: s.STATE_SCHEMA,
      ...(pgTls ? { tls: pgTls } : {}),
    }),
    schemaRegistryUrl: s.SCHEMA_REGISTRY_URL,
    schemaRegistry: registry,
    kombo: Object.freeze({
      apiUrl: s.KOMBO_API_URL.replace(/\/+$/, ''),
      apiKey: s.KOMBO_API_KEY,
      webhookSecrets: s.KOMBO_WEBHOOK_SECRET ?? [],
      endpoints: s.KOMBO_ENDPOINTS,
    }),
    http: Object.freeze({ port: s.PORT, adminPort: s.ADMIN_PORT, adminHost: s.ADMIN_HOST, adminToken: s.ADMIN_TOKEN }),
    ingress: Object.freeze({ bodyLimitBytes: s.WEBHOOK_BODY_LIMIT, ackTimeoutMs: s.WEBHOOK_ACK_TIMEOUT }),
    planner: Object.freeze({
      deltaPollIntervalMs: s.DELTA_POLL_INTERVAL,
      fullSyncCron: s.FULL_SYNC_CRON,
      fullSyncTimezone: s.FULL_SYNC_TIMEZONE,
      schedulerTickMs: s.SCHEDULER_TICK,
      refreshIntervalMs: s.INTEGRATION_REFRESH_INTERVAL,
      recheckIntervalMs: s.INTEGRATION_RECHECK_INTERVAL,
    }),
    fetcher: Object.freeze({
      concurrency: s.FETCH_CONCURRENCY,
      overlapMs: s.FETCH_OVERLAP,
      pageSize: s.FETCH_PAGE_SIZE,
      maxPagesPerTurn: s.FETCH_MAX_PAGES_PER_TURN,
      runStaleAfterMs: s.FETCH_RUN_STALE_AFTER,
      maxSinkLag: s.FETCH_MAX_SINK_LAG,
      timeoutMs: s.FETCH_TIMEOUT,
      maxResponseBytes: s.FETCH_MAX_RESPONSE_BYTES,
      maxRetryWaitMs: s.FETCH_MAX_RETRY_WAIT,
      retry: Object.freeze({
        maxAttempts: s.FETCH_MAX_ATTEMPTS,
        baseMs: s.FETCH_RETRY_BASE,
        maxMs: s.FETCH_RETRY_MAX,
      }),
      rateLimit: Object.freeze({
        globalPerSec: s.KOMBO_RATE_LIMIT,
        perIntegrationPerSec: s.KOMBO_RATE_LIMIT_PER_INTEGRATION,
      }),
      excludeFields: excludeMap(s.KOMBO_EXCLUDE_FIELDS),
    }),
    sink: Object.freeze({
      deleteMode: s.SINK_DELETE_MODE,
      concurrency: s.SINK_CONCURRENCY,
      history: s.SINK_HISTORY,
    }),
    drift: Object.freeze({
      maxDeleteFraction: s.DRIFT_MAX_DELETE_FRACTION,
      guardMinRecords: s.DRIFT_GUARD_MIN_RECORDS,
      sinkGraceMs: s.DRIFT_SINK_GRACE,
    }),
    logLevel: s.LOG_LEVEL,
  });
}

/**
 * Per endpoint, the field paths to drop: its own, and those of every endpoint whose records it nests
 * (at the nesting path), so an excluded field is excluded wherever its model appears.
 */
function excludeMap(entries: readonly string[]): ReadonlyMap<EndpointName, readonly string[]> {
  const m = new Map<EndpointName, string[]>();
  const add = (ep: EndpointName, path: string) => m.set(ep, [...new Set([...(m.get(ep) ?? []), path])]);
  for (const e of entries) {
    const at = e.indexOf('.');
    const ep = e.slice(0, at) as EndpointName;
    const path = e.slice(at + 1);
    add(ep, path);
    for (const n of NESTED_IN[ep] ?? []) add(n.endpoint, `${n.path}.${path}`);
  }
  return m;
}

export interface EffectiveSetting {
  key: string;
  /** As the process uses it; secrets masked (a URL keeps its host, never its password). */
  value: string;
  source: 'environment' | 'file' | 'default' | 'unset';
}

/** Every setting with its effective value and where it came from (`kombo-stream doctor`). */
export function describeSettings(opts: {
  env: NodeJS.ProcessEnv;
  file?: string;
  defaults?: RawSettings;
}): EffectiveSetting[] {
  const fromFile = opts.file ? readConfigFile(opts.file) : {};
  const parsed = settingsSchema.safeParse({
    ...opts.defaults,
    ...fromFile,
    ...Object.fromEntries(SETTING_KEYS.flatMap((k) => (opts.env[k] ? [[k, opts.env[k]]] : []))),
  });
  const data = (parsed.success ? parsed.data : {}) as Record<string, unknown>;
  return SETTING_KEYS.map((key) => {
    const source = opts.env[key]
      ? 'environment'
      : key in fromFile
        ? 'file'
        : opts.defaults?.[key] !== undefined || data[key] !== undefined
          ? 'default'
          : 'unset';
    const v = data[key];
    const shown = v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
    return {
      key,
      value: (SECRET_KEYS as readonly string[]).includes(key) && shown ? masked(key, shown) : shown,
      source,
    };
  });
}

function masked(key: string, value: string): string {
  return key === 'DATABASE_URL' ? maskPassword(value) : '(set, hidden)';
}

/** A Postgres URL fit to print: its password replaced (all of it hidden if it does not parse). */
export function maskPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(set, hidden)';
  }
}

/** Keys whose values must never reach a log line or an error message. */
export const SECRET_KEYS = [
  'KOMBO_API_KEY',
  'KOMBO_WEBHOOK_SECRET',
  'ADMIN_TOKEN',
  'DATABASE_URL',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_SSL_KEY_PASSWORD',
  'SCHEMA_REGISTRY_PASSWORD',
] as const;
