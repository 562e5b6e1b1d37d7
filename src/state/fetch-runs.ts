import type pg from 'pg';
import { RunAbandonedError } from '../errors.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import type { FetchTask } from '../planner/task.ts';
import { quoteIdent } from './migrate.ts';
import { inTransaction } from './pool.ts';

/**
 * Request times travel in tasks at a JavaScript Date's millisecond precision; started_at has
 * microseconds. Compared at the request's precision, a request in the same millisecond as a run's
 * start counts as after it: the run neither covers it nor is spared the follow-up it asks for.
 */
const startedMs = `date_trunc('milliseconds', started_at)`;

export interface FetchRun {
  runId: string;
  integrationId: string;
  endpoint: EndpointName;
  mode: 'delta' | 'full';
  /** Postgres clock: the watermark the run sets, and where its sweep's judgement begins. */
  startedAt: Date;
  /** Full fetches only: the generation its marks carry; allocated in increasing order. */
  generation: string | null;
  /** Where the current turn began (the checkpoint). */
  cursor: string | null;
  /** Turns completed: a continuation task carries the number of the turn it runs. */
  turns: number;
  /** The delta's filter, kept for every turn (null: everything, for full fetches and first deltas). */
  updatedAfter: Date | null;
  /** Where each turn began (cursor cycles show as a repeat). */
  checkpoints: string[];
  pages: number;
  emitted: number;
  unchanged: number;
}

export type Begun =
  | { kind: 'run'; run: FetchRun }
  /** Nothing to do: the task is already served (why, in words an operator reads). */
  | { kind: 'skip'; reason: string };

type Status = 'running' | 'yielded' | 'done' | 'failed';

/**
 * Fetch runs, and the only code that reads or writes their table and the generation sequence. Its
 * rules:
 * - coalescing: at most one full fetch per endpoint is in flight (a unique index holds it); a full
 *   task that finds one in flight joins it (no new run, no new generation), whoever asked: the
 *   scheduler, the admin API, the CLI or a replayed task. A run that made no progress for
 *   `staleAfterMs` is abandoned, so a lost continuation cannot block full fetches forever;
 * - continuations: a continuation runs only if its run is in flight and at the turn it names;
 *   redelivered or duplicated ones are no-ops, so a run never forks;
 * - coverage: a task is served by a run that finished and started after the task was requested
 *   (both times from Postgres's clock);
 * - generations come from one sequence, in the order runs begin.
 */
export class FetchRuns {
  readonly #pool: pg.Pool;
  readonly #s: string;
  readonly #staleAfterMs: number;

  constructor(pool: pg.Pool, schema: string, opts: { staleAfterMs: number }) {
    this.#pool = pool;
    this.#s = quoteIdent(schema);
    this.#staleAfterMs = opts.staleAfterMs;
  }

  /** The run a task is to work on now, or why it has nothing to do. */
  async begin(task: FetchTask, opts: { detached?: boolean; updatedAfter?: Date | null } = {}): Promise<Begun> {
    if (task.mode === 'purge') throw new Error('purge tasks have no fetch run');
    const own = task.run_id
      ? await this.#run('run_id = $1', task.run_id)
      : await this.#run(`task_id = $1 AND status IN ('running', 'yielded')`, task.task_id);
    if (task.run_id || own) return this.#continue(task, own);
    const covering = await this.#coveringRun(task);
    if (covering) return { kind: 'skip', reason: `covered by run ${covering}, which started after the request` };
    try {
      return await inTransaction(this.#pool, (c) =>
        this.#start(c, task, opts.detached ?? false, opts.updatedAfter ?? null),
      );
    } catch (err) {
      // Two begins at once (only possible without the integration lock): the index let one through.
      if ((err as { code?: string }).code === '23505')
        return { kind: 'skip', reason: 'coalesced into a full fetch that began at the same time' };
      throw err;
    }
  }

  async #start(c: pg.PoolClient, task: FetchTask, detached: boolean, updatedAfter: Date | null): Promise<Begun> {
    // A delta without a watermark reads everything: during a full fetch of the endpoint that would be
    // a second full read (one per webhook, during a first backfill). It waits for that run instead,
    // which queues one delta, from its own start, when it ends.
    if (task.mode === 'delta' && updatedAfter === null) {
      const joined = await c.query<{ run_id: string }>(
        `UPDATE ${this.#s}.fetch_runs SET joined_delta_requested_at = GREATEST(joined_delta_requested_at, $3)
         WHERE integration_id = $1 AND endpoint = $2 AND mode = 'full' AND status IN ('running', 'yielded')
           AND NOT (detached AND status = 'running')
           AND updated_at >= now() - make_interval(secs => $4::double precision / 1000)
         RETURNING run_id`,
        [task.integration_id, task.endpoint, task.requested_at, this.#staleAfterMs],
      );
      const run = joined.rows[0]?.run_id;
      if (run) return { kind: 'skip', reason: `waits for the full fetch in flight (run ${run}); a delta follows it` };
    }
    if (task.mode === 'full') {
      // Begins run under the integration's lock, so a detached run still 'running' now is one whose
      // process died: nothing will continue it. A run fed by the tasks topic is continued by its task.
      const active = (
        await c.query<{ run_id: string; dead: boolean; stale: boolean }>(
          `SELECT run_id, detached AND status = 'running' AS dead,
                  updated_at < now() - make_interval(secs => $3::double precision / 1000) AS stale
           FROM ${this.#s}.fetch_runs WHERE integration_id = $1 AND endpoint = $2 AND mode = 'full'
             AND status IN ('running', 'yielded') FOR UPDATE`,
          [task.integration_id, task.endpoint, this.#staleAfterMs],
        )
      ).rows[0];
      if (active && !active.dead && !active.stale) {
        // Remembered when the run began before the request: it read some pages before the change
        // the request is about, so one more full fetch follows it (and one follows if it fails).
        await c.query(
          `UPDATE ${this.#s}.fetch_runs SET joined_requested_at = GREATEST(joined_requested_at, $2)
           WHERE run_id = $1 AND ${startedMs} <= $2`,
          [active.run_id, task.requested_at],
        );
        return { kind: 'skip', reason: `coalesced into the full fetch in flight (run ${active.run_id})` };
      }
      if (active)
        await c.query(
          `UPDATE ${this.#s}.fetch_runs SET status = 'failed', error = $2, updated_at = now() WHERE run_id = $1`,
          [
            active.run_id,
            active.dead
              ? 'abandoned: the process running it ended'
              : `abandoned: no progress for ${Math.round(this.#staleAfterMs / 60_000)} min`,
          ],
        );
    }
    const row = (
      await c.query<RunRow>(
        `INSERT INTO ${this.#s}.fetch_runs (run_id, task_id, integration_id, endpoint, mode, started_at, generation, status, detached, updated_after)
         VALUES (gen_random_uuid()::text, $1, $2, $3, $4::text, clock_timestamp(),
                 CASE WHEN $4::text = 'full' THEN nextval('${this.#s}.fetch_generation') END, 'running', $5, $6)
         RETURNING *`,
        [
          task.task_id,
          task.integration_id,
          task.endpoint,
          task.mode,
          detached,
          task.mode === 'delta' ? updatedAfter : null,
        ],
      )
    ).rows[0] as RunRow;
    return { kind: 'run', run: toRun(row) };
  }

  /**
   * A continuation, or a task whose own run is in flight (it was retried, handed back or redelivered
   * after a crash): it works on that run only if the run is in flight at the turn the task names.
   */
  #continue(task: FetchTask, row: RunRow | undefined): Begun {
    if (!row) return { kind: 'skip', reason: `run ${task.run_id} is unknown (offboarded or never recorded)` };
    if (row.status === 'done' || row.status === 'failed')
      return { kind: 'skip', reason: `run ${row.run_id} has ${row.status === 'done' ? 'finished' : 'failed'}` };
    // A first turn is turn 0; tasks queued before turns were numbered name their turn by its cursor.
    const turn = task.run_id ? task.turn : 0;
    const current = turn === undefined ? task.cursor === row.cursor : turn === row.turns;
    if (!current)
      return {
        kind: 'skip',
        reason: `a replay: run ${row.run_id} is at turn ${row.turns}, the task names turn ${turn}`,
      };
    return { kind: 'run', run: toRun(row) };
  }

  async #run(where: string, value: string): Promise<RunRow | undefined> {
    return (await this.#pool.query<RunRow>(`SELECT * FROM ${this.#s}.fetch_runs WHERE ${where}`, [value])).rows[0];
  }

  /** A run that finished and started after the task was requested: it saw everything the task asks for. */
  async #coveringRun(task: FetchTask): Promise<string | undefined> {
    const r = await this.#pool.query<{ run_id: string }>(
      `SELECT run_id FROM ${this.#s}.fetch_runs
       WHERE integration_id = $1 AND endpoint = $2 AND status = 'done' AND ${startedMs} > $3
         AND (mode = 'full' OR $4 = 'delta')
       LIMIT 1`,
      [task.integration_id, task.endpoint, task.requested_at, task.mode],
    );
    return r.rows[0]?.run_id;
  }

  /** The run yields: its next turn starts from `cursor`. */
  async checkpoint(run: FetchRun, cursor: string): Promise<void> {
    run.cursor = cursor;
    run.turns++;
    run.checkpoints.push(cursor);
    await this.#save(run, 'yielded');
  }

  /** The run read every page. Returns the requests that waited for it, which the caller queues now. */
  async finish(run: FetchRun): Promise<Joined> {
    return this.#save(run, 'done');
  }

  /**
   * The run's task failed for good (dead-lettered), or cannot go on (its integration was paused):
   * later continuations of it are no-ops. Returns the requests that joined it and are not served now,
   * so the caller queues them again.
   */
  async fail(runId: string, error: string): Promise<Joined> {
    const r = await this.#pool.query<JoinedRow>(
      `UPDATE ${this.#s}.fetch_runs SET status = 'failed', error = $2, updated_at = now()
       WHERE run_id = $1 AND status IN ('running', 'yielded') RETURNING joined_requested_at, joined_delta_requested_at`,
      [runId, error.slice(0, 2_000)],
    );
    return joined(r.rows[0]);
  }

  /** Ends the run a task would work on (a continuation's, or the task's own in flight), if any. */
  async failFor(task: FetchTask, error: string): Promise<Joined> {
    const row = task.run_id
      ? await this.#run('run_id = $1', task.run_id)
      : await this.#run(`task_id = $1 AND status IN ('running', 'yielded')`, task.task_id);
    return row ? this.fail(row.run_id, error) : {};
  }

  /** Endpoints whose latest full run did not finish (failed or abandoned): resuming queues them again. */
  async unfinishedFulls(integrationId: string): Promise<EndpointName[]> {
    const r = await this.#pool.query<{ endpoint: EndpointName }>(
      `SELECT endpoint FROM (
         SELECT DISTINCT ON (endpoint) endpoint, status FROM ${this.#s}.fetch_runs
         WHERE integration_id = $1 AND mode = 'full' ORDER BY endpoint, started_at DESC) latest
       WHERE status <> 'done'`,
      [integrationId],
    );
    return r.rows.map((x) => x.endpoint);
  }

  /** Finished and failed runs older than `before` are forgotten (the table would grow per poll). */
  async prune(before: Date): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#s}.fetch_runs WHERE status IN ('done', 'failed') AND updated_at < $1`, [
      before,
    ]);
  }

  /** The full fetch of an endpoint in flight, if any (for answers to operators). */
  async inFlight(integrationId: string, endpoint: EndpointName): Promise<FetchRun | undefined> {
    const row = (
      await this.#pool.query<RunRow>(
        `SELECT * FROM ${this.#s}.fetch_runs WHERE integration_id = $1 AND endpoint = $2 AND mode = 'full'
           AND status IN ('running', 'yielded')`,
        [integrationId, endpoint],
      )
    ).rows[0];
    return row && toRun(row);
  }

  /** Offboarding: the endpoint's runs are forgotten. */
  async forget(integrationId: string, endpoint: EndpointName): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#s}.fetch_runs WHERE integration_id = $1 AND endpoint = $2`, [
      integrationId,
      endpoint,
    ]);
  }

  /**
   * Only a run still in flight moves on: one abandoned meanwhile (a process that lost its lock's
   * connection and kept going) is not brought back.
   */
  async #save(run: FetchRun, status: Status): Promise<Joined> {
    const r = await this.#pool.query<JoinedRow>(
      `UPDATE ${this.#s}.fetch_runs SET cursor = $2, turns = $3, pages = $4, emitted = $5, unchanged = $6, status = $7,
         checkpoints = $8, finished_at = CASE WHEN $7 = 'done' THEN now() END, updated_at = now()
       WHERE run_id = $1 AND status IN ('running', 'yielded') RETURNING joined_requested_at, joined_delta_requested_at`,
      [run.runId, run.cursor, run.turns, run.pages, run.emitted, run.unchanged, status, run.checkpoints],
    );
    if (r.rowCount === 0) throw new RunAbandonedError(run.runId);
    return joined(r.rows[0]);
  }
}

/** Requests that joined a run instead of starting their own: when each last came. */
export interface Joined {
  full?: Date;
  delta?: Date;
}
interface JoinedRow {
  joined_requested_at: Date | null;
  joined_delta_requested_at: Date | null;
}
const joined = (r: JoinedRow | undefined): Joined => ({
  ...(r?.joined_requested_at ? { full: r.joined_requested_at } : {}),
  ...(r?.joined_delta_requested_at ? { delta: r.joined_delta_requested_at } : {}),
});

interface RunRow {
  run_id: string;
  integration_id: string;
  endpoint: EndpointName;
  mode: 'delta' | 'full';
  started_at: Date;
  generation: string | null;
  cursor: string | null;
  turns: number;
  pages: number;
  emitted: string;
  unchanged: string;
  status: Status;
  updated_after: Date | null;
  checkpoints: string[];
}

const toRun = (r: RunRow): FetchRun => ({
  runId: r.run_id,
  integrationId: r.integration_id,
  endpoint: r.endpoint,
  mode: r.mode,
  startedAt: r.started_at,
  generation: r.generation === null ? null : String(r.generation),
  cursor: r.cursor,
  turns: r.turns,
  updatedAfter: r.updated_after,
  checkpoints: r.checkpoints,
  pages: r.pages,
  emitted: Number(r.emitted),
  unchanged: Number(r.unchanged),
});
