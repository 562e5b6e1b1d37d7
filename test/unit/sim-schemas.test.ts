import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../src/kombo/endpoints.ts';
import { SimulatorCore } from '../../src/sim/simulator.ts';
import { fromAvroValue, toAvroValue, valueSchema } from '../../src/topics/schemas.ts';

const core = new SimulatorCore({
  seed: 7,
  integrations: [
    { category: 'HRIS', size: 60 },
    { category: 'ATS', size: 60 },
  ],
});
const [hris, ats] = core.integrations();

describe('schemas/ against the simulated records', () => {
  for (const { name: endpoint, category } of ENDPOINTS) {
    it(`${endpoint}: every record is valid Avro, carries exactly the schema's fields and reads back unchanged`, () => {
      const integration = (category === 'hris' ? hris : ats)?.id as string;
      const records = core.truth(integration, endpoint);
      expect(records.length).toBeGreaterThan(0);
      const schema = valueSchema(endpoint);
      const type = avro.Type.forSchema(schema as avro.Schema);
      const fieldNames = schema.fields.map((f) => f.name).sort();
      for (const r of records) {
        expect(Object.keys(r).sort()).toEqual(fieldNames);
        const errors: string[] = [];
        const ok = type.isValid(toAvroValue(schema, r), { errorHook: (p) => errors.push(p.join('.')) });
        expect(ok, `${endpoint} ${r.id}: invalid at ${errors.join(', ')}`).toBe(true);
        // Nested keys too: one the schema lacks would be dropped, one the record lacks read back as null.
        const back = fromAvroValue(schema, type.fromBuffer(type.toBuffer(toAvroValue(schema, r))));
        expect(back, `${endpoint} ${r.id}`).toEqual(r);
      }
    });
  }
});
