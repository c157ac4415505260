import { describe, expect, it } from 'vitest';
import {
  isJsonText,
  jsonTopLevel,
  jsonTopLevelKeys,
  jsonTopLevelLoose,
} from '../../src/core/diff/json-check.js';
import { parseJsonLine } from '../../src/core/diff/records.js';
import { mulberry32 } from '../helpers/prng.js';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const parses = (b: Uint8Array): boolean => parseJsonLine(b).ok;

/** A random JSON value (strings with escapes, non-ASCII, numbers of every form), nested. */
function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.4) {
    const k = Math.floor(rnd() * 6);
    if (k === 0) return null;
    if (k === 1) return rnd() < 0.5;
    if (k === 2) return Math.floor(rnd() * 2e6) - 1e6;
    if (k === 3) return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
    const chars = ['a', ' ', '"', '\\', '\n', '\t', '\u0001', 'é', '€', '😀', '/', '\u2028'];
    let s = '';
    for (let i = Math.floor(rnd() * 12); i > 0; i--) s += chars[Math.floor(rnd() * chars.length)];
    return s;
  }
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 4); i > 0; i--)
    o[`k${Math.floor(rnd() * 9)}`] = randomValue(rnd, depth + 1);
  return o;
}

describe('isJsonText', () => {
  it('accepts what JSON.stringify writes, with any spacing', () => {
    const rnd = mulberry32(11);
    for (let i = 0; i < 2000; i++) {
      const v = randomValue(rnd, 0);
      for (const text of [JSON.stringify(v), JSON.stringify(v, null, 2), ` ${JSON.stringify(v)}\r\n`])
        expect(isJsonText(bytes(text)), text).toBe(true);
    }
  });

  it('never accepts what JSON.parse refuses: mutated texts', () => {
    const rnd = mulberry32(12);
    const alphabet = Buffer.from('{}[]",:\\0123456789-+.eEtrufalsn u\t\n\r', 'latin1');
    let accepted = 0;
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.from(JSON.stringify(randomValue(rnd, 0)), 'utf8');
      // One to three bytes replaced, inserted or deleted.
      let m: Buffer = b;
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
        const at = Math.floor(rnd() * (m.length + 1));
        const byte = rnd() < 0.9 ? alphabet[Math.floor(rnd() * alphabet.length)]! : Math.floor(rnd() * 256);
        const op = Math.floor(rnd() * 3);
        m =
          op === 0
            ? Buffer.concat([m.subarray(0, at), Buffer.from([byte]), m.subarray(at + 1)])
            : op === 1
              ? Buffer.concat([m.subarray(0, at), Buffer.from([byte]), m.subarray(at)])
              : Buffer.concat([m.subarray(0, at), m.subarray(at + 1)]);
      }
      const ok = isJsonText(m);
      if (ok) accepted++;
      // Where it says yes, JSON.parse agrees; and it says yes to everything JSON.parse takes.
      expect(ok, m.toString('latin1')).toBe(parses(m));
    }
    expect(accepted).toBeGreaterThan(1000);
  });

  it('reads a leading BOM, non-UTF-8 bytes in strings and deep nesting as the decoder and JSON.parse do', () => {
    const cases: Uint8Array[] = [
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes('{"a":1}')]),
      Buffer.concat([bytes('{"a":"x'), Buffer.from([0xc3, 0x28, 0xff, 0x80]), bytes('"}')]),
      Buffer.concat([bytes('{"a":1}'), Buffer.from([0xc2, 0xa0])]), // U+00A0 after the value: not JSON
      Buffer.concat([bytes('['), Buffer.from([0xe2, 0x80, 0xa8]), bytes('1]')]), // U+2028 outside a string
      bytes('"\\ud800"'),
      bytes('"\\u12G4"'),
      bytes('[' + '['.repeat(50_000) + ']'.repeat(50_000) + ']'),
      bytes('[' + '['.repeat(50_000) + ']'.repeat(49_999) + ']'),
      bytes('01'),
      bytes('-'),
      bytes('1.'),
      bytes('1e'),
      bytes(''),
      bytes(' \n'),
      bytes('{"a":1,}'),
      bytes('[1,]'),
      bytes('{"a" 1}'),
      bytes('"tab\there"'),
    ];
    for (const c of cases)
      expect(isJsonText(c), Buffer.from(c).toString('latin1').slice(0, 40)).toBe(parses(c));
  });

  it('jsonTopLevel: where the named top-level members are, as JSON.parse reads them', () => {
    const rnd = mulberry32(13);
    const keys = ['k1', 'k4', 'id'].map((k) => Buffer.from(k));
    const ranges = new Int32Array(6);
    for (let i = 0; i < 3000; i++) {
      const v = randomValue(rnd, 1);
      const obj = typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { id: v };
      for (const text of [JSON.stringify(obj), JSON.stringify(obj, null, 1)]) {
        const b = bytes(text);
        expect(jsonTopLevel(b, keys, ranges)).toBe(true);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        keys.forEach((k, j) => {
          const name = k.toString();
          if (!(name in parsed)) return expect(ranges[2 * j]).toBe(-1);
          const at = Buffer.from(b)
            .subarray(ranges[2 * j]!, ranges[2 * j + 1]!)
            .toString('utf8');
          expect(JSON.parse(at)).toEqual(parsed[name]);
        });
      }
    }
    // The last of duplicate members; nested members of the same name do not count; escaped names refuse.
    const dup = bytes('{"id": 1, "x": {"id": 2}, "id" : [3, {"id": 4}] }');
    expect(jsonTopLevel(dup, keys, ranges)).toBe(true);
    expect(Buffer.from(dup).subarray(ranges[4]!, ranges[5]!).toString()).toBe('[3, {"id": 4}]');
    expect(jsonTopLevel(bytes('{"\\u0069d": 1}'), keys, ranges)).toBe(false);
    expect(jsonTopLevel(bytes('[{"id": 1}]'), keys, ranges)).toBe(true);
    expect([...ranges]).toEqual([-1, -1, -1, -1, -1, -1]);
    expect(jsonTopLevel(bytes('{"id": 1'), keys, ranges)).toBe(false);
  });

  it('jsonTopLevelLoose: the same ranges wherever the full check passes; what it lets through', () => {
    const rnd = mulberry32(14);
    const keys = ['k1', 'k4', 'id'].map((k) => Buffer.from(k));
    const strict = new Int32Array(6);
    const loose = new Int32Array(6);
    const alphabet = Buffer.from('{}[]",:\\0123456789-+.eEtrufalsnu k14id\t', 'latin1');
    const quoted = keys.map((k) => Buffer.from(`"${k.toString()}"`));
    let passedLoose = 0;
    for (let i = 0; i < 20000; i++) {
      const v = randomValue(rnd, 1);
      let m = Buffer.from(JSON.stringify(typeof v === 'object' && v !== null ? v : { id: v }), 'utf8');
      if (i % 2 === 1) {
        const at = Math.floor(rnd() * (m.length + 1));
        m = Buffer.concat([
          m.subarray(0, at),
          Buffer.from([alphabet[Math.floor(rnd() * alphabet.length)]!]),
          m.subarray(at + 1),
        ]);
      }
      // Views into a larger buffer, as the diff passes them.
      const view = new Uint8Array(
        Buffer.concat([Buffer.from('xx'), m, Buffer.from('"\\yy')]).buffer,
        2 + 0,
        m.length,
      );
      const copy = Buffer.from(
        Buffer.concat([Buffer.from('xx'), m, Buffer.from('"\\yy')]).subarray(2, 2 + m.length),
      );
      for (const b of [view, copy]) {
        const s = jsonTopLevel(b, keys, strict);
        const l = jsonTopLevelLoose(b, keys, loose);
        if (s) expect(l).toBe(true);
        if (s) expect([...loose]).toEqual([...strict]);
        // The early stop: the loose scan's key ranges wherever it passes and found every key.
        const early = new Int32Array(6);
        if (l && !loose.includes(-1)) {
          expect(jsonTopLevelKeys(b, keys, early, quoted)).toBe(true);
          expect([...early]).toEqual([...loose]);
        }
        if (l && !s) {
          passedLoose++;
          // Only what strings hold may be wrong: a raw control character.
          expect(Buffer.from(b).some((c) => c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x20)).toBe(true);
        }
      }
    }
    expect(passedLoose).toBeGreaterThan(0);
  });

  it('jsonTopLevelKeys stops once every key is found and named nowhere after, and reads on otherwise', () => {
    const keys = [Buffer.from('id')];
    const quoted = [Buffer.from('"id"')];
    const r = new Int32Array(2);
    const at = (line: string) => {
      const ok = jsonTopLevelKeys(Buffer.from(line), keys, r, quoted);
      return ok && r[0]! >= 0 ? line.slice(r[0], r[1]) : undefined;
    };
    // Stops after the key: the rest is not looked at.
    expect(at('{"id":7,"text":[[[oops')).toBe('7');
    // A later member of that name (JSON.parse keeps the last): read on to it.
    expect(at('{"id":7,"x":1,"id":"eight"}')).toBe('"eight"');
    // The name in quotes later, but nested or in a string: read on; the top-level value stands.
    expect(at('{"id":7,"x":{"id":9}}')).toBe('7');
    expect(at('{"id":7,"x":"say \\"id\\""}')).toBe('7');
    expect(at('{"x":{"id":9}}')).toBeUndefined(); // no top-level id
  });
});
