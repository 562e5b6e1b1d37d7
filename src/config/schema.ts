import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { ENDPOINT_NAMES, type EndpointName, isEndpointName } from '../kombo/endpoints.ts';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

const port = z.coerce.number().int().min(0).max(65_535);

const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine(
      (s) => {
        try {
          return protocols.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL (${protocols.join(' or ')})`,
    );

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as milliseconds, or with a unit: 500ms, 30s, 10m, 3h, 7d. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(String(v));
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 500ms, 30s, 10m, 3h or 7d' });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 'ms'] as number));
});

const cron = z.string().refine((s) => {
  try {
    CronExpressionParser.parse(s);
    return true;
  } catch {
    return false;
  }
}, 'must be a cron expression, e.g. "0 2 * * 0"');

const brokers = z
  .string()
  .transform(list)
  .refine((l) => l.length > 0, 'must list at least one host:port')
  .refine((l) => l.every((b) => /^[^\s:]+:\d{1,5}$/.test(b)), 'must be comma-separated host:port pairs');

/** A list of endpoint names, or "all" (and, where nothing is a valid choice, "none"). */
const endpointList = (opts: { none: boolean }) =>
  z
    .string()
    .transform((s) => (s.trim() === 'all' ? [...ENDPOINT_NAMES] : opts.none && s.trim() === 'none' ? [] : list(s)))
    .superRefine((l, ctx) => {
      const bad = l.filter((e) => !isEndpointName(e));
      if (bad.length)
        ctx.addIssue({
          code: 'custom',
          message: `unknown endpoint(s) ${bad.join(', ')}; known: ${ENDPOINT_NAMES.join(', ')}`,
        });
      if (l.length === 0 && !opts.none)
        ctx.addIssue({ code: 'custom', message: 'must name at least one endpoint, or "all"' });
    })
    .transform((l) => [...new Set(l)] as EndpointName[]);
const endpoints = endpointList({ none: false });

/**
 * Every setting, keyed by its environment variable name. A config file uses the same keys; the
 * environment wins over the file. Defaults are what a new user should get.
 */
export const settingsSchema = z.object({
  KAFKA_BROKERS: brokers,
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  SCHEMA_REGISTRY_URL: url(['http:', 'https:']).optional(),
  KOMBO_API_URL: url(['http:', 'https:']).default('https://api.kombo.dev/v1'),
  KOMBO_API_KEY: z.string().min(1).optional(),
  KOMBO_WEBHOOK_SECRET: z
    .string()
    .transform(list)
    .refine((l) => l.length > 0, 'must hold at least one secret')
    .optional(),
  PORT: port.default(8080),
  ADMIN_PORT: port.default(8081),
  ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'letters, digits, _ - and dots only')
    .default('kombo'),
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1_000).default(6),
  KAFKA_SESSION_TIMEOUT: duration.default(30_000),
  KAFKA_MAX_RECORD_BYTES: z.coerce.number().int().min(1024).default(1_000_000),
  KAFKA_SECURITY_PROTOCOL: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT'),
  KAFKA_SASL_MECHANISM: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SSL_CA_LOCATION: z.string().min(1).optional(),
  KAFKA_SSL_CERTIFICATE_LOCATION: z.string().min(1).optional(),
  KAFKA_SSL_KEY_LOCATION: z.string().min(1).optional(),
  KAFKA_SSL_KEY_PASSWORD: z.string().min(1).optional(),
  KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: z.enum(['https', 'none']).default('https'),
  PG_SSL_MODE: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).optional(),
  PG_SSL_CA_LOCATION: z.string().min(1).optional(),
  PG_SSL_CERTIFICATE_LOCATION: z.string().min(1).optional(),
  PG_SSL_KEY_LOCATION: z.string().min(1).optional(),
  SCHEMA_REGISTRY_USERNAME: z.string().min(1).optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().min(1).optional(),
  SCHEMA_REGISTRY_SSL_CA_LOCATION: z.string().min(1).optional(),
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(-1).max(10).default(-1),
  KOMBO_ENDPOINTS: endpoints.default([...ENDPOINT_NAMES]),
  PG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _ only')
    .default('kombo'),
  STATE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _ only')
    .default('kombo_stream'),
  WEBHOOK_BODY_LIMIT: z.coerce.number().int().min(1_024).default(1_048_576),
  WEBHOOK_ACK_TIMEOUT: duration.default(5_000),
  DELTA_POLL_INTERVAL: duration.default(3 * 3_600_000),
  FULL_SYNC_CRON: cron.default('0 2 * * 0'),
  FULL_SYNC_TIMEZONE: z.string().default('UTC'),
  SCHEDULER_TICK: duration.default(10_000),
  INTEGRATION_REFRESH_INTERVAL: duration.default(6 * 3_600_000),
  INTEGRATION_RECHECK_INTERVAL: duration.default(15 * 60_000),
  FETCH_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  FETCH_OVERLAP: duration.default(10 * 60_000),
  FETCH_PAGE_SIZE: z.coerce.number().int().min(1).max(250).default(250),
  FETCH_MAX_PAGES_PER_TURN: z.coerce.number().int().min(1).default(20),
  FETCH_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(6),
  FETCH_RETRY_BASE: duration.default(500),
  FETCH_RETRY_MAX: duration.default(30_000),
  FETCH_TIMEOUT: duration.default(30_000),
  FETCH_MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  FETCH_MAX_RETRY_WAIT: duration.default(15 * 60_000),
  FETCH_MAX_SINK_LAG: z.coerce.number().int().min(0).default(5_000),
  FETCH_RUN_STALE_AFTER: duration.default(6 * 3_600_000),
  KOMBO_RATE_LIMIT: z.coerce.number().positive().default(5),
  KOMBO_RATE_LIMIT_PER_INTEGRATION: z.coerce.number().positive().default(2),
  KOMBO_EXCLUDE_FIELDS: z
    .string()
    .transform(list)
    .superRefine((l, ctx) => {
      const bad = l.filter((f) => {
        const at = f.indexOf('.');
        return (
          at < 0 || !isEndpointName(f.slice(0, at)) || !/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/.test(f.slice(at + 1))
        );
      });
      if (bad.length)
        ctx.addIssue({
          code: 'custom',
          message: `entries must be <endpoint>.<field>[.<nested field>...], e.g. hris/employees.ssn or hris/employees.bank_accounts.iban; bad: ${bad.join(', ')}`,
        });
    })
    .default([]),
  SINK_DELETE_MODE: z.enum(['soft', 'hard']).default('soft'),
  SINK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(3),
  // Which endpoints keep every version in <table>_history: all, none, or a list.
  SINK_HISTORY: endpointList({ none: true }).default([...ENDPOINT_NAMES]),
  // Which record topics get a `.changes` topic of change events: none (default), all, or a list.
  CHANGE_EVENTS: endpointList({ none: true }).default([]),
  CHANGE_EVENTS_RETENTION: duration.default(7 * 86_400_000),
  DRIFT_MAX_DELETE_FRACTION: z.coerce.number().min(0).max(1).default(0.2),
  DRIFT_GUARD_MIN_RECORDS: z.coerce.number().int().min(0).default(10),
  DRIFT_SINK_GRACE: duration.default(5 * 60_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Settings = z.output<typeof settingsSchema>;
export type SettingKey = keyof z.input<typeof settingsSchema>;
export const SETTING_KEYS = Object.keys(settingsSchema.shape) as SettingKey[];
