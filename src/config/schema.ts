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

const brokers = z
  .string()
  .transform(list)
  .refine((l) => l.length > 0, 'must list at least one host:port')
  .refine((l) => l.every((b) => /^[^\s:]+:\d{1,5}$/.test(b)), 'must be comma-separated host:port pairs');

const endpoints = z
  .string()
  .transform((s) => (s.trim() === 'all' ? [...ENDPOINT_NAMES] : list(s)))
  .superRefine((l, ctx) => {
    const bad = l.filter((e) => !isEndpointName(e));
    if (bad.length)
      ctx.addIssue({
        code: 'custom',
        message: `unknown endpoint(s) ${bad.join(', ')}; known: ${ENDPOINT_NAMES.join(', ')}`,
      });
    if (l.length === 0) ctx.addIssue({ code: 'custom', message: 'must name at least one endpoint, or "all"' });
  })
  .transform((l) => [...new Set(l)] as EndpointName[]);

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
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'letters, digits, _ - and dots only')
    .default('kombo'),
  KOMBO_ENDPOINTS: endpoints.default([...ENDPOINT_NAMES]),
  PG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _ only')
    .default('kombo'),
  STATE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _ only')
    .default('kombo_stream'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Settings = z.output<typeof settingsSchema>;
export type SettingKey = keyof z.input<typeof settingsSchema>;
export const SETTING_KEYS = Object.keys(settingsSchema.shape) as SettingKey[];
