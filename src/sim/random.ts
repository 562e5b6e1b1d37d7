/**
 * Deterministic pseudo-randomness: every simulated value derives from (seed, stream), so a run can be
 * reproduced exactly and a record's fields can be regenerated instead of stored.
 */
export function hash32(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const p of parts) {
    const s = String(p);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    h ^= 0x7c;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }
  static of(...parts: (string | number)[]): Rng {
    return new Rng(hash32(...parts));
  }
  /** mulberry32 */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
  /** null with probability pNull, else the value */
  maybe<T>(pNull: number, value: () => T): T | null {
    return this.next() < pNull ? null : value();
  }
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A Kombo-style 24-character id, derived from its parts. */
export function komboId(...parts: (string | number)[]): string {
  const r = Rng.of('id', ...parts);
  let s = '';
  for (let i = 0; i < 24; i++) s += BASE58[Math.floor(r.next() * 58)];
  return s;
}
