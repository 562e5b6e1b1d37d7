import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal content hashes equally whatever the key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** The `kombo-content-hash` header: what the record index, the sink and the drift checks compare. */
export function contentHash(record: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(record)).digest('base64url').slice(0, 22);
}
