/**
 * Kombo SDK record schemas as data (test/fixtures/sdk-1.3.4/*.json, written by extract.ts there), and
 * the check of a record against one: what the SDK's parser would refuse, plus enum values outside an
 * open enum's constants (the SDK takes those, but a simulator inventing values is not Kombo).
 */
export type SdkNode = (
  | { type: 'string'; format?: 'date-time' }
  | { type: 'number'; int?: true }
  | { type: 'boolean' }
  | { type: 'any' }
  | { type: 'map' }
  | { type: 'literal'; value: string }
  | { type: 'enum'; values: string[]; open: boolean }
  | { type: 'array'; items: SdkNode }
  | { type: 'object'; fields: Record<string, SdkNode & { optional?: true }> }
  | { type: 'union'; options: SdkNode[] }
) & { nullable?: true };

export interface SdkFixture {
  endpoint: string;
  source: string;
  record: SdkNode;
}

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Every way `value` departs from `node`, as `path: problem` lines (none: it conforms). */
export function sdkErrors(node: SdkNode, value: unknown, at = '$'): string[] {
  if (value === null) return node.nullable || node.type === 'any' ? [] : [`${at}: null, but not nullable`];
  switch (node.type) {
    case 'any':
      return [];
    case 'string':
      if (typeof value !== 'string') return [`${at}: ${typeof value}, not a string`];
      return node.format === 'date-time' && !ISO_WITH_OFFSET.test(value) ? [`${at}: "${value}" is no date-time`] : [];
    case 'number':
      if (typeof value !== 'number') return [`${at}: ${typeof value}, not a number`];
      return node.int && !Number.isInteger(value) ? [`${at}: ${value} is not an integer`] : [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: ${typeof value}, not a boolean`];
    case 'map':
      return typeof value === 'object' && !Array.isArray(value) ? [] : [`${at}: not an object`];
    case 'literal':
      return value === node.value ? [] : [`${at}: ${JSON.stringify(value)}, not ${JSON.stringify(node.value)}`];
    case 'enum':
      return typeof value === 'string' && node.values.includes(value)
        ? []
        : [`${at}: ${JSON.stringify(value)} is none of ${node.values.join(', ')}`];
    case 'array':
      return Array.isArray(value)
        ? value.flatMap((v, i) => sdkErrors(node.items, v, `${at}[${i}]`))
        : [`${at}: not an array`];
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: not an object`];
      const v = value as Record<string, unknown>;
      return Object.entries(node.fields).flatMap(([k, f]) =>
        k in v ? sdkErrors(f, v[k], `${at}.${k}`) : f.optional ? [] : [`${at}.${k}: required, missing`],
      );
    }
    case 'union': {
      const each = node.options.map((o) => sdkErrors(o, value, at));
      return each.some((e) => e.length === 0) ? [] : [`${at}: matches no option (${each.map((e) => e[0]).join('; ')})`];
    }
  }
}
