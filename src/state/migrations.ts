import type { Migration } from './migrate.ts';

/**
 * The connector's state schema. Parts add their own migrations to this list (ids prefixed by part);
 * applied once each, in order, by migrate().
 */
export const STATE_MIGRATIONS: readonly Migration[] = [
  {
    id: 'core-001-integrations',
    sql: `
      CREATE TABLE {{schema}}.integrations (
        integration_id text PRIMARY KEY,
        tool text,
        category text,
        paused boolean NOT NULL DEFAULT false,
        -- set once a webhook arrived from this integration: polling is then only a fallback
        webhooks_seen_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      );
      CREATE TABLE {{schema}}.endpoint_state (
        integration_id text NOT NULL,
        endpoint text NOT NULL,
        -- start time of the last delta or full fetch that finished; next delta asks updated_after = watermark - overlap
        watermark timestamptz,
        last_fetch_started_at timestamptz,
        last_fetch_finished_at timestamptz,
        last_full_finished_at timestamptz,
        status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'running', 'ok', 'retrying', 'failed')),
        last_error text,
        last_error_code text,
        consecutive_failures integer NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (integration_id, endpoint)
      );
    `,
  },
];
