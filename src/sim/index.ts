import { SimServer } from './server.ts';
import { SimulatorCore, type SimulatorOptions } from './simulator.ts';

export type { Change, NestedRelation } from './changes.ts';
export type { ApiFaults, IntegrationSpec, SimulatorOptions, SyncResult } from './simulator.ts';
export type { WebhookFaults, WebhookRecord } from './webhooks.ts';

export interface Simulator {
  /** Base URL ending in /v1: what KOMBO_API_URL points at. */
  readonly url: string;
  /** Root URL of the server, for the /sim control routes. */
  readonly rootUrl: string;
  readonly apiKey: string;
  readonly core: SimulatorCore;
  stop(): Promise<void>;
}

/** Starts the Kombo simulator's HTTP server, on 127.0.0.1 unless told (port 0 picks a free one). */
export async function startSimulator(
  opts: SimulatorOptions & { port?: number; host?: string } = {},
): Promise<Simulator> {
  const core = new SimulatorCore(opts);
  const server = new SimServer(core);
  const root = await server.listen(opts.port ?? 0, opts.host);
  return {
    url: `${root}/v1`,
    rootUrl: root,
    apiKey: core.apiKey,
    core,
    async stop() {
      core.stopLiveChanges();
      core.webhooks.stop();
      await server.close();
    },
  };
}
