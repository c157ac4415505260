import { describe, expect, it } from 'vitest';
import { canonicalJson, contentId } from '../../src/core/diff/canonical.js';
import { rng } from '../helpers/prng.js';

/** Random JSON-ish values from a small alphabet, so that equal canonical forms occur often. */
function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 8 : 11));
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  switch (k) {
    case 0:
      return pick(['', 'a', 'b', '5', 'é', 'a"b', '\n', '\u2028', '𝔘']);
    case 1:
      return pick([0, -0, 5, 1.5, 1e21, -3, NaN, Infinity]);
    case 2:
      return pick([5n, 0n, 12345678901234567890n]);
    case 3:
      return pick([true, false]);
    case 4:
      return null;
    case 5:
      return undefined;
    case 6:
      return new Date(pick([0, 86_400_000]));
    case 7:
      return pick([new Uint8Array([1, 2]), Buffer.from('hi')]);
    case 8:
    case 9: {
      const keys = ['a', 'b', 'role', 'content', '10', '9', '$bytes', 'é'];
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 4);
      for (let i = 0; i < n; i++) o[pick(keys)] = randomValue(r, depth + 1);
      return o;
    }
    default:
      return Array.from({ length: Math.floor(r() * 3) }, () => randomValue(r, depth + 1));
  }
}

describe('contentId', () => {
  it('is equal for two values exactly when their canonical JSON is equal', () => {
    const r = rng(42);
    const values = Array.from({ length: 3000 }, () => randomValue(r));
    // Pairs with equal canonical JSON occur by construction of the small alphabet; count both kinds.
    const byCanon = new Map<string, string>();
    const byId = new Map<string, string>();
    let equalPairs = 0;
    for (const v of values) {
      const c = canonicalJson(v);
      const id = contentId(v);
      if (byCanon.has(c)) {
        equalPairs++;
        expect(byCanon.get(c)).toBe(id);
      } else byCanon.set(c, id);
      if (byId.has(id)) expect(byId.get(id)).toBe(c);
      else byId.set(id, c);
    }
    expect(equalPairs).toBeGreaterThan(100);
    expect(byCanon.size).toBeGreaterThan(300);
  });

  it('ignores key order and number spelling, and tells types apart', () => {
    expect(contentId({ role: 'user', content: 'hi' })).toBe(contentId({ content: 'hi', role: 'user' }));
    expect(contentId(JSON.parse('{"a":1.0,"b":[1e2]}'))).toBe(contentId({ b: [100], a: 1 }));
    expect(contentId(5n)).toBe(contentId(5));
    expect(contentId({ a: 1, b: undefined })).toBe(contentId({ a: 1 }));
    expect(contentId('5')).not.toBe(contentId(5));
    expect(contentId(['ab'])).not.toBe(contentId(['a', 'b']));
    expect(contentId({ a: 'b' })).not.toBe(contentId({ ab: '' }));
    expect(contentId([])).not.toBe(contentId({}));
    expect(contentId('x'.repeat(200_000))).not.toBe(contentId('x'.repeat(199_999)));
  });
});
