import { type EndpointName, tableName } from '../kombo/endpoints.ts';
import { quoteIdent } from '../state/migrate.ts';
import type { AvroType, RecordSchema } from '../topics/schemas.ts';

export interface Column {
  name: string;
  pgType: 'text' | 'double precision' | 'bigint' | 'boolean' | 'timestamptz' | 'date' | 'time' | 'jsonb';
}

export interface TableLayout {
  endpoint: EndpointName;
  table: string;
  /** Kombo's top-level fields, in schema order. */
  fields: Column[];
}

/** Bookkeeping columns, prefixed so they can never collide with a Kombo field. */
export const BOOKKEEPING: Column[] = [
  { name: '_kombo_fetched_at', pgType: 'timestamptz' },
  { name: '_kombo_partition', pgType: 'bigint' },
  { name: '_kombo_offset', pgType: 'bigint' },
  { name: '_kombo_deleted_at', pgType: 'timestamptz' },
  { name: '_kombo_content_hash', pgType: 'text' },
  { name: '_kombo_row_md5', pgType: 'text' },
];

const IDENT = /^[a-z_][a-z0-9_]*$/;

function pgTypeOf(type: AvroType): Column['pgType'] {
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    return nonNull.length === 1 ? pgTypeOf(nonNull[0] as AvroType) : 'jsonb';
  }
  if (typeof type === 'string') {
    if (type === 'string' || type === 'enum') return 'text';
    if (type === 'double' || type === 'float') return 'double precision';
    if (type === 'int' || type === 'long') return 'bigint';
    if (type === 'boolean') return 'boolean';
    return 'jsonb'; // a named record type
  }
  const f = type['kombo.format'];
  if (f === 'json') return 'jsonb';
  if (f === 'date-time') return 'timestamptz';
  if (f === 'date') return 'date';
  if (f === 'time') return 'time';
  if (type.type === 'record' || type.type === 'array' || type.type === 'map') return 'jsonb';
  return pgTypeOf(type.type);
}

/**
 * The sink table of an endpoint: typed columns for top-level scalars, jsonb for nested and
 * free-form fields. Field names come from the schema files and must be plain identifiers (an
 * allow-list: nothing else ever reaches SQL as an identifier).
 */
export function tableLayout(endpoint: EndpointName, schema: RecordSchema): TableLayout {
  const fields = schema.fields
    .filter((f) => f.name !== 'id')
    .map((f) => {
      if (!IDENT.test(f.name) || f.name.startsWith('_kombo_') || f.name === 'integration_id') {
        throw new Error(`schema field "${f.name}" of ${endpoint} is not an allowed column name`);
      }
      return { name: f.name, pgType: pgTypeOf(f.type) };
    });
  return { endpoint, table: tableName(endpoint), fields };
}

/**
 * The row checksum over a row's data columns, as the sink stores it when it writes a row and as the
 * drift pass recomputes it: the one expression both use, so a hand edit of any data column shows.
 */
export function rowMd5(layout: TableLayout, alias: string): string {
  const cols = layout.fields.map((c) => `${alias}.${quoteIdent(c.name)}`);
  return `md5(ROW(${cols.join(', ') || 'NULL'})::text)`;
}
