import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ENDPOINT_NAMES } from '../kombo/endpoints.ts';

/**
 * A fetch task on `<prefix>.tasks`, keyed by integration_id so one integration's tasks stay in
 * order on one partition. `cursor` is set on continuations of a full fetch that yielded.
 */
export const taskSchema = z.object({
  task_id: z.string().min(1),
  integration_id: z.string().min(1),
  endpoint: z.enum(ENDPOINT_NAMES),
  /** purge: the integration was deleted; tombstone its records and forget its state. */
  mode: z.enum(['delta', 'full', 'purge']),
  reason: z.string().min(1),
  requested_at: z.iso.datetime({ offset: true }),
  cursor: z.string().optional(),
  /** Set on a continuation: the fetch run it continues (its start time and generation). */
  run_id: z.string().optional(),
  /** Set on a continuation: the turn of the run it runs (turn 0 is the first task's own). */
  turn: z.number().int().min(1).optional(),
});

export type FetchTask = z.infer<typeof taskSchema>;

/**
 * `requested_at` must come from Postgres's clock (`dbNow`): a fetch run covers a task when the run
 * started after it, and both times must be read off the same clock.
 */
export function newTask(t: Omit<FetchTask, 'task_id' | 'requested_at'> & { requested_at: Date | string }): FetchTask {
  const requested_at = typeof t.requested_at === 'string' ? t.requested_at : t.requested_at.toISOString();
  return { task_id: randomUUID(), ...t, requested_at };
}
