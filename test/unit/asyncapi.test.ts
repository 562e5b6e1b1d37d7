import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../src/kombo/endpoints.ts';
import { asyncApiDocument, asyncApiFile, renderAsyncApi } from '../../src/topics/asyncapi.ts';

describe('docs/asyncapi.json', () => {
  it('describes every topic', () => {
    const doc = asyncApiDocument() as { channels: Record<string, { address: string }> };
    expect(Object.keys(doc.channels)).toHaveLength(2 * ENDPOINTS.length + 3);
    expect(doc.channels['hris.employees']?.address).toBe('{prefix}.hris.employees');
    expect(doc.channels['hris.employees.changes']?.address).toBe('{prefix}.hris.employees.changes');
  });
  it('is up to date with schemas/ (regenerate with npm run asyncapi)', () => {
    expect(readFileSync(asyncApiFile, 'utf8')).toBe(renderAsyncApi());
  });
});
