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
  {
    id: 'planner-001-events-and-schedules',
    sql: `
      -- webhook ids already planned: a webhook delivered twice is planned once
      CREATE TABLE {{schema}}.planner_events (
        event_id text PRIMARY KEY,
        event_type text NOT NULL,
        integration_id text,
        planned_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX planner_events_planned_at ON {{schema}}.planner_events (planned_at);
      -- per integration, endpoint and kind: when the scheduler next enqueues a fetch
      CREATE TABLE {{schema}}.schedules (
        integration_id text NOT NULL,
        endpoint text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('delta', 'full')),
        next_due_at timestamptz NOT NULL,
        last_enqueued_at timestamptz,
        PRIMARY KEY (integration_id, endpoint, kind)
      );
    `,
  },
];
