import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../src/kombo/endpoints.ts';
import { SimulatorCore } from '../../src/sim/simulator.ts';
import { AvroSerde } from '../../src/topics/avro.ts';
import { recordTopic } from '../../src/topics/names.ts';
import { valueSchema } from '../../src/topics/schemas.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { schemaRegistryUrl } from '../helpers/registry.ts';

let ctx: TestContext;
let url: string;
let serde: AvroSerde;
const core = new SimulatorCore({
  seed: 21,
  integrations: [
    { category: 'HRIS', size: 40 },
    { category: 'ATS', size: 40 },
  ],
});

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  url = await schemaRegistryUrl();
  serde = await AvroSerde.create({ url, prefix: ctx.prefix });
});
afterAll(async () => ctx?.close());

describe('Avro through the real Schema Registry (Apicurio, Confluent API)', () => {
  it('round-trips every simulated record of every endpoint, keys included', async () => {
    const [hris, ats] = core.integrations().map((i) => i.id) as [string, string];
    let n = 0;
    for (const { name, category } of ENDPOINTS) {
      const integration = category === 'hris' ? hris : ats;
      for (const record of core.truth(integration, name)) {
        const key = { integration_id: integration, id: record.id as string };
        expect(await serde.decodeKey(name, await serde.encodeKey(name, key))).toEqual(key);
        expect(await serde.decodeValue(name, await serde.encodeValue(name, record as never))).toEqual(record);
        n++;
      }
    }
    expect(n).toBeGreaterThan(300);
  });

  it('registers subjects by topic name with BACKWARD compatibility, and refuses an incompatible change', async () => {
    const topic = recordTopic(ctx.prefix, 'ats/tags');
    await serde.registerAll(['ats/tags']);
    const subject = `${topic}-value`;
    const latest = await serde.registry.getLatestSchemaId(subject);
    const byId = await serde.registry.getSchema(latest);
    expect(JSON.stringify(byId)).toContain('dev.kombostream.ats.Tag');
    const config = await request(`${url}/config/${subject}`);
    expect(((await config.body.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');

    const schema = valueSchema('ats/tags');
    const added = { ...schema, fields: [...schema.fields, { name: 'color', type: ['null', 'string'], default: null }] };
    await expect(
      serde.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(added) }, { subject }),
    ).resolves.toMatchObject({ id: expect.any(Number) });
    const broken = { ...schema, fields: [...schema.fields, { name: 'mandatory', type: 'string' }] };
    await expect(
      serde.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(broken) }, { subject }),
    ).rejects.toThrow();
  });
});
