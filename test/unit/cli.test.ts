import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.ts';

describe('kombo-stream CLI', () => {
  it('lists every command in --help', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
      out.push(String(c));
      return true;
    });
    try {
      expect(await main(['--help'], {})).toBe(0);
    } finally {
      spy.mockRestore();
    }
    for (const c of ['start', 'demo', 'status', 'sync', 'drift', 'sim', 'stack'])
      expect(out.join('')).toMatch(new RegExp(`\\n  ${c}\\s`));
  });
  it('refuses unknown commands and bad roles with a clear message', async () => {
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((c) => {
      err.push(String(c));
      return true;
    });
    try {
      expect(await main(['frobnicate'], {})).toBe(2);
      expect(await main(['start', '--role', 'sinks'], { KAFKA_BROKERS: 'a:1', DATABASE_URL: 'postgres://x@y/z' })).toBe(
        1,
      );
      expect(await main(['start'], {})).toBe(1);
    } finally {
      spy.mockRestore();
    }
    const text = err.join('');
    expect(text).toContain('unknown command "frobnicate"');
    expect(text).toContain('unknown role "sinks"');
    expect(text).toContain('KAFKA_BROKERS: is required');
  });
});
