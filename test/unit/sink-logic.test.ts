import { describe, expect, it } from 'vitest';
import { tableLayout } from '../../src/sink/layout.ts';
import { newer, reduceBatch, type SinkRecord } from '../../src/sink/reduce.ts';
import { valueSchema } from '../../src/topics/schemas.ts';

const rec = (o: Partial<SinkRecord> & { offset: bigint }): SinkRecord => ({
  integrationId: 'i',
  id: 'a',
  value: { id: 'a', changed_at: '2026-01-01T00:00:00.000Z' },
  fetchedAt: '2026-01-02T00:00:00.000Z',
  op: 'upsert',
  contentHash: null,
  partition: 0,
  ...o,
});

describe('table layout from schemas/', () => {
  it('types top-level scalars and keeps nested and free-form fields as jsonb', () => {
    const l = tableLayout('hris/employees', valueSchema('hris/employees'));
    const t = Object.fromEntries(l.fields.map((f) => [f.name, f.pgType]));
    expect(l.table).toBe('hris_employees');
    expect(t).toMatchObject({
      first_name: 'text',
      weekly_hours: 'double precision',
      changed_at: 'timestamptz',
      date_of_birth: 'timestamptz',
      custom_fields: 'jsonb',
      employments: 'jsonb',
      home_address: 'jsonb',
      manager: 'jsonb',
    });
    expect(l.fields.some((f) => f.name === 'id')).toBe(false);
    const abs = Object.fromEntries(
      tableLayout('hris/absences', valueSchema('hris/absences')).fields.map((f) => [f.name, f.pgType]),
    );
    expect(abs).toMatchObject({ start_date: 'date', start_time: 'time', start_half_day: 'boolean' });
  });
  it('refuses field names that are not plain identifiers', () => {
    expect(() =>
      tableLayout('ats/tags', {
        type: 'record',
        name: 'X',
        fields: [{ name: 'x"; drop table y; --', type: 'string' }],
      }),
    ).toThrow(/not an allowed column/);
  });
});

describe('batch reduction (newer wins)', () => {
  it('keeps the later-read version, then the later changed_at, then the later offset', () => {
    const older = rec({ offset: 5n, fetchedAt: '2026-01-03T00:00:00.000Z' });
    const replayed = rec({ offset: 6n, fetchedAt: '2026-01-01T00:00:00.000Z' });
    expect(newer(older, replayed)).toBe(true);
    expect(reduceBatch([older, replayed], 'soft')).toEqual([{ kind: 'upsert', record: older, deleted: false }]);
    const c1 = rec({ offset: 1n, value: { id: 'a', changed_at: '2026-01-01T00:00:01.000Z' } });
    const c2 = rec({ offset: 2n, value: { id: 'a', changed_at: '2026-01-01T00:00:00.000Z' } });
    expect(reduceBatch([c1, c2], 'soft')[0]).toMatchObject({ record: c1 });
  });
  it('merges a delete record and its tombstone into a soft-deleted row, or deletes in hard mode', () => {
    const del = rec({
      offset: 1n,
      op: 'delete',
      value: { id: 'a', changed_at: '2026-01-01T00:00:00.000Z', remote_deleted_at: '2026-01-01T00:00:00.000Z' },
    });
    const tomb = rec({ offset: 2n, op: 'tombstone', value: null });
    expect(reduceBatch([del, tomb], 'soft')).toEqual([{ kind: 'upsert', record: del, deleted: true }]);
    expect(reduceBatch([del, tomb], 'hard')).toEqual([{ kind: 'delete', record: tomb, hard: true }]);
    expect(reduceBatch([tomb], 'soft')).toEqual([{ kind: 'delete', record: tomb, hard: false }]);
  });
  it('always deletes on purge', () => {
    const p = rec({ offset: 3n, op: 'purge', value: null });
    expect(reduceBatch([p], 'soft')).toEqual([{ kind: 'delete', record: p, hard: true }]);
  });
  it('keeps keys apart', () => {
    expect(
      reduceBatch([rec({ offset: 1n }), rec({ offset: 2n, id: 'b', value: { id: 'b', changed_at: 'x' } })], 'soft'),
    ).toHaveLength(2);
  });
});
