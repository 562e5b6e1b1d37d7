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
});

export type FetchTask = z.infer<typeof taskSchema>;

export function newTask(t: Omit<FetchTask, 'task_id' | 'requested_at'> & { requested_at?: string }): FetchTask {
  return { task_id: randomUUID(), requested_at: new Date().toISOString(), ...t };
}
