import { describe, expect, it } from 'vitest';
import { changedPaths, changeEvent } from '../../src/topics/change-events.ts';

const source = {
  integration_id: 'int-1',
  endpoint: 'hris/employees' as const,
  read_at: '2026-12-01T10:00:00.000Z',
  run_id: 'run-1',
  content_hash: 'h2',
};
const v1 = {
  id: 'E',
  first_name: 'Ada',
  changed_at: '2026-01-01T00:00:00.000Z',
  work_location: { id: 'L1', name: 'Berlin' },
  employments: [
    { id: 'M1', job_title: 'Engineer', pay_rate: 10 },
    { id: 'M2', job_title: 'Intern', pay_rate: 1 },
  ],
  groups: [{ id: 'G1', name: 'Platform' }],
  custom_fields: { shoe: 42 },
  tags: ['a', 'b'],
};

describe('changed field paths', () => {
  it('names nested records by id, plain arrays by position, objects by key', () => {
    const v2 = structuredClone(v1);
    v2.employments[1] = { id: 'M2', job_title: 'Engineer II', pay_rate: 1 };
    v2.work_location.name = 'Hamburg';
    v2.tags = ['a', 'c', 'd'];
    v2.custom_fields.shoe = 43;
    expect(changedPaths(v1, v2).sort()).toEqual(
      ['custom_fields.shoe', 'employments[id=M2].job_title', 'tags[1]', 'tags[2]', 'work_location.name'].sort(),
    );
  });

  it('a nested record added or removed is its own path, and reordering nested records changes nothing', () => {
    const v2 = structuredClone(v1);
    v2.employments = [v1.employments[1] as never, v1.employments[0] as never];
    expect(changedPaths(v1, v2)).toEqual([]);
    v2.groups = [{ id: 'G2', name: 'Data' }];
    expect(changedPaths(v1, v2).sort()).toEqual(['groups[id=G1]', 'groups[id=G2]']);
  });

  it('a nested-only change lists only the nested paths: changed_at did not move', () => {
    const v2 = structuredClone(v1);
    v2.groups.push({ id: 'G3', name: 'Security' });
    expect(changedPaths(v1, v2)).toEqual(['groups[id=G3]']);
  });

  it('absent and null are the same value; a new key with a value is a change', () => {
    expect(changedPaths({ id: 'E', a: null }, { id: 'E' })).toEqual([]);
    expect(changedPaths({ id: 'E' }, { id: 'E', a: 1 })).toEqual(['a']);
    expect(changedPaths({ id: 'E', n: { x: 1 } }, { id: 'E', n: null })).toEqual(['n']);
  });
});

describe('change events', () => {
  it('c for a record never seen, u for one seen, d with before and no after for a deletion', () => {
    const c = changeEvent(undefined, v1, source, 5);
    expect(c).toMatchObject({ op: 'c', before: null, after: v1, ts_ms: 5 });
    expect(c.changed).toContain('first_name');
    expect(c.source).toEqual({ connector: 'kombo-stream', ...source });

    const v2 = { ...v1, first_name: 'Grace' };
    expect(changeEvent({ value: v1, deleted: false }, v2, source)).toMatchObject({
      op: 'u',
      before: v1,
      after: v2,
      changed: ['first_name'],
    });

    const gone = { ...v2, remote_deleted_at: '2026-12-01T09:00:00.000Z' };
    expect(changeEvent({ value: v2, deleted: false }, gone, source)).toMatchObject({
      op: 'd',
      before: v2,
      after: null,
      changed: [],
    });
    // A sweep's deletion: the record vanished upstream, nothing was read.
    expect(changeEvent({ value: v2, deleted: false }, null, source)).toMatchObject({
      op: 'd',
      before: v2,
      after: null,
    });
  });

  it('a record re-created after its deletion is a create again, with no before', () => {
    const e = changeEvent({ value: v1, deleted: true }, v1, source);
    expect(e).toMatchObject({ op: 'c', before: null, after: v1 });
  });
});
