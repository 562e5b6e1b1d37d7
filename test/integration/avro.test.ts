import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RoleDeps } from '../../src/app/role.ts';
import { ENDPOINTS } from '../../src/kombo/endpoints.ts';
import { SimulatorCore } from '../../src/sim/simulator.ts';
import { startSink } from '../../src/sink/role.ts';
import { AvroSerde } from '../../src/topics/avro.ts';
import { changeEvent, changeEventSchema } from '../../src/topics/change-events.ts';
import { changesTopic, dlqTopic, recordTopic } from '../../src/topics/names.ts';
import { recordHeaders } from '../../src/topics/records.ts';
import { fromAvroValue, toAvroValue, valueSchema } from '../../src/topics/schemas.ts';
import { topicSpecs } from '../../src/topics/topology.ts';
import { makePki } from '../helpers/certs.ts';
import { testDeps } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { startProxy } from '../helpers/proxy.ts';
import { schemaRegistryUrl } from '../helpers/registry.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

let ctx: TestContext;
let url: string;
let serde: AvroSerde;
let deps: RoleDeps;
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
  deps = await testDeps(ctx, { KOMBO_ENDPOINTS: 'ats/tags', SCHEMA_REGISTRY_URL: url });
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

  it('round-trips change events of every endpoint (create, update, delete) under <topic>.changes subjects', async () => {
    const [hris, ats] = core.integrations().map((i) => i.id) as [string, string];
    for (const { name, category } of ENDPOINTS) {
      const integration = category === 'hris' ? hris : ats;
      const a = core.truth(integration, name)[0] as Record<string, unknown>;
      const source = { integration_id: integration, endpoint: name, read_at: '2026-12-01T10:00:00.000Z', run_id: 'r' };
      const events = [
        changeEvent(undefined, a, { ...source, content_hash: 'h1' }),
        changeEvent(
          { value: a, deleted: false },
          { ...a, changed_at: '2026-12-02T00:00:00.000Z' },
          { ...source, content_hash: 'h2' },
        ),
        changeEvent({ value: a, deleted: false }, null, { ...source, content_hash: null }),
      ];
      for (const event of events) {
        const key = { integration_id: integration, id: a.id as string };
        const out = await serde.encodeChange(name, key, event);
        expect(await serde.registry.decode(out.key)).toEqual(key);
        const schema = changeEventSchema(valueSchema(name));
        expect(fromAvroValue(schema, await serde.registry.decode(out.value))).toEqual(event);
      }
      const subject = `${changesTopic(ctx.prefix, name)}-value`;
      expect(await serde.registry.getLatestSchemaId(subject)).toEqual(expect.any(Number));
    }
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

  it('naming date-times for Kafka Connect (connect.name) was a BACKWARD-compatible change that alters no byte', async () => {
    // The schemas as they were before the annotation (docs/architecture.md, "Date-times stay text").
    const schema = JSON.stringify(valueSchema('hris/employees'));
    const before = schema.replaceAll(',"connect.name":"io.debezium.time.ZonedTimestamp"', '');
    expect(before).not.toBe(schema);
    const subject = `${recordTopic(ctx.prefix, 'hris/employees')}-value`;
    const register = (s: string) =>
      serde.registry.register({ type: SchemaType.AVRO, schema: s }, { subject, compatibility: COMPATIBILITY.BACKWARD });
    const old = await register(before);
    const annotated = await register(schema);
    expect(annotated.id).not.toBe(old.id);
    const employee = core.truth(core.integrations()[0]?.id as string, 'hris/employees')[0] as never;
    const bytes = (s: string) => avro.Type.forSchema(JSON.parse(s)).toBuffer(toAvroValue(JSON.parse(s), employee));
    expect(bytes(schema).equals(bytes(before))).toBe(true);
  });

  it('the sink waits out a registry outage: nothing dead-lettered, nothing skipped, every row written after', async () => {
    const topic = recordTopic(ctx.prefix, 'ats/tags');
    const registry = new URL(url);
    const proxy = await startProxy({ host: registry.hostname, port: Number(registry.port) });
    const through = `${registry.protocol}//127.0.0.1:${proxy.port}${registry.pathname}`;
    // Records encoded while the registry is up...
    const tags = core.truth(core.integrations()[1]?.id as string, 'ats/tags').slice(0, 5);
    const integration = core.integrations()[1]?.id as string;
    const producer = ctx.kafka.producer();
    await ctx.kafka.ensureTopics([topicSpecs(deps.config).dlq, ...topicSpecs(deps.config).records.values()]);
    await producer.send(
      topic,
      await Promise.all(
        tags.map(async (t) => ({
          key: await serde.encodeKey('ats/tags', { integration_id: integration, id: t.id as string }),
          value: await serde.encodeValue('ats/tags', t as never),
          headers: recordHeaders({
            integrationId: integration,
            endpoint: 'ats/tags',
            fetchedAt: new Date().toISOString(),
            syncId: 's',
            op: 'upsert',
          }),
        })),
      ),
    );
    await producer.close();
    // ...and a sink whose registry goes down before it decoded anything (nothing cached; a start
    // during the outage itself waits at its access check).
    const sinkSerde = await AvroSerde.create({ url: through, prefix: ctx.prefix });
    await proxy.down();
    const sink = await startSink({ ...deps, serde: sinkSerde }, { maxWaitTimeInMs: 100 });
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      const rows = () =>
        ctx.pool.query(`SELECT count(*)::int AS n FROM "${ctx.schema}".ats_tags`).then((r) => r.rows[0].n as number);
      expect(await rows()).toBe(0);
      await proxy.up();
      expect(await eventually(rows, (n) => n === 5, 60_000)).toBe(5);
      expect(await readTopic(ctx.kafka, dlqTopic(ctx.prefix))).toEqual([]);
    } finally {
      await sink.stop();
      await proxy.close();
    }
  }, 120_000);

  it('reaches a registry behind basic auth and TLS with its own CA; wrong credentials or an unknown CA fail by name', async () => {
    const pki = await makePki(path.join(inject('RUN_DIR'), `${ctx.prefix}-pki`));
    const upstream = new URL(url);
    const user = 'registry-key';
    const secret = 'registry-secret-5d2e';
    const expected = `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
    // What Confluent Cloud puts in front of its registry, in small: TLS and basic auth.
    const server = https.createServer(
      { cert: await readFile(pki.serverCert), key: await readFile(pki.serverKey) },
      (req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401).end('{"error_code":401,"message":"Unauthorized"}');
          return;
        }
        const fwd = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            path: req.url,
            method: req.method,
            headers: { ...req.headers, host: upstream.host },
          },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        req.pipe(fwd);
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const secured = `https://localhost:${(server.address() as AddressInfo).port}${upstream.pathname}`;
    const ca = await readFile(pki.ca, 'utf8');
    try {
      const s = await AvroSerde.create({
        url: secured,
        prefix: `${ctx.prefix}.secured`,
        auth: { username: user, password: secret },
        ca,
      });
      const [hris] = core.integrations().map((i) => i.id) as [string];
      const record = core.truth(hris, 'hris/locations')[0] as never;
      expect(await s.decodeValue('hris/locations', await s.encodeValue('hris/locations', record))).toEqual(record);
      const wrong = AvroSerde.create({
        url: secured,
        prefix: ctx.prefix,
        auth: { username: user, password: 'nope-nope-1' },
        ca,
      });
      await expect(wrong).rejects.toMatchObject({
        code: 'KS_ERR_ACCESS',
        message: expect.stringMatching(/credentials were refused.*SCHEMA_REGISTRY_PASSWORD/),
      });
      await expect(wrong).rejects.not.toMatchObject({ message: expect.stringContaining('nope-nope-1') });
      const untrusted = AvroSerde.create({
        url: secured,
        prefix: ctx.prefix,
        auth: { username: user, password: secret },
        ca: await readFile(pki.otherCa, 'utf8'),
      });
      await expect(untrusted).rejects.toMatchObject({
        message: expect.stringMatching(/certificate is not trusted.*SCHEMA_REGISTRY_SSL_CA_LOCATION/),
      });
    } finally {
      server.close();
    }
  });
});
