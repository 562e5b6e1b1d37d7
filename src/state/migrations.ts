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
  {
    id: 'fetcher-001-index-and-runs',
    sql: `
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN last_full_started_at timestamptz;
      -- when an operator last set the watermark: a fetch that started before that must not overwrite it
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN watermark_set_at timestamptz;
      -- one row per record ever emitted: content hash (suppresses unchanged re-emits), the last value
      -- (drift deletes and sink healing re-emit it), and the last full-fetch generation that saw it
      CREATE TABLE {{schema}}.record_index (
        integration_id text NOT NULL,
        endpoint text NOT NULL,
        id text NOT NULL,
        content_hash text NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        changed_at timestamptz,
        fetched_at timestamptz NOT NULL,
        last_seen_generation bigint,
        last_value jsonb NOT NULL,
        PRIMARY KEY (integration_id, endpoint, id)
      );
      CREATE SEQUENCE {{schema}}.fetch_generation;
      -- a fetch in progress or finished; a yielded full fetch continues from its checkpointed cursor
      CREATE TABLE {{schema}}.fetch_runs (
        run_id text PRIMARY KEY,
        integration_id text NOT NULL,
        endpoint text NOT NULL,
        mode text NOT NULL,
        started_at timestamptz NOT NULL,
        generation bigint,
        cursor text,
        pages integer NOT NULL DEFAULT 0,
        emitted bigint NOT NULL DEFAULT 0,
        unchanged bigint NOT NULL DEFAULT 0,
        status text NOT NULL CHECK (status IN ('running', 'yielded', 'done', 'failed')),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX fetch_runs_target ON {{schema}}.fetch_runs (integration_id, endpoint, started_at);
    `,
  },
  {
    id: 'sink-001-offsets',
    sql: `
      -- the next offset to write per consumed partition, committed in the same transaction as the rows
      CREATE TABLE {{schema}}.sink_offsets (
        group_id text NOT NULL,
        topic text NOT NULL,
        partition integer NOT NULL,
        next_offset bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, topic, partition)
      );
    `,
  },
  {
    id: 'drift-001-runs-and-alerts',
    sql: `
      -- one row per drift pass (a full fetch that finished, then sweep and sink check)
      CREATE TABLE {{schema}}.drift_runs (
        run_id text PRIMARY KEY,
        integration_id text NOT NULL,
        endpoint text NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL DEFAULT now(),
        fetched bigint NOT NULL,
        reemitted bigint NOT NULL,
        deleted bigint NOT NULL,
        blocked bigint NOT NULL,
        healed bigint NOT NULL,
        outcome text NOT NULL
      );
      CREATE INDEX drift_runs_finished ON {{schema}}.drift_runs (finished_at);
      -- a sweep the mass-delete guard stopped, until confirmed or a later full fetch agrees
      CREATE TABLE {{schema}}.drift_alerts (
        integration_id text NOT NULL,
        endpoint text NOT NULL,
        status text NOT NULL CHECK (status IN ('open', 'confirmed', 'resolved')),
        raised_at timestamptz NOT NULL,
        vanished bigint NOT NULL,
        total bigint NOT NULL,
        ids_hash text NOT NULL,
        generation bigint NOT NULL,
        run_started_at timestamptz NOT NULL,
        resolved_at timestamptz,
        PRIMARY KEY (integration_id, endpoint)
      );
    `,
  },
  {
    id: 'status-001-endpoint-counters',
    sql: `
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN last_delta_finished_at timestamptz;
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN dead_letters integer NOT NULL DEFAULT 0;
    `,
  },
  {
    id: 'fetcher-002-run-turns-coalescing',
    sql: `
      -- turns completed (a continuation names the turn it runs), the task that began the run, whether
      -- that task lives only in its process (drift run), and why a run failed
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN turns integer NOT NULL DEFAULT 0;
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN task_id text;
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN detached boolean NOT NULL DEFAULT false;
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN finished_at timestamptz;
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN error text;
      -- earlier versions could leave several full runs of one endpoint in flight: the newest stays
      UPDATE {{schema}}.fetch_runs f SET status = 'failed', error = 'superseded at upgrade'
      WHERE f.mode = 'full' AND f.status IN ('running', 'yielded') AND EXISTS (
        SELECT 1 FROM {{schema}}.fetch_runs g
        WHERE g.integration_id = f.integration_id AND g.endpoint = f.endpoint AND g.mode = 'full'
          AND g.status IN ('running', 'yielded') AND (g.started_at, g.run_id) > (f.started_at, f.run_id));
      -- one full fetch per endpoint in flight: the rule the coalescing in fetch-runs.ts keeps
      CREATE UNIQUE INDEX fetch_runs_one_full_in_flight ON {{schema}}.fetch_runs (integration_id, endpoint)
        WHERE mode = 'full' AND status IN ('running', 'yielded');
      CREATE INDEX fetch_runs_task ON {{schema}}.fetch_runs (task_id) WHERE status IN ('running', 'yielded');
      -- a delta's filter, the same on every turn; and the cursor each turn began at (a repeat is a cycle)
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN updated_after timestamptz;
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN checkpoints text[] NOT NULL DEFAULT '{}';
      -- the latest full request that joined this run while in flight: queued again if the run fails
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN joined_requested_at timestamptz;
      -- the latest first delta (no watermark) that waits for this run: one delta follows the run
      ALTER TABLE {{schema}}.fetch_runs ADD COLUMN joined_delta_requested_at timestamptz;
      -- records a fetch dead-lettered while the rest went on (unencodable, too large)
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN rejected_records integer NOT NULL DEFAULT 0;
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN last_rejected_code text;
      ALTER TABLE {{schema}}.endpoint_state ADD COLUMN last_rejected_at timestamptz;
      -- whether the sink check ran (a sink that was not caught up is not judged)
      ALTER TABLE {{schema}}.drift_runs ADD COLUMN sink_checked boolean NOT NULL DEFAULT true;
    `,
  },
  {
    id: 'lifecycle-001-integration-lifecycle',
    sql: `
      -- what Kombo says about each integration (GET /integrations/{id}, integration-state-changed),
      -- and whether the connector holds it: owned by src/integrations/store.ts
      CREATE TABLE {{schema}}.integration_lifecycle (
        integration_id text PRIMARY KEY,
        kombo_status text,
        setup_status text,
        qa_status text,
        data_expired_at timestamptz,
        read_models jsonb,
        -- endpoint -> the Kombo code that says it is not there (read model unavailable, MODEL_*)
        unavailable jsonb NOT NULL DEFAULT '{}',
        -- setup_pending: parked until the first sync is done; attention: someone must act
        hold text CHECK (hold IN ('setup_pending', 'attention')),
        hold_code text,
        hold_message text,
        held_at timestamptz,
        refreshed_at timestamptz,
        refresh_due_at timestamptz NOT NULL DEFAULT now(),
        refresh_failures integer NOT NULL DEFAULT 0,
        last_refresh_error text
      );
      CREATE INDEX integration_lifecycle_due ON {{schema}}.integration_lifecycle (refresh_due_at);
      INSERT INTO {{schema}}.integration_lifecycle (integration_id)
        SELECT integration_id FROM {{schema}}.integrations WHERE deleted_at IS NULL;
    `,
  },
  {
    id: 'fetcher-003-rate-budget',
    sql: `
      -- the API key's token buckets, shared by every process of the deployment: scope 'key' for the
      -- key as a whole, 'integration:<id>' for one integration; refilled by elapsed Postgres time
      CREATE TABLE {{schema}}.rate_budget (
        scope text PRIMARY KEY,
        tokens double precision NOT NULL,
        updated_at timestamptz NOT NULL,
        -- a 429 holds the scope's requests until then, in every process
        paused_until timestamptz
      );
    `,
  },
  {
    id: 'status-002-endpoint-freshness',
    sql: `
      -- Published for the sink's kombo_freshness view (src/sink/freshness.ts), its only reader: when
      -- each endpoint of each integration last finished a delta and a full fetch (Postgres's clock),
      -- over endpoint_state (src/state/store.ts), which fetch-runs pruning does not thin out. Columns
      -- are added, never removed or renamed: the sink's view and the warehouse depend on them.
      CREATE VIEW {{schema}}.endpoint_freshness AS
        SELECT integration_id, endpoint, last_delta_finished_at, last_full_finished_at, last_fetch_finished_at,
               status AS fetch_status
        FROM {{schema}}.endpoint_state;
    `,
  },
];
