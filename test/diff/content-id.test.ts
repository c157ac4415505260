import { describe, expect, it } from 'vitest';
import { canonicalJson, contentId, contentIdOfJson, plainJsonText } from '../../src/core/diff/canonical.js';
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

/** A random JSON text: random key order, white space, escapes and number spellings. */
function randomJson(r: () => number, depth = 0): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ws = (): string => (r() < 0.8 ? '' : pick([' ', '\t', '\r\n', '  ']));
  const str = (s: string, escapes: boolean): string => {
    let out = '"';
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      if (ch === '"' || ch === '\\') out += '\\' + ch;
      else if (cp < 0x20) out += '\\u' + cp.toString(16).padStart(4, '0');
      else if (escapes && r() < 0.3) {
        if (ch === '/') out += '\\/';
        else if (cp > 0xffff) {
          const hi = 0xd800 + ((cp - 0x10000) >> 10);
          const lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);
          out += `\\u${hi.toString(16)}\\u${lo.toString(16).toUpperCase()}`;
        } else out += '\\u' + cp.toString(16).padStart(4, '0');
      } else out += ch;
    }
    return out + '"';
  };
  const k = Math.floor(r() * (depth > 3 ? 5 : 8));
  switch (k) {
    case 0:
      return str(
        pick([
          '',
          'a',
          'hello world',
          'é',
          'a"b',
          'line\nbreak',
          '\u2028',
          '𝔘 emoji 😀',
          'a/b',
          '\u0000x',
          '\uffff',
          '中文',
        ]),
        true,
      );
    case 1:
      return pick([
        '0',
        '-0',
        '5',
        '-3',
        '1.5',
        '1.50',
        '1e21',
        '1E2',
        '2e-3',
        '-0.0',
        '123456789012345',
        '1234567890123456',
        '12345678901234567890',
        '1e400',
        '-1e400',
        '0.1',
        '100',
      ]);
    case 2:
      return pick(['true', 'false', 'null']);
    case 3:
    case 4:
      return str(pick(['x', 'the model said "no"', 'tab\there']), r() < 0.5);
    case 5:
    case 6: {
      const keys = ['a', 'b', 'role', 'content', '10', '9', 'é', 'zz', 'A', '', 'ab', '中'];
      const used = new Set<string>();
      const members: string[] = [];
      const n = Math.floor(r() * 5);
      for (let i = 0; i < n; i++) {
        const key = pick(keys);
        if (used.has(key)) continue;
        used.add(key);
        members.push(`${ws()}${str(key, false)}${ws()}:${ws()}${randomJson(r, depth + 1)}${ws()}`);
      }
      return `{${members.join(',')}${members.length ? '' : ws()}}`;
    }
    default:
      return `[${Array.from({ length: Math.floor(r() * 4) }, () => ws() + randomJson(r, depth + 1) + ws()).join(',')}]`;
  }
}

describe('contentIdOfJson (content ids from the bytes)', () => {
  it('equals contentId of the parsed value on random JSON texts, and reads nearly all of them', () => {
    const r = rng(99);
    let fast = 0;
    for (let i = 0; i < 5000; i++) {
      const text = randomJson(r);
      const bytes = Buffer.from(` ${text} `, 'utf8');
      const id = contentIdOfJson(bytes, 1, bytes.length - 1);
      const want = contentId(JSON.parse(text));
      if (id !== undefined) {
        fast++;
        expect(id, text).toBe(want);
      }
    }
    // Only texts with lone surrogates, escaped keys or duplicate keys may go to the slow path; none here.
    expect(fast).toBe(5000);
  });

  it('leaves to JSON.parse what it does not read exactly as JSON.parse does', () => {
    const cases = [
      '{"a":1,"a":2}', // duplicate key: JSON.parse keeps the last
      '{"\\u0061":1}', // an escaped key
      '{"😀":1}', // a key beyond U+FFFF: UTF-8 order is not JavaScript's
      '"\\ud800"', // a lone surrogate
      '"\\udc00x"',
      '[1,]',
      '{"a":1,}',
      '01',
      '1.',
      '.5',
      '+1',
      '-',
      'tru',
      'nul',
      '"a',
      '"\u0001"', // a raw control character
      '[1] x',
      '{"a" 1}',
      '\ufeff{}', // a byte order mark
      '[[[[' + '['.repeat(200) + ']'.repeat(204), // deeper than 128
    ];
    for (const text of cases) expect(contentIdOfJson(Buffer.from(text, 'utf8')), text).toBeUndefined();
    // Invalid UTF-8 inside a string.
    for (const bad of [
      [0x22, 0xc0, 0x80, 0x22],
      [0x22, 0xed, 0xa0, 0x80, 0x22],
      [0x22, 0xe2, 0x82, 0x22],
      [0x22, 0xf5, 0x80, 0x80, 0x80, 0x22],
      [0x22, 0xff, 0x22],
    ])
      expect(contentIdOfJson(Uint8Array.from(bad))).toBeUndefined();
  });

  it('reads a chat example with its keys in any order to the same id', () => {
    const a = Buffer.from(
      JSON.stringify({
        id: 7,
        messages: [
          { role: 'user', content: 'Hi\n"there"' },
          { role: 'assistant', content: 'é 😀' },
        ],
        meta: { lang: 'en', score: 0.5 },
      }),
    );
    const b = Buffer.from(
      '{"meta":{"score":5e-1,"lang":"en"},"messages":[{"content":"Hi\\n\\"there\\"","role":"user"},{"content":"\\u00e9 \\ud83d\\ude00","role":"assistant"}],"id":7.0}',
    );
    expect(contentIdOfJson(a)).toBe(contentIdOfJson(b));
    expect(contentIdOfJson(a)).toBe(contentId(JSON.parse(a.toString())));
    const c = Buffer.from(a.toString().replace('"en"', '"fr"'));
    expect(contentIdOfJson(c)).not.toBe(contentIdOfJson(a));
  });
});

describe('contentIdOfJson key ranges (a key read from the bytes)', () => {
  it('finds exactly the values getPath finds on the parsed example, for top-level fields', () => {
    const r = rng(7);
    const names = ['a', 'role', 'é', 'missing'];
    const keys = names.map((n) => Buffer.from(n, 'utf8'));
    const ranges = new Int32Array(2 * keys.length);
    let withKey = 0;
    for (let i = 0; i < 3000; i++) {
      const text = randomJson(r);
      const bytes = Buffer.from(text, 'utf8');
      if (contentIdOfJson(bytes, 0, bytes.length, keys, ranges) === undefined) continue;
      const value = JSON.parse(text) as unknown;
      names.forEach((name, k) => {
        const want =
          value !== null && typeof value === 'object' && !Array.isArray(value)
            ? (value as Record<string, unknown>)[name]
            : undefined;
        if (want === undefined) {
          expect(ranges[2 * k], `${name} in ${text}`).toBe(-1);
          return;
        }
        withKey++;
        const got = JSON.parse(
          bytes.subarray(ranges[2 * k]!, ranges[2 * k + 1]!).toString('utf8'),
        ) as unknown;
        expect(got, `${name} in ${text}`).toEqual(want);
      });
    }
    expect(withKey).toBeGreaterThan(300);
    // A nested field of the same name is not a top-level one.
    const nested = Buffer.from('{"b":{"a":1},"c":[{"a":2}]}');
    expect(contentIdOfJson(nested, 0, nested.length, keys, ranges)).toBeDefined();
    expect(ranges[0]).toBe(-1);
  });
});

describe('plainJsonText (keys read from their bytes)', () => {
  it('is the canonical text of the value wherever it answers, and answers for plain strings and integers', () => {
    const raws = [
      '"abc"',
      '""',
      '"é 𝔘 \u2028"',
      '"a\\"b"',
      '"a\\u0041"',
      '"tab\there"',
      '5',
      '-5',
      '0',
      '-0',
      '007',
      '123456789012345',
      '1234567890123456',
      '1.5',
      '1e3',
      '-',
      'true',
      'null',
      '[1]',
      '{"a":1}',
      '"',
      '"x',
      'x"',
      '"\\n"',
      '"ab\u0001"',
    ];
    const r = rng(11);
    for (let t = 0; t < 500; t++) {
      const len = Math.floor(r() * 12);
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(32 + Math.floor(r() * 95));
      raws.push(JSON.stringify(s), String(Math.floor((r() - 0.5) * 10 ** Math.floor(r() * 18))));
    }
    let answered = 0;
    for (const raw of raws) {
      const bytes = Buffer.from(` ${raw} `);
      const text = plainJsonText(bytes, 1, bytes.length - 1);
      if (text === undefined) continue;
      answered++;
      expect(text).toBe(canonicalJson(JSON.parse(raw)));
    }
    expect(plainJsonText(Buffer.from('"abc"'), 0, 5)).toBe('"abc"');
    expect(plainJsonText(Buffer.from('42'), 0, 2)).toBe('42');
    for (const raw of ['"a\\"b"', '-0', '007', '1.5', '1234567890123456', '"tab\there"'])
      expect(plainJsonText(Buffer.from(raw), 0, Buffer.byteLength(raw))).toBeUndefined();
    expect(answered).toBeGreaterThan(700);
  });
});
