import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { FreshnessWriter } from '../../src/sink/freshness.ts';
import type { Action, SinkRecord } from '../../src/sink/reduce.ts';

const rec = (integrationId: string, fetchedAt: string, op: SinkRecord['op'] = 'upsert'): SinkRecord => ({
  integrationId,
  id: Math.random().toString(36).slice(2),
  value: op === 'purge' ? null : {},
  fetchedAt,
  op,
  contentHash: null,
  partition: 0,
  offset: 0n,
});
const up = (r: SinkRecord): Action => ({ kind: 'upsert', record: r, deleted: false });
const del = (r: SinkRecord): Action => ({ kind: 'delete', record: r, hard: true });

/** The statements a batch's freshness makes, with their parameters. */
async function statements(actions: Action[]): Promise<{ sql: string; params: unknown[] }[]> {
  const seen: { sql: string; params: unknown[] }[] = [];
  const client = { query: async (sql: string, params: unknown[]) => seen.push({ sql, params }) };
  await new FreshnessWriter('kombo').record(client as unknown as pg.PoolClient, 'hris/employees', actions);
  return seen;
}

describe('sink freshness per batch', () => {
  it('one upsert per batch: the newest read time of each integration, whatever the order', async () => {
    const out = await statements([
      up(rec('b', '2026-01-01T00:00:05.000Z')),
      up(rec('a', '2026-01-01T00:00:03.000Z')),
      up(rec('a', '2026-01-01T00:00:09.000Z')),
      del(rec('a', '2026-01-01T00:00:07.000Z', 'delete')),
      up(rec('b', '2026-01-01T00:00:01.000Z')),
    ]);
    expect(out).toHaveLength(1);
    const [ids, times, endpoint] = (out[0] as { params: unknown[] }).params as [string[], string[], string];
    expect(Object.fromEntries(ids.map((id, i) => [id, times[i]]))).toEqual({
      a: '2026-01-01T00:00:09.000Z',
      b: '2026-01-01T00:00:05.000Z',
    });
    expect(endpoint).toBe('hris/employees');
    expect(out[0]?.sql).toMatch(/GREATEST\(f\.newest_read_at, EXCLUDED\.newest_read_at\)/);
  });

  it('a purge is no read: the integration is forgotten, the others recorded', async () => {
    const out = await statements([
      up(rec('a', '2026-01-01T00:00:03.000Z')),
      del(rec('a', '2026-01-01T00:00:04.000Z', 'purge')),
      up(rec('b', '2026-01-01T00:00:05.000Z')),
    ]);
    expect(out.map((s) => s.params[0])).toEqual([['b'], ['a']]);
    expect(out[1]?.sql).toMatch(/^DELETE FROM/);
  });

  it('an empty batch costs no statement', async () => {
    expect(await statements([])).toEqual([]);
  });
});
