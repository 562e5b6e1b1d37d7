import { describe, expect, it } from 'vitest';
import { ENDPOINT_NAMES, type EndpointName } from '../../src/kombo/endpoints.ts';
import { endpointsForModels, NESTED_IN } from '../../src/kombo/models.ts';
import type { Change, NestedRelation } from '../../src/sim/changes.ts';
import { changeTime } from '../../src/sim/query.ts';
import { SimulatorCore } from '../../src/sim/simulator.ts';
import { type AvroType, valueSchema } from '../../src/topics/schemas.ts';

/** The field names at a dotted path of a schema (arrays and nullable unions stepped into). */
function fieldsAt(type: AvroType, path: string[]): string[] | undefined {
  if (Array.isArray(type)) return type.map((t) => fieldsAt(t, path)).find(Boolean);
  if (typeof type !== 'object') return undefined;
  if (type.type === 'array' && type.items !== undefined) return fieldsAt(type.items, path);
  if (type['kombo.format'] === 'json') return path.length === 0 ? [] : undefined;
  if (type.type !== 'record') return undefined;
  if (path.length === 0) return (type.fields ?? []).map((f) => f.name);
  const [head, ...rest] = path;
  const f = type.fields?.find((x) => x.name === head);
  return f && fieldsAt(f.type, rest);
}

describe('NESTED_IN', () => {
  it('names places where the nesting endpoint really holds a nested record', () => {
    for (const [nested, places] of Object.entries(NESTED_IN))
      for (const { endpoint, path } of places ?? [])
        expect(fieldsAt(valueSchema(endpoint), path.split('.')), `${nested} in ${endpoint}.${path}`).toBeDefined();
  });
});

// Every kind of change the simulator makes, on every endpoint: whatever it makes match
// updated_after must be among the endpoints the webhook's model names re-fetch.
describe('the model map against the simulator', () => {
  const core = new SimulatorCore({
    seed: 9,
    integrations: [
      { category: 'HRIS', size: 40 },
      { category: 'ATS', size: 40 },
    ],
  });
  const relations: NestedRelation[] = [
    'employee-groups',
    'candidate-tags',
    'job-stages',
    'job-hiring-team',
    'interview-users',
    'staffing-entity-groups',
  ];
  const changes: Change[] = [
    ...ENDPOINT_NAMES.flatMap((endpoint): Change[] => [
      { op: 'update', endpoint },
      { op: 'create', endpoint },
      { op: 'delete', endpoint },
    ]),
    ...relations.map((relation): Change => ({ op: 'nested', relation })),
  ];
  for (const change of changes) {
    const what = change.op === 'nested' ? `nested ${change.relation}` : `${change.op} ${change.endpoint}`;
    it(`${what}: the announced models re-fetch every endpoint whose updated_after it matches`, async () => {
      const category = (change.op === 'nested' ? change.relation : change.endpoint).match(/^(hris|employee|staffing)/)
        ? 'HRIS'
        : 'ATS';
      const i = core.integration(core.integrations().find((x) => x.category === category)?.id as string);
      if (!i) throw new Error('no integration');
      const before = Date.now();
      while (Date.now() <= before) await new Promise((r) => setTimeout(r, 1));
      core.queue(i.id, [change]);
      // A full sync: it marks deletions, which a delta sync does not.
      const { changedModels } = await core.runSync(i.id, { type: 'FULL' });
      const matched = i
        .endpoints()
        .filter((ep: EndpointName) => [...i.store(ep).live()].some((e) => changeTime(e) > before));
      expect(matched.length).toBeGreaterThan(0);
      expect(endpointsForModels(changedModels, ENDPOINT_NAMES)).toEqual(expect.arrayContaining(matched));
    });
  }
});
