import type { IntegrationRow, StateStore } from '../state/store.ts';
import { type LifecycleState, lifecycleState } from './lifecycle.ts';
import type { LifecycleRow, LifecycleStore } from './store.ts';

/** An integration's lifecycle as operators see it (status, admin API, `integrations list`). */
export interface LifecycleView {
  state: LifecycleState;
  hold: { code: string; message: string; since: Date | null } | null;
  /** What Kombo said when last read; null until the integration was read once. */
  kombo: {
    status: string | null;
    setup_status: string | null;
    qa_status: string | null;
    data_expired_at: Date | null;
    read_at: Date | null;
    last_error: string | null;
  } | null;
  /** Endpoints this integration does not have (its tool lacks them, or they are disabled). */
  unavailable: string[];
}

export function lifecycleView(i: IntegrationRow, l: LifecycleRow | undefined): LifecycleView {
  return {
    state: lifecycleState(i, l),
    hold: l?.hold ? { code: l.hold_code ?? '', message: l.hold_message ?? '', since: l.held_at } : null,
    kombo: l
      ? {
          status: l.kombo_status,
          setup_status: l.setup_status,
          qa_status: l.qa_status,
          data_expired_at: l.data_expired_at,
          read_at: l.refreshed_at,
          last_error: l.last_refresh_error,
        }
      : null,
    unavailable: Object.keys(l?.unavailable ?? {}).sort(),
  };
}

export async function integrationList(deps: {
  store: StateStore;
  lifecycle: LifecycleStore;
}): Promise<({ integration_id: string; tool: string | null; category: string | null } & LifecycleView)[]> {
  const life = new Map((await deps.lifecycle.list()).map((l) => [l.integration_id, l]));
  return (await deps.store.listIntegrations()).map((i) => ({
    integration_id: i.integration_id,
    tool: i.tool,
    category: i.category,
    ...lifecycleView(i, life.get(i.integration_id)),
  }));
}
