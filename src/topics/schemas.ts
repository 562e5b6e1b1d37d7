/**
 * The Avro schemas in schemas/ (the record-topic contract) and the conversion between Kombo's JSON
 * and the Avro-shaped value: fields marked "kombo.format": "json" (free-form data such as
 * custom_fields) travel as JSON text.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { EndpointName } from '../kombo/endpoints.ts';
import { projectRoot } from '../localstack/paths.ts';

export type AvroType = string | AvroType[] | AvroNamed;
export interface AvroNamed {
  type: string;
  name?: string;
  fields?: AvroField[];
  items?: AvroType;
  'kombo.format'?: 'json' | 'date-time' | 'date' | 'time';
  [k: string]: unknown;
}
export interface AvroField {
  name: string;
  type: AvroType;
  default?: unknown;
  doc?: string;
}
export interface RecordSchema extends AvroNamed {
  type: 'record';
  name: string;
  fields: AvroField[];
}

export const schemasDir = path.join(projectRoot, 'schemas');
const cache = new Map<string, RecordSchema>();

function load(file: string): RecordSchema {
  let s = cache.get(file);
  if (!s) {
    s = JSON.parse(readFileSync(path.join(schemasDir, file), 'utf8')) as RecordSchema;
    cache.set(file, s);
  }
  return s;
}

export const schemaFile = (endpoint: EndpointName) => `${endpoint.replace('/', '.')}.avsc`;
export const valueSchema = (endpoint: EndpointName): RecordSchema => load(schemaFile(endpoint));
/** Reads the schema file again (the sink picks up fields added to schemas/ without a restart). */
export const readValueSchema = (endpoint: EndpointName): RecordSchema =>
  JSON.parse(readFileSync(path.join(schemasDir, schemaFile(endpoint)), 'utf8')) as RecordSchema;
export const keySchema = (): RecordSchema => load('key.avsc');

/** Named types defined in a schema, so references by name ("Address") resolve. */
function namedTypes(schema: AvroType, out = new Map<string, AvroNamed>()): Map<string, AvroNamed> {
  if (Array.isArray(schema)) for (const t of schema) namedTypes(t, out);
  else if (typeof schema === 'object') {
    if (schema.name && (schema.type === 'record' || schema.type === 'enum' || schema.type === 'fixed')) {
      out.set(schema.name, schema);
      // A reference may use the full name (another schema's type, as change events refer to records).
      if (typeof schema.namespace === 'string') out.set(`${schema.namespace}.${schema.name}`, schema);
    }
    for (const f of schema.fields ?? []) namedTypes(f.type, out);
    if (schema.items) namedTypes(schema.items, out);
  }
  return out;
}

type Direction = 'toAvro' | 'fromAvro';

function convert(type: AvroType, value: unknown, named: Map<string, AvroNamed>, dir: Direction): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    return nonNull.length === 1 ? convert(nonNull[0] as AvroType, value, named, dir) : value;
  }
  const t = typeof type === 'string' ? (named.get(type) ?? type) : type;
  if (typeof t === 'string') return value;
  if (t['kombo.format'] === 'json') return dir === 'toAvro' ? JSON.stringify(value) : JSON.parse(value as string);
  if (t.type === 'record' && t.fields && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const f of t.fields) out[f.name] = convert(f.type, v[f.name], named, dir);
    return out;
  }
  if (t.type === 'array' && Array.isArray(value) && t.items !== undefined) {
    const items = t.items;
    return value.map((x) => convert(items, x, named, dir));
  }
  return value;
}

/** Kombo JSON -> the value Avro encodes (free-form fields as JSON text, absent optional keys as null). */
export function toAvroValue(schema: RecordSchema, record: Record<string, unknown>): Record<string, unknown> {
  return convert(schema, record, namedTypes(schema), 'toAvro') as Record<string, unknown>;
}

/** Decoded Avro value -> Kombo JSON. */
export function fromAvroValue(schema: RecordSchema, value: Record<string, unknown>): Record<string, unknown> {
  return convert(schema, value, namedTypes(schema), 'fromAvro') as Record<string, unknown>;
}
