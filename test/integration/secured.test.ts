import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROLES } from '../../src/app/role.ts';
import { type Runtime, startRuntime } from '../../src/app/runtime.ts';
import { type Config, loadConfig, type RawSettings } from '../../src/config/config.ts';
import { type KafkaBroker, startKafka } from '../../src/localstack/kafka.ts';
import { type LocalPostgres, startEmbeddedPostgres } from '../../src/localstack/postgres.ts';
import { freePort } from '../../src/localstack/process.ts';
import { triggerSync } from '../../src/planner/trigger.ts';
import { type Simulator, startSimulator } from '../../src/sim/index.ts';
import { compareWithTruth } from '../../src/sim/verify.ts';
import { poolFor } from '../../src/state/pool.ts';
import { StateStore } from '../../src/state/store.ts';
import { kafkaClient } from '../../src/topics/kafka.ts';
import { makePki, type Pki } from '../helpers/certs.ts';
import { spawnNode } from '../helpers/child.ts';
import { quietLogger } from '../helpers/config.ts';
import { createTestContext, type TestContext } from '../helpers/context.ts';
import { eventually, readTopic } from '../helpers/topics.ts';

// A broker of this file's own with a SASL_SSL listener (PLAIN and SCRAM users) and a listener that
// requires client certificates, on certificates made here; the pipeline runs through each.
const SECRET = 'scram-pw-7a1f0c9e';
let ctx: TestContext;
let pki: Pki;
let broker: KafkaBroker;
let sim: Simulator;
let tlsPostgres: LocalPostgres;

beforeAll(async () => {
  ctx = await createTestContext(import.meta.url);
  const dir = path.join(inject('RUN_DIR'), ctx.prefix);
  pki = await makePki(path.join(dir, 'pki'));
  broker = await startKafka({
    dataDir: path.join(dir, 'kafka'),
    secure: {
      keystorePem: pki.serverKeystore,
      truststorePem: pki.ca,
      plainUsers: [{ name: 'plain-user', password: SECRET }],
      scramUsers: [
        { mechanism: 'SCRAM-SHA-256', name: 'scram256', password: SECRET },
        { mechanism: 'SCRAM-SHA-512', name: 'scram512', password: SECRET },
      ],
    },
  });
  sim = await startSimulator({ seed: 5, integrations: [{ category: 'HRIS', size: 12 }] });
  tlsPostgres = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'postgres'),
    ssl: { certFile: pki.serverCert, keyFile: pki.serverKey },
  });
}, 180_000);
afterAll(async () => {
  await tlsPostgres?.stop();
  await sim?.stop();
  await broker?.stop();
  await ctx?.close();
});

const settings = (s: RawSettings): RawSettings => ({
  DATABASE_URL: ctx.databaseUrl,
  TOPIC_PREFIX: ctx.prefix,
  PG_SCHEMA: ctx.schema,
  STATE_SCHEMA: ctx.stateSchema,
  KAFKA_PARTITIONS: 2,
  LOG_LEVEL: 'warn',
  ADMIN_PORT: 0,
  ...s,
});
const config = (s: RawSettings): Config => loadConfig({ env: {}, defaults: settings(s) });
const sasl = (mechanism: string, user: string, password = SECRET): RawSettings => ({
  KAFKA_BROKERS: broker.saslSslBrokers,
  KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
  KAFKA_SASL_MECHANISM: mechanism,
  KAFKA_SASL_USERNAME: user,
  KAFKA_SASL_PASSWORD: password,
  KAFKA_SSL_CA_LOCATION: pki.ca,
});
const mtls = (extra: RawSettings = {}): RawSettings => ({
  KAFKA_BROKERS: broker.mtlsBrokers,
  KAFKA_SECURITY_PROTOCOL: 'SSL',
  KAFKA_SSL_CA_LOCATION: pki.ca,
  KAFKA_SSL_CERTIFICATE_LOCATION: pki.clientCert,
  KAFKA_SSL_KEY_LOCATION: pki.clientKey,
  ...extra,
});

/** `kombo-stream start` with these settings: it must fail (exit status and output). */
const startFails = async (security: RawSettings) => {
  const env = Object.fromEntries(
    Object.entries(settings({ ...security, KOMBO_API_KEY: 'k', PORT: String(await freePort()) }))
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
  const child = spawnNode(['src/cli.ts', 'start', '--role', 'sink'], env);
  const code = await child.exited;
  return { code, output: child.output() };
};

describe('a secured Kafka', () => {
  it.each([
    ['SASL_SSL, PLAIN', () => sasl('PLAIN', 'plain-user')],
    ['SASL_SSL, SCRAM-SHA-256', () => sasl('SCRAM-SHA-256', 'scram256')],
    ['SASL_SSL, SCRAM-SHA-512', () => sasl('SCRAM-SHA-512', 'scram512')],
    ['mutual TLS', () => mtls()],
  ])('%s: topics are created, records produced and read back', async (_name, security) => {
    const c = config(security());
    const kafka = kafkaClient(c, 'secured-test');
    try {
      const topic = `${ctx.prefix}.secured.${_name.replace(/[^a-z0-9]+/gi, '-')}`;
      await kafka.ensureTopics([{ name: topic, partitions: 1, compacted: false }]);
      const producer = kafka.producer();
      await producer.send(topic, [{ key: 'k', value: 'v' }]);
      await producer.close();
      expect((await readTopic(kafka, topic)).map((r) => r.value?.toString())).toEqual(['v']);
    } finally {
      await kafka.close();
    }
  });

  it('runs the pipeline through SASL_SSL (SCRAM-SHA-512): fetched, produced, consumed, committed, in Postgres', async () => {
    const [id] = sim.core.integrations().map((i) => i.id) as [string];
    const c = config({
      ...sasl('SCRAM-SHA-512', 'scram512'),
      KOMBO_API_URL: sim.url,
      KOMBO_API_KEY: sim.apiKey,
      KOMBO_WEBHOOK_SECRET: 'whsec_secured',
      PORT: await freePort(),
      KOMBO_ENDPOINTS: 'hris/employees',
    });
    const runtime: Runtime = await startRuntime(c, ROLES, { logger: quietLogger(), host: '127.0.0.1' });
    try {
      const store = new StateStore(runtime.deps.pool, c.postgres.stateSchema);
      await store.upsertIntegration({ integration_id: id, tool: 'personio', category: 'HRIS' });
      const producer = runtime.deps.kafka.producer();
      await triggerSync({ config: c, store, producer }, id, { mode: 'full' });
      await producer.close();
      const diff = await eventually(
        () => compareWithTruth(ctx.pool, ctx.schema, sim.core, [id], ['hris/employees']),
        (d) => d.length === 0,
        60_000,
      );
      expect(diff).toEqual([]);
      // The fetcher committed its task offsets through the secured listener too.
      const committed = await eventually(
        () => runtime.deps.kafka.groupOffsets(`kombo-stream.${ctx.prefix}.fetcher`, [`${ctx.prefix}.tasks`]),
        (m) => [...m.values()].some((o) => o > 0n),
        30_000,
      );
      expect([...committed.values()].some((o) => o > 0n)).toBe(true);
    } finally {
      await runtime.stop();
    }
  }, 120_000);

  it.each([
    [
      'a wrong password',
      () => sasl('SCRAM-SHA-512', 'scram512', 'not-the-password-42'),
      /authentication failed|credentials/i,
    ],
    [
      'an untrusted server certificate',
      () => mtls({ KAFKA_SSL_CA_LOCATION: pki.otherCa }),
      /certificate.*(not trusted|verify)/i,
    ],
    [
      'a missing client certificate',
      () => ({ ...mtls(), KAFKA_SSL_CERTIFICATE_LOCATION: undefined, KAFKA_SSL_KEY_LOCATION: undefined }),
      /client certificate/i,
    ],
  ])(
    '%s fails at start with an error that names the problem and no secret',
    async (_name, security, problem) => {
      const { code, output } = await startFails(security());
      expect(code, output).not.toBe(0);
      expect(output).toMatch(problem);
      for (const secret of [SECRET, 'not-the-password-42']) expect(output).not.toContain(secret);
    },
    60_000,
  );
});

describe('Postgres over verified TLS', () => {
  const pgTls = (ca: string): RawSettings => ({
    KAFKA_BROKERS: inject('KAFKA_BROKERS'),
    DATABASE_URL: tlsPostgres.url.replace('127.0.0.1', 'localhost'),
    PG_SSL_MODE: 'verify-full',
    PG_SSL_CA_LOCATION: ca,
  });

  it('connects with verify-full, encrypted', async () => {
    const pool = poolFor(config(pgTls(pki.ca)), { max: 1 });
    try {
      const r = await pool.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(r.rows[0].ssl).toBe(true);
    } finally {
      await pool.end();
    }
  });

  it('an untrusted server certificate fails at start, by name', async () => {
    const { code, output } = await startFails(pgTls(pki.otherCa));
    expect(code, output).not.toBe(0);
    expect(output).toMatch(/Postgres: the server's certificate is not trusted.*PG_SSL_CA_LOCATION/);
  }, 60_000);
});
