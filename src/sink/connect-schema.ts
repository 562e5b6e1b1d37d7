import { type EndpointName, isEndpointName } from '../kombo/endpoints.ts';
import { valueSchema } from '../topics/schemas.ts';
import { type Column, tableLayout } from './layout.ts';

/**
 * Kafka Connect schemas for a record topic in JSON mode, as JsonConverter's `schema.content`
 * (Connect >= 4.2) takes them: plain-JSON records then reach a standard sink as typed structs.
 * Derived from schemas/, as our own sink's tables are, so a schema change shows in both.
 */
interface ConnectField {
  field: string;
  type: 'string' | 'double' | 'int64' | 'boolean';
  optional: boolean;
  name?: string;
}

export const connectKeySchema = (): string =>
  JSON.stringify({
    type: 'struct',
    name: 'dev.kombostream.RecordKey',
    optional: false,
    fields: [
      { field: 'integration_id', type: 'string', optional: false },
      { field: 'id', type: 'string', optional: false },
    ],
  });

/**
 * Standard sinks such as Debezium's JDBC sink take flat structs only, and JsonConverter cannot turn a
 * nested object into text, so nested and free-form fields (jsonb in our sink) are left out.
 * Date-times keep their ISO 8601 text and are named io.debezium.time.ZonedTimestamp, which
 * Debezium stores as timestamptz. Dates and times of day stay text: Connect's logical types for
 * them are numbers, and no sink reads a string date by a schema name.
 */
function connectField(c: Column): ConnectField | undefined {
  switch (c.pgType) {
    case 'text':
    case 'date':
    case 'time':
      return { field: c.name, type: 'string', optional: true };
    case 'double precision':
      return { field: c.name, type: 'double', optional: true };
    case 'bigint':
      return { field: c.name, type: 'int64', optional: true };
    case 'boolean':
      return { field: c.name, type: 'boolean', optional: true };
    case 'timestamptz':
      return { field: c.name, type: 'string', optional: true, name: 'io.debezium.time.ZonedTimestamp' };
    case 'jsonb':
      return undefined;
  }
}

/** Every field but the id optional: a record of an older schema lacks the fields added since. */
export function connectValueSchema(endpoint: EndpointName): string {
  const schema = valueSchema(endpoint);
  const fields = tableLayout(endpoint, schema).fields.flatMap((c) => connectField(c) ?? []);
  return JSON.stringify({
    type: 'struct',
    name: `${schema.namespace as string}.${schema.name}`,
    optional: false,
    fields: [{ field: 'id', type: 'string', optional: false }, ...fields],
  });
}

/**
 * `kombo-stream connect-schema <endpoint>`: the converter lines of docs/warehouse.md's connector
 * configuration for any endpoint, as .properties lines.
 */
export async function runConnectSchema(args: string[]): Promise<number> {
  const [endpoint] = args;
  if (endpoint === undefined || !isEndpointName(endpoint)) {
    throw new TypeError(`name one endpoint, e.g. hris/employees (got ${endpoint ?? 'none'})`);
  }
  process.stdout.write(
    `key.converter.schema.content=${connectKeySchema()}\nvalue.converter.schema.content=${connectValueSchema(endpoint)}\n`,
  );
  return 0;
}
