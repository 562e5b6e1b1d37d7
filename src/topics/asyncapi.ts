import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ENDPOINTS } from '../kombo/endpoints.ts';
import { projectRoot } from '../localstack/paths.ts';
import { changeEventSchema } from './change-events.ts';
import { H } from './records.ts';
import { keySchema, valueSchema } from './schemas.ts';

const AVRO = 'application/vnd.apache.avro+json;version=1.11.0';
const str = (description: string) => ({ type: 'string', description });

/**
 * The AsyncAPI 3 document of every topic, generated from schemas/ and the record contract, so
 * downstream subscribers know what they consume. `npm run asyncapi` writes docs/asyncapi.json; a test
 * fails when the committed file is out of date.
 */
export function asyncApiDocument(): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  const prefix = { prefix: { description: 'TOPIC_PREFIX', default: 'kombo' } };
  const recordHeaders = {
    type: 'object',
    properties: {
      [H.integrationId]: str('Kombo integration id'),
      [H.endpoint]: str('Endpoint, e.g. hris/employees'),
      [H.fetchedAt]: str('ISO time the fetch that read this version started; orders versions'),
      [H.syncId]: str('The fetch run that produced the record'),
      [H.op]: { type: 'string', enum: ['upsert', 'delete', 'tombstone', 'purge', 'heal'] },
      [H.contentHash]: str('Hash of the value content'),
      [H.generation]: str('Full-fetch generation (drift passes)'),
    },
    required: [H.integrationId, H.endpoint, H.fetchedAt, H.syncId, H.op],
  };
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const { name } of ENDPOINTS) {
    const id = name.replace('/', '.');
    messages[id] = {
      name: id,
      title: `A ${name} record`,
      summary: `The record exactly as Kombo's GET /v1/${name} returned it. A null value (tombstone) follows a deletion.`,
      headers: recordHeaders,
      payload: { schemaFormat: AVRO, schema: valueSchema(name) },
      bindings: { kafka: { key: { schemaFormat: AVRO, schema: keySchema() }, bindingVersion: '0.5.0' } },
    };
    channels[id] = {
      address: `{prefix}.${id}`,
      description: `Compacted upsert topic of ${name}; key {integration_id, id}. JSON by default, Avro (these schemas) with a Schema Registry.`,
      parameters: prefix,
      messages: { record: { $ref: `#/components/messages/${id}` } },
      bindings: { kafka: { topicConfiguration: { 'cleanup.policy': ['compact'] }, bindingVersion: '0.5.0' } },
    };
    operations[`consume.${id}`] = { action: 'receive', channel: { $ref: `#/channels/${id}` } };

    const changes = `${id}.changes`;
    const change = {
      title: `A change of a ${name} record`,
      summary: 'A version a fetch found changed, with the version before it and the changed field paths.',
      headers: recordHeaders,
      bindings: { kafka: { key: { schemaFormat: AVRO, schema: keySchema() }, bindingVersion: '0.5.0' } },
    };
    messages[`${changes}.json`] = { name: `${changes}.json`, ...change, payload: changeJsonSchema(name) };
    messages[`${changes}.avro`] = {
      name: `${changes}.avro`,
      ...change,
      contentType: 'application/vnd.apache.avro',
      payload: { schemaFormat: AVRO, schema: changeEventSchema(valueSchema(name)) },
    };
    channels[changes] = {
      address: `{prefix}.${id}.changes`,
      description: `Change events of ${name}, where CHANGE_EVENTS asks for them; keyed like ${id}; not compacted (CHANGE_EVENTS_RETENTION). At least once: a repeat has the same key and source.content_hash.`,
      parameters: prefix,
      messages: {
        json: { $ref: `#/components/messages/${changes}.json` },
        avro: { $ref: `#/components/messages/${changes}.avro` },
      },
      bindings: { kafka: { topicConfiguration: { 'cleanup.policy': ['delete'] }, bindingVersion: '0.5.0' } },
    };
    operations[`consume.${changes}`] = { action: 'receive', channel: { $ref: `#/channels/${changes}` } };
  }
  messages.event = {
    name: 'event',
    title: 'A verified Kombo webhook',
    headers: {
      type: 'object',
      properties: {
        'kombo-event-id': str('Webhook id'),
        'kombo-event-type': str('Webhook type'),
        'kombo-received-at': str('ISO time'),
      },
    },
    payload: {
      type: 'object',
      description: 'The webhook body exactly as Kombo sent it (kombo-api.md §4): {id, type, data}',
      required: ['id', 'type', 'data'],
    },
  };
  messages.task = {
    name: 'task',
    title: 'A fetch task',
    payload: {
      type: 'object',
      required: ['task_id', 'integration_id', 'endpoint', 'mode', 'reason', 'requested_at'],
      properties: {
        task_id: { type: 'string' },
        integration_id: { type: 'string' },
        endpoint: { type: 'string', enum: ENDPOINTS.map((e) => e.name) },
        mode: { type: 'string', enum: ['delta', 'full', 'purge'] },
        reason: { type: 'string' },
        requested_at: { type: 'string', format: 'date-time' },
        cursor: { type: 'string' },
        run_id: { type: 'string' },
      },
    },
  };
  messages.deadLetter = {
    name: 'deadLetter',
    title: 'What could not be processed',
    headers: {
      type: 'object',
      properties: Object.fromEntries(
        [
          'kombo-error-code',
          'kombo-error-message',
          'kombo-origin-topic',
          'kombo-origin-partition',
          'kombo-origin-offset',
          'kombo-origin-role',
        ].map((h) => [h, { type: 'string' }]),
      ),
    },
    payload: { description: 'The original value (or task) unchanged' },
  };
  for (const [id, msg, desc] of [
    ['events', 'event', 'Verified webhooks, keyed by integration id (7 days).'],
    ['tasks', 'task', 'Fetch tasks, keyed by integration id (7 days).'],
    ['dlq', 'deadLetter', 'Dead letters (30 days).'],
  ] as const) {
    channels[id] = {
      address: `{prefix}.${id}`,
      description: desc,
      parameters: prefix,
      messages: { [msg]: { $ref: `#/components/messages/${msg}` } },
    };
    operations[`consume.${id}`] = { action: 'receive', channel: { $ref: `#/channels/${id}` } };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'kombo-stream topics',
      version: pkg.version,
      description:
        "Kombo's HRIS/ATS data mirrored into Kafka: one compacted topic per endpoint, plus the connector's events, tasks and dead letters.",
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { messages },
  };
}

/** The JSON form of a change event (the Avro form is changeEventSchema's). */
function changeJsonSchema(endpoint: string): Record<string, unknown> {
  const version = { description: `A ${endpoint} record as on its record topic`, type: ['object', 'null'] };
  return {
    type: 'object',
    required: ['before', 'after', 'op', 'source', 'ts_ms', 'changed'],
    properties: {
      before: { ...version, description: 'The version read before this one; null for a create' },
      after: { ...version, description: 'The version read; null for a delete' },
      op: { type: 'string', enum: ['c', 'u', 'd'], description: 'c: created or re-created, u: updated, d: deleted' },
      source: {
        type: 'object',
        required: ['connector', 'integration_id', 'endpoint', 'read_at', 'run_id', 'content_hash'],
        properties: {
          connector: { const: 'kombo-stream' },
          integration_id: str('Kombo integration id'),
          endpoint: { const: endpoint },
          read_at: { type: 'string', format: 'date-time', description: 'When the version was read from Kombo' },
          run_id: str('The fetch run that read it (drift:<generation> for a deletion its sweep found)'),
          content_hash: { type: ['string', 'null'], description: "The new version's content hash" },
        },
      },
      ts_ms: { type: 'integer', description: 'When the event was made (ms since the epoch)' },
      changed: {
        type: 'array',
        items: { type: 'string' },
        description:
          'Paths of the fields that differ: first_name, work_location.name, employments[id=E1].job_title, tags[2]; empty for a delete',
      },
    },
  };
}

export const asyncApiFile = path.join(projectRoot, 'docs', 'asyncapi.json');
export const renderAsyncApi = () => `${JSON.stringify(asyncApiDocument(), null, 2)}\n`;
