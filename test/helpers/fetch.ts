import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { type FetchTask, newTask } from '../../src/planner/task.ts';
import { enqueueTasks } from '../../src/planner/trigger.ts';
import type { Producer } from '../../src/topics/kafka.ts';
import type { TestContext } from './context.ts';
import { eventually } from './topics.ts';

/**
 * Queues a fetch task through the tasks topic and waits for its run to end (every turn of it): the
 * way a planner's task reaches a running fetcher (configured by testDeps: the context's prefix and
 * state schema). Resolves to the run's final status.
 */
export async function fetchToEnd(
  ctx: TestContext,
  producer: Producer,
  task: { integration: string; endpoint: EndpointName; mode: 'delta' | 'full'; requestedAt?: Date },
  timeoutMs = 60_000,
): Promise<{ task: FetchTask; status: string | undefined }> {
  const t = newTask({
    integration_id: task.integration,
    endpoint: task.endpoint,
    mode: task.mode,
    reason: 'test',
    requested_at: task.requestedAt ?? new Date(),
  });
  await enqueueTasks(producer, ctx.prefix, [t]);
  const r = await eventually(
    () =>
      ctx.pool.query<{ status: string }>(
        `SELECT status FROM "${ctx.stateSchema}".fetch_runs WHERE task_id = $1 AND status IN ('done', 'failed')`,
        [t.task_id],
      ),
    (x) => (x.rowCount ?? 0) > 0,
    timeoutMs,
  );
  return { task: t, status: r.rows[0]?.status };
}
