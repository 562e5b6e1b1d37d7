import { z } from 'zod';

/**
 * Kombo webhook payloads (kombo-api.md §4). Known types are validated strictly enough to act on them;
 * unknown types are accepted as {id, type, data} so a new Kombo event never bounces (it is stored and
 * planned as a no-op).
 */
const category = z.string().min(1);
const endUser = z
  .object({ organization_name: z.string(), creator_email: z.string().nullable(), origin_id: z.string().nullable() })
  .partial()
  .passthrough();

const envelope = <T extends string, D extends z.ZodType>(type: T, data: D) =>
  z.object({ id: z.string().min(1), type: z.literal(type), data });

export const dataChangedSchema = envelope(
  'data-changed',
  z
    .object({
      integration_id: z.string().min(1),
      integration_tool: z.string(),
      integration_category: category,
      changed_models: z.array(z.object({ name: z.string().min(1) }).passthrough()),
    })
    .passthrough(),
);

export const syncFinishedSchema = envelope(
  'sync-finished',
  z
    .object({
      sync_id: z.string(),
      sync_state: z.string(),
      integration_id: z.string().min(1),
      integration_tool: z.string(),
      integration_category: category,
    })
    .passthrough(),
);

const integrationLifecycle = z
  .object({ id: z.string().min(1), tool: z.string(), category, end_user: endUser.optional() })
  .passthrough();
export const integrationCreatedSchema = envelope('integration-created', integrationLifecycle);
export const integrationDeletedSchema = envelope(
  'integration-deleted',
  integrationLifecycle.extend({ deleted_at: z.string().optional() }),
);

const withIntegration = z
  .object({ integration_id: z.string().min(1), integration_tool: z.string(), integration_category: category })
  .passthrough();
export const integrationStateChangedSchema = envelope('integration-state-changed', withIntegration);
export const remoteEventReceivedSchema = envelope('remote-event-received', withIntegration);
export const connectionFlowFailedSchema = envelope(
  'connection-flow-failed',
  z.object({ integration_tool: z.string(), integration_category: category }).passthrough(),
);

const KNOWN = {
  'data-changed': dataChangedSchema,
  'sync-finished': syncFinishedSchema,
  'integration-created': integrationCreatedSchema,
  'integration-deleted': integrationDeletedSchema,
  'integration-state-changed': integrationStateChangedSchema,
  'remote-event-received': remoteEventReceivedSchema,
  'connection-flow-failed': connectionFlowFailedSchema,
} as const;

const unknownEvent = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
});

export type DataChanged = z.infer<typeof dataChangedSchema>;
export type KnownEvent = { [K in keyof typeof KNOWN]: z.infer<(typeof KNOWN)[K]> }[keyof typeof KNOWN];
export type UnknownEvent = z.infer<typeof unknownEvent> & { known: false };
export type KomboEvent = KnownEvent | UnknownEvent;

export const isKnownEvent = (e: KomboEvent): e is KnownEvent => !('known' in e);

export type ParseResult = { ok: true; event: KomboEvent } | { ok: false; reason: string };

/** Parses a raw webhook body; never throws. */
export function parseWebhook(raw: Buffer | string): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not valid JSON' };
  }
  const base = unknownEvent.safeParse(json);
  if (!base.success) return { ok: false, reason: `not a Kombo webhook: ${summarise(base.error)}` };
  const schema = KNOWN[base.data.type as keyof typeof KNOWN];
  if (!schema) return { ok: true, event: { ...base.data, known: false } };
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `invalid ${base.data.type} payload: ${summarise(parsed.error)}` };
  return { ok: true, event: parsed.data as KomboEvent };
}

function summarise(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** The integration an event belongs to: the Kafka key of the events topic (none for connection-flow-failed). */
export function eventIntegrationId(e: KomboEvent): string | undefined {
  const d = e.data as Record<string, unknown>;
  if (typeof d.integration_id === 'string') return d.integration_id;
  if ((e.type === 'integration-created' || e.type === 'integration-deleted') && typeof d.id === 'string') return d.id;
  return undefined;
}
