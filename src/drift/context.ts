import type { FetchContext } from '../fetcher/fetch.ts';

/** What sweeps and sink checks need: no Kombo client, so the admin API can confirm a sweep too. */
export type DriftContext = Pick<FetchContext, 'config' | 'logger' | 'store' | 'producer' | 'serde'>;
