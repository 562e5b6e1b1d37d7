import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleDeps, RunningRole } from '../../src/app/role.ts';
import { startFetcher } from '../../src/fetcher/role.ts';
import type { EndpointName } from '../../src/kombo/endpoints.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { StateStore } from '../../src/state/store.ts';
import type { ChangeEvent } from '../../src/topics/change-events.ts';
import type { InRecord, Producer } from '../../src/topics/kafka.ts';
import { changesTopic, recordTopic } from '../../src/topics/names.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { fetchToEnd } from '../helpers/fetch.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

let ctx: TestContext;
let sim: Simulator;
let deps: RoleDeps;
let fetcher: RunningRole;
let producer: Producer;
let store: StateStore;
let HRIS: string;
const EMP: EndpointName = 'hris/employees';

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  sim = await startSimulator({ seed: 31, integrations: [{ category: 'HRIS', size: 40 }] });
  [HRIS] = sim.core.integrations().map((i) => i.id) as [string];
  deps = await testDeps(ctx, {
    KOMBO_API_URL: sim.url,
    KOMBO_API_KEY: sim.apiKey,
    KOMBO_RATE_LIMIT: 500,
    FETCH_PAGE_SIZE: 10,
    FETCH_MAX_PAGES_PER_TURN: 2,
    FETCH_OVERLAP: '2s',
    CHANGE_EVENTS: EMP,
    CHANGE_EVENTS_RETENTION: '3d',
  });
  store = new StateStore(ctx.pool, deps.config.postgres.stateSchema);
  for (const i of sim.core.integrations())
    await store.upsertIntegration({ integration_id: i.id, tool: i.tool, category: i.category });
  producer = ctx.kafka.producer();
  fetcher = await startFetcher(deps, { maxWaitTimeInMs: 100 });
});
afterAll(async () => {
  await fetcher?.stop();
  await producer?.close();
  await sim?.stop();
  await ctx?.close();
});

const run = (mode: 'delta' | 'full') => fetchToEnd(ctx, producer, { integration: HRIS, endpoint: EMP, mode });

interface Seen {
  key: { integration_id: string; id: string };
  event: ChangeEvent;
  record: InRecord;
}
const read = new Set<string>();
/** Change events produced since the last call (partitions interleave: positions, not counts). */
async function newEvents(): Promise<Seen[]> {
  const all = await readTopic(ctx.kafka, changesTopic(deps.config.kafka.topicPrefix, EMP));
  const fresh = all.filter((r) => !read.has(`${r.partition}:${r.offset}`));
  for (const r of fresh) read.add(`${r.partition}:${r.offset}`);
  return fresh.map((r) => ({
    key: JSON.parse(r.key?.toString() ?? ''),
    event: JSON.parse(r.value?.toString() ?? ''),
    record: r,
  }));
}
const truth = () => new Map(sim.core.truth(HRIS, EMP, { includeDeleted: false }).map((r) => [r.id as string, r]));
/** Top-level fields whose values differ: an independent check of the connector's finer paths. */
const topLevelDiff = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(
    (k) => JSON.stringify(a[k] ?? null) !== JSON.stringify(b[k] ?? null),
  );
const topOf = (path: string) => path.split(/[.[]/)[0];

describe('change events (<record topic>.changes)', () => {
  it('a full fetch over several pages announces every record as created, keyed like the record topic', async () => {
    await run('full');
    const events = await newEvents();
    const live = truth();
    expect(events.map((e) => e.key.id).sort()).toEqual([...live.keys()].sort());
    for (const { key, event, record } of events) {
      expect(key.integration_id).toBe(HRIS);
      expect(event).toMatchObject({ op: 'c', before: null, after: live.get(key.id) });
      expect(event.source).toMatchObject({ connector: 'kombo-stream', integration_id: HRIS, endpoint: EMP });
      expect(record.headers?.['kombo-op']).toBe('upsert');
    }
    // The record topic's own key for the same record is byte-equal: subscribers can join them.
    const records = await readTopic(ctx.kafka, recordTopic(deps.config.kafka.topicPrefix, EMP));
    expect(new Set(records.map((r) => r.key?.toString()))).toEqual(
      new Set(events.map((e) => e.record.key?.toString())),
    );
    // Unchanged re-reads emit nothing.
    await run('full');
    expect(await newEvents()).toEqual([]);
    // A log, not state: kept for CHANGE_EVENTS_RETENTION, never compacted; other topics get none.
    expect(await ctx.kafka.topicConfig(changesTopic(deps.config.kafka.topicPrefix, EMP))).toMatchObject({
      'cleanup.policy': 'delete',
      'retention.ms': String(3 * 86_400_000),
    });
    expect(
      (await ctx.kafka.listTopics()).filter((t) => t.startsWith(`${ctx.prefix}.`) && t.endsWith('.changes')),
    ).toEqual([changesTopic(deps.config.kafka.topicPrefix, EMP)]);
  });

  it('an update carries before, after and the changed paths; a nested-only change lists only nested paths', async () => {
    const before = truth();
    const a = [...before.keys()][0] as string;
    // Not a's report: a's update shows in its reports' nested manager.
    const b = [...before.values()].find((r) => r.id !== a && (r.manager as { id?: string } | null)?.id !== a)
      ?.id as string;
    await sim.core.change(HRIS, [{ op: 'update', endpoint: EMP, id: a }]);
    await sim.core.change(HRIS, [{ op: 'nested', relation: 'employee-groups', id: b }]);
    await run('delta');
    const after = truth();
    const changed = [...after.keys()].filter((id) => JSON.stringify(after.get(id)) !== JSON.stringify(before.get(id)));
    expect(changed).toContain(a);
    expect(changed).toContain(b);
    const events = await newEvents();
    expect(events.map((e) => e.key.id).sort()).toEqual(changed.sort());
    for (const { key, event } of events) {
      const was = before.get(key.id) as Record<string, unknown>;
      const now = after.get(key.id) as Record<string, unknown>;
      expect(event).toMatchObject({ op: 'u', before: was, after: now });
      expect(new Set(event.changed.map(topOf))).toEqual(new Set(topLevelDiff(was, now)));
    }
    const nested = events.find((e) => e.key.id === b)?.event;
    expect(nested?.before?.changed_at).toBe(nested?.after?.changed_at);
    expect(nested?.changed.length).toBeGreaterThan(0);
    // Only paths into the nested team lists, e.g. `teams[id=T7]`.
    for (const p of nested?.changed ?? []) expect(p).toMatch(/^\w+\[id=[^\]]+\]/);
  });

  it('a deletion carries the last version as before, no after, and the delete header', async () => {
    const live = truth();
    const gone = [...live.keys()][5] as string;
    await sim.core.change(HRIS, [{ op: 'delete', endpoint: EMP, id: gone }], 'FULL');
    await run('full');
    // Its reports changed too: their nested manager went.
    const after = truth();
    const touched = [...after.keys()].filter((id) => JSON.stringify(after.get(id)) !== JSON.stringify(live.get(id)));
    const events = await newEvents();
    expect(events.map((e) => e.key.id).sort()).toEqual([gone, ...touched].sort());
    const deletion = events.find((e) => e.key.id === gone) as Seen;
    expect(deletion.event).toMatchObject({ op: 'd', before: live.get(gone), after: null, changed: [] });
    expect(deletion.record.headers?.['kombo-op']).toBe('delete');
    for (const e of events.filter((x) => x.key.id !== gone)) expect(e.event.op).toBe('u');
  });

  it('a record that vanished without a deletion mark is announced by the sweep of the full fetch', async () => {
    const live = truth();
    const gone = [...live.keys()][7] as string;
    // Purged at once: Kombo never returns it again, not even with remote_deleted_at.
    sim.core.purgeAfterMs = 0;
    await sim.core.change(HRIS, [{ op: 'delete', endpoint: EMP, id: gone }], 'FULL');
    expect(sim.core.truth(HRIS, EMP).some((r) => r.id === gone)).toBe(false);
    await run('full');
    const deletion = await eventually(
      async () => (await newEvents()).find((e) => e.key.id === gone),
      (e) => e !== undefined,
    );
    expect(deletion?.event).toMatchObject({ op: 'd', before: live.get(gone), after: null, changed: [] });
    expect(deletion?.event.source.run_id).toMatch(/^drift:/);
  });
});
