import { z } from 'zod';
import { type EndpointName, tableName } from './endpoints.ts';

/**
 * `GET /integrations/{id}` as far as the connector acts on it (kombo-2026-update.md §6, SDK 1.3.4
 * GetIntegrationsIntegrationIdPositiveResponse). Unknown enum values are kept as text, so a status
 * Kombo adds later is shown, not refused; only what the lifecycle decides on is required.
 */
export const integrationInfoSchema = z
  .object({
    id: z.string().min(1),
    tool: z.object({ id: z.string().min(1) }).passthrough(),
    category: z.string().min(1),
    status: z.string().min(1),
    setup_status: z.string().min(1),
    data_expired_at: z.string().nullable().optional(),
    read_models: z
      .array(z.object({ id: z.string().min(1), is_available: z.boolean() }).passthrough())
      .optional()
      .default([]),
  })
  .passthrough();

export type IntegrationInfo = z.infer<typeof integrationInfoSchema>;

/**
 * The read model behind each endpoint, as Kombo names it in `read_models` and in data-changed
 * webhooks: the endpoint's own name, except groups, which Kombo still calls teams.
 */
const READ_MODEL_ALIASES: Partial<Record<EndpointName, readonly string[]>> = {
  'hris/groups': ['hris_teams', 'hris_groups'],
};

export function readModelIds(endpoint: EndpointName): readonly string[] {
  return READ_MODEL_ALIASES[endpoint] ?? [tableName(endpoint)];
}

/**
 * Endpoints the integration does not have: its read model is listed and not available (unsupported
 * by the tool, disabled in the scope config, opted out by the customer). A model Kombo does not list
 * is mirrored: missing data must be visible as an error, never silently absent.
 */
export function unavailableEndpoints(info: IntegrationInfo, endpoints: readonly EndpointName[]): EndpointName[] {
  const byId = new Map(info.read_models.map((m) => [m.id, m.is_available]));
  return endpoints.filter((e) => readModelIds(e).some((id) => byId.get(id) === false));
}

/** Endpoints whose read model is listed as available (a model error earlier is then over). */
export function availableEndpoints(info: IntegrationInfo, endpoints: readonly EndpointName[]): EndpointName[] {
  const byId = new Map(info.read_models.map((m) => [m.id, m.is_available]));
  return endpoints.filter((e) => readModelIds(e).some((id) => byId.get(id) === true));
}
