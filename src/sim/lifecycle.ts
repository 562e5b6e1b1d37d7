import type { EndpointName } from '../kombo/endpoints.ts';
import { OWN_MODEL, type SimIntegration } from './integration.ts';
import { SimApiError } from './query.ts';

/** What Kombo keeps about a connection besides its data (kombo-2026-update.md §6). */
export interface SimLifecycle {
  status: 'ACTIVE' | 'INVALID' | 'INACTIVE';
  /** The customer has not finished the connection flow's setup steps. */
  setupIncomplete: boolean;
  qaStatus: 'PENDING' | 'FAILED' | 'PASSED';
  /** Models the tool lacks (or the scope config disables): not in the API, unavailable in read_models. */
  unavailable: Set<EndpointName>;
  /**
   * Models the API already refuses while read_models still lists them as available: a scope-config
   * change between two reads of the integration, which only a fetch can find out about.
   */
  refusedUnannounced: Set<EndpointName>;
  /** Set when a scope-config change invalidated the synced data; cleared by the next full sync. */
  dataExpiredAt: number | null;
}

export type LifecyclePatch = Partial<Omit<SimLifecycle, 'unavailable' | 'refusedUnannounced'>> & {
  unavailable?: EndpointName[];
};

export function newLifecycle(unavailable: readonly EndpointName[] = []): SimLifecycle {
  return {
    status: 'ACTIVE',
    setupIncomplete: false,
    qaStatus: 'PASSED',
    unavailable: new Set(unavailable),
    refusedUnannounced: new Set(),
    dataExpiredAt: null,
  };
}

export function setupStatus(i: SimIntegration): 'INCOMPLETE' | 'FINAL_SYNC_PENDING' | 'COMPLETED' {
  return i.life.setupIncomplete ? 'INCOMPLETE' : i.setupDone ? 'COMPLETED' : 'FINAL_SYNC_PENDING';
}

const iso = (ms: number) => new Date(ms).toISOString();

/** GET /integrations/{id}'s data, every read model of the category listed, available or not. */
export function integrationInfo(i: SimIntegration, endUser: Record<string, unknown>): Record<string, unknown> {
  return {
    id: i.id,
    tool: {
      id: i.tool,
      label: i.tool[0]?.toUpperCase() + i.tool.slice(1),
      internal_label: null,
      logo_url: `https://storage.googleapis.com/kombo-assets/integrations/${i.tool}/logo.svg`,
      icon_url: `https://storage.googleapis.com/kombo-assets/integrations/${i.tool}/icon.svg`,
    },
    category: i.category,
    status: i.life.status,
    setup_status: setupStatus(i),
    end_user: endUser,
    scope_config: { id: 'sim_scope_config', name: 'Default' },
    data_expired_at: i.life.dataExpiredAt === null ? null : iso(i.life.dataExpiredAt),
    created_at: iso(i.createdAt),
    beta: false,
    read_models: i.endpoints().map((ep) => {
      const missing = i.life.unavailable.has(ep);
      return {
        id: OWN_MODEL[ep],
        label: ep.split('/')[1],
        is_available: !missing,
        coverage_status: missing ? 'UNSUPPORTED' : 'SUPPORTED',
        scope_config_setting: 'ENABLED',
        opted_out_by_customer: false,
        fields: [],
      };
    }),
    write_actions: [],
  };
}

/**
 * Why Kombo refuses to serve this endpoint of the integration now, by Kombo's codes: credentials
 * and activation first (403), then the setup and QA gates (409, as since 2026-05), then the model.
 */
export function accessError(i: SimIntegration, endpoint: EndpointName): SimApiError | undefined {
  if (i.life.status === 'INVALID')
    return new SimApiError(
      403,
      'INTEGRATION.AUTHENTICATION_INVALID',
      'The credentials are invalid.',
      `Reconnect ${i.tool}.`,
    );
  if (i.life.status === 'INACTIVE')
    return new SimApiError(403, 'INTEGRATION.INACTIVE', 'The integration is inactive.', 'Enable it in the dashboard.');
  if (i.life.setupIncomplete)
    return new SimApiError(409, 'INTEGRATION.SETUP_INCOMPLETE', 'The setup is incomplete.', 'Finish the setup flow.');
  if (!i.setupDone)
    return new SimApiError(
      409,
      'INTEGRATION.SETUP_SYNC_PENDING',
      'The initial sync is still running.',
      'Please wait until the first sync finished.',
    );
  if (i.life.qaStatus === 'FAILED')
    return new SimApiError(
      409,
      'INTEGRATION.QA_FAILED',
      'The quality check failed.',
      'See the integration in the dashboard.',
    );
  if (i.life.unavailable.has(endpoint) || i.life.refusedUnannounced.has(endpoint))
    return new SimApiError(
      400,
      'INTEGRATION.MODEL_NOT_AVAILABLE',
      "This data model isn't supported for the selected integration.",
      `The "${endpoint.split('/')[1]}" model is not available for ${i.tool}.`,
    );
  return undefined;
}
