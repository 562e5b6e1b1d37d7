import http from 'node:http';
import https from 'node:https';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { accessProblem } from '../config/access.ts';
import { AccessError, KomboStreamError } from '../errors.ts';
import type { EndpointName } from '../kombo/endpoints.ts';
import { type ChangeEvent, changeEventSchema } from './change-events.ts';
import { changesTopic, recordTopic } from './names.ts';
import type { RecordKey } from './records.ts';
import { fromAvroValue, keySchema, type RecordSchema, toAvroValue, valueSchema } from './schemas.ts';
import { type KomboRecord, type RecordSerde, SerdeError } from './serde.ts';

/** The registry refused or could not be reached (e.g. an incompatible schema change). */
export class SchemaRegistryError extends KomboStreamError {
  constructor(message: string, cause: unknown) {
    super('KS_ERR_SCHEMA_REGISTRY', message, { retriable: true, cause });
  }
}

/**
 * Whether a registry call failed because the registry could not be reached or answer (down,
 * restarting, overloaded): worth trying again. The client reports a refused connection as status 400
 * with the socket error as its text; a 404 (no such schema) or a payload that is not Avro is final.
 */
function registryTrouble(err: unknown): boolean {
  const status = (err as { status?: number }).status;
  if (status === undefined) return false;
  if (status >= 500 || status === 408 || status === 429) return true;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|timeout/i.test(
    (err as Error).message,
  );
}

/** The registry's trouble as retriable; anything else as this record's own (poison). */
function decodeError(what: string, err: unknown): Error {
  return registryTrouble(err)
    ? new SchemaRegistryError(
        `the schema registry could not be reached to decode ${what}: ${(err as Error).message}`,
        err,
      )
    : new SerdeError(`undecodable Avro ${what}: ${(err as Error).message}`, { cause: err });
}

/**
 * One authenticated request at start (the subjects list), so wrong credentials or an untrusted
 * certificate fail the start by name instead of every record later. A registry that is not up yet
 * is retriable, as any start.
 */
async function checkAccess(opts: { url: string; auth?: { username: string; password: string } }, agent?: https.Agent) {
  const url = new URL(`${opts.url.replace(/\/+$/, '')}/subjects`);
  const headers: Record<string, string> = opts.auth
    ? { authorization: `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}` }
    : {};
  const status = await new Promise<number>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { headers, ...(agent ? { agent } : {}), timeout: 10_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  }).catch((err: unknown) => {
    throw (
      accessProblem('the Schema Registry', err) ??
      new SchemaRegistryError(`the registry at ${url.host} cannot be reached: ${(err as Error).message}`, err)
    );
  });
  if (status === 401 || status === 403)
    throw new AccessError(
      'the Schema Registry',
      `the credentials were refused (${status})`,
      'check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD',
      undefined,
    );
  if (status >= 500 || status === 0)
    throw new SchemaRegistryError(`the registry at ${url.host} answered ${status}`, undefined);
}

/**
 * Avro keys and values through a Confluent-compatible Schema Registry, using the schemas in
 * schemas/. Subjects follow the topic-name strategy (`<topic>-key`, `<topic>-value`) with BACKWARD
 * compatibility, so a schema may only gain fields with defaults. Schemas are registered on first use.
 */
export class AvroSerde implements RecordSerde {
  readonly format = 'avro' as const;
  readonly registry: SchemaRegistry;
  readonly #prefix: string;
  readonly #ids = new Map<string, Promise<number>>();

  private constructor(registry: SchemaRegistry, prefix: string) {
    this.registry = registry;
    this.#prefix = prefix;
  }

  /** `auth`: basic auth (Confluent Cloud's API key and secret); `ca`: a CA for the registry's TLS. */
  static async create(opts: {
    url: string;
    prefix: string;
    auth?: { username: string; password: string };
    ca?: string;
  }): Promise<AvroSerde> {
    const agent =
      opts.ca && opts.url.startsWith('https:') ? new https.Agent({ ca: opts.ca, keepAlive: true }) : undefined;
    const registry = new SchemaRegistry({
      host: opts.url,
      retry: { retries: 3 },
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(agent ? { agent } : {}),
    });
    await checkAccess(opts, agent);
    return new AvroSerde(registry, opts.prefix);
  }

  #id(subject: string, schema: RecordSchema): Promise<number> {
    let id = this.#ids.get(subject);
    if (!id) {
      id = this.registry
        .register(
          { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        )
        .then((r) => r.id)
        .catch((err: unknown) => {
          this.#ids.delete(subject);
          throw new SchemaRegistryError(`registering ${subject} failed: ${(err as Error).message}`, err);
        });
      this.#ids.set(subject, id);
    }
    return id;
  }

  /** Registers every subject of these endpoints up front (fails fast on an incompatible change). */
  async registerAll(endpoints: readonly EndpointName[]): Promise<void> {
    for (const e of endpoints) {
      const topic = recordTopic(this.#prefix, e);
      await this.#id(`${topic}-key`, keySchema());
      await this.#id(`${topic}-value`, valueSchema(e));
    }
  }

  async encodeKey(endpoint: EndpointName, key: RecordKey): Promise<Buffer> {
    const id = await this.#id(`${recordTopic(this.#prefix, endpoint)}-key`, keySchema());
    return this.registry.encode(id, { integration_id: key.integration_id, id: key.id });
  }

  async encodeValue(endpoint: EndpointName, record: KomboRecord): Promise<Buffer> {
    const schema = valueSchema(endpoint);
    const id = await this.#id(`${recordTopic(this.#prefix, endpoint)}-value`, schema);
    try {
      return await this.registry.encode(id, toAvroValue(schema, record));
    } catch (err) {
      if (registryTrouble(err)) throw new SchemaRegistryError(`encoding ${record.id}: ${(err as Error).message}`, err);
      throw new SerdeError(`record ${record.id} does not fit the ${endpoint} schema: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async encodeChange(
    endpoint: EndpointName,
    key: RecordKey,
    event: ChangeEvent,
  ): Promise<{ key: Buffer; value: Buffer }> {
    const topic = changesTopic(this.#prefix, endpoint);
    const schema = changeEventSchema(valueSchema(endpoint));
    const [keyId, valueId] = await Promise.all([
      this.#id(`${topic}-key`, keySchema()),
      this.#id(`${topic}-value`, schema),
    ]);
    try {
      return {
        key: await this.registry.encode(keyId, { integration_id: key.integration_id, id: key.id }),
        value: await this.registry.encode(valueId, toAvroValue(schema, event as unknown as Record<string, unknown>)),
      };
    } catch (err) {
      if (registryTrouble(err))
        throw new SchemaRegistryError(`encoding a change of ${key.id}: ${(err as Error).message}`, err);
      throw new SerdeError(`a change of ${key.id} does not fit its schema: ${(err as Error).message}`, { cause: err });
    }
  }

  async decodeKey(_endpoint: EndpointName, data: Buffer): Promise<RecordKey> {
    try {
      const k = (await this.registry.decode(data)) as RecordKey;
      return { integration_id: k.integration_id, id: k.id };
    } catch (err) {
      throw decodeError('key', err);
    }
  }

  async decodeValue(endpoint: EndpointName, data: Buffer): Promise<KomboRecord> {
    try {
      return fromAvroValue(valueSchema(endpoint), await this.registry.decode(data)) as KomboRecord;
    } catch (err) {
      throw decodeError('value', err);
    }
  }
}
