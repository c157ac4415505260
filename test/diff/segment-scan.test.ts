import { describe, expect, it } from 'vitest';
import { ChunkTable, Parts } from '../../src/core/diff/part-table.js';
import { decodeSegment, encodeObject, scanSegment, type Span } from '../../src/core/objects/objects.js';
import type { Hash } from '../../src/storage/hash.js';
import { mulberry32 } from '../helpers/prng.js';

const hex = (r: () => number): Hash =>
  Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(r() * 16)]).join('') as Hash;

/** The spans scanSegment reports, as spans (the hash read back from the bytes), or -1. */
function scanned(bytes: Uint8Array): Span[] | -1 {
  const out: Span[] = [];
  const n = scanSegment(bytes, (at, off, len) => {
    out.push([Buffer.from(bytes.subarray(at, at + 64)).toString('latin1') as Hash, off, len]);
    return true;
  });
  return n < 0 ? -1 : (expect(n).toBe(out.length), out);
}

describe('segment fast path (scanSegment)', () => {
  it('reads exactly the spans decodeSegment reads from canonical segments', () => {
    const r = mulberry32(7);
    for (let t = 0; t < 200; t++) {
      const pool = Array.from({ length: 1 + Math.floor(r() * 5) }, () => hex(r));
      const spans: Span[] = Array.from({ length: Math.floor(r() * 30) }, () => [
        pool[Math.floor(r() * pool.length)]!,
        r() < 0.3 ? 0 : Math.floor(r() * 2 ** (1 + Math.floor(r() * 53))),
        Math.floor(r() * 2 ** (1 + Math.floor(r() * 40))),
      ]);
      const bytes = encodeObject({ type: 'segment/v1', spans });
      expect(scanned(bytes)).toEqual(decodeSegment(bytes, 'x'.repeat(64)).spans);
    }
  });

  it('refuses every other encoding, so that the caller falls back to decodeSegment', () => {
    const h = 'ab'.repeat(32);
    const good = `{"spans":[["${h}",0,5],["${h}",5,7]],"type":"segment/v1"}`;
    expect(scanned(Buffer.from(good))).toEqual([
      [h, 0, 5],
      [h, 5, 7],
    ]);
    for (const bad of [
      good.replace('[[', '[ ['), // a blank
      good.replace(',0,5]', ',00,5]'), // a leading zero
      good.replace(',0,5]', ',0.0,5]'), // not plain digits
      good.replace(',0,5]', ',-1,5]'),
      good.replace(',0,5]', ',1e3,5]'),
      good.replace(',0,5]', ',9007199254740992,5]'), // not a safe integer
      good.replace(',0,5]', ',12345678901234567,5]'),
      good.replace('segment/v1', 'segment/v2'),
      good.replace(`"${h}"`, `"${h.slice(2)}"`), // a short hash
      good.replace(`"${h}"`, `"${h}ab"`), // a long one
      good + ' ',
      good.replace('"type"', '"extra":1,"type"'),
      good.replace('],"type"', '],"type"').replace(']]', '],]'),
    ])
      expect(scanned(Buffer.from(bad)), bad).toBe(-1);
    expect(scanned(Buffer.from('{"spans":[],"type":"segment/v1"}'))).toEqual([]);
  });

  it('stops when the visitor refuses a span', () => {
    const h = 'cd'.repeat(32);
    const bytes = Buffer.from(`{"spans":[["${h}",0,5],["${h}",5,7]],"type":"segment/v1"}`);
    let calls = 0;
    expect(scanSegment(bytes, () => ++calls < 2)).toBe(-1);
    expect(calls).toBe(2);
  });
});

describe('ChunkTable', () => {
  it('numbers a hash alike from its string and from its bytes, and strings that are not hashes apart', () => {
    const r = mulberry32(11);
    const hashes = Array.from({ length: 20000 }, () => hex(r));
    const t = new ChunkTable();
    const buf = Buffer.from(hashes.join(''), 'latin1');
    // Bytes first for half of them, strings first for the others; each lookup again from the other form.
    hashes.forEach((h, i) => {
      const k = i % 2 ? t.numberHex(buf, 64 * i) : t.number(h);
      expect(k).toBe(i);
      expect(i % 2 ? t.number(h) : t.numberHex(buf, 64 * i)).toBe(i);
    });
    expect(t.hashes).toEqual(hashes);
    // A hash equal to another in all but its last digit is another number.
    const near = hashes[0]!.slice(0, 63) + (hashes[0]!.endsWith('0') ? '1' : '0');
    expect(t.number(near)).toBe(hashes.length);
    // Not hashes: upper case, short, non-hex. Numbered apart and never equal to the hash they resemble.
    const upper = hashes[1]!.toUpperCase();
    expect(t.number(upper)).not.toBe(1);
    expect(t.number(upper)).toBe(t.number(upper));
    expect(t.number('short')).toBe(t.number('short'));
    expect(t.numberHex(Buffer.from(upper, 'latin1'), 0)).toBe(-1);
    expect(t.numberHex(Buffer.from('g'.repeat(64), 'latin1'), 0)).toBe(-1);
    expect(t.hashes[t.number('short')]).toBe('short');
  });

  it('tells apart hashes with the same first digits, and makes their strings only when asked', () => {
    const r = mulberry32(5);
    // 300 hashes in 3 groups sharing their first 8 digits (one slot each), some differing only at the end.
    const heads = [hex(r).slice(0, 8), hex(r).slice(0, 8), hex(r).slice(0, 8)];
    const hashes = Array.from({ length: 300 }, (_, i) => {
      const h = heads[i % 3]! + hex(r).slice(8);
      return i % 10 === 9 ? h.slice(0, 63) + (h.endsWith('a') ? 'b' : 'a') : h;
    });
    const uniq = [...new Set(hashes)];
    const t = new ChunkTable();
    const buf = Buffer.from(uniq.join(''), 'latin1');
    uniq.forEach((h, i) => expect(i % 2 ? t.numberHex(buf, 64 * i) : t.number(h)).toBe(i));
    // Again in the other form, in reverse order (the table grew and rehashed in between).
    for (let i = uniq.length - 1; i >= 0; i--)
      expect(i % 2 ? t.number(uniq[i]!) : t.numberHex(buf, 64 * i)).toBe(i);
    expect(t.size).toBe(uniq.length);
    uniq.forEach((h, i) => expect(t.hash(i)).toBe(h));
    // A digit that is not lowercase hex after the first 8 is refused, even when the first 8 are known.
    const bad = Buffer.from(uniq[0]!.slice(0, 40) + 'G' + uniq[0]!.slice(41), 'latin1');
    expect(t.numberHex(bad, 0)).toBe(-1);
    expect(t.number(bad.toString('latin1'))).toBeGreaterThanOrEqual(uniq.length);
  });

  it('feeds Parts from segment bytes as pushSpans does from decoded spans', () => {
    const r = mulberry32(3);
    const pool = Array.from({ length: 50 }, () => hex(r));
    const spans: Span[] = Array.from({ length: 3000 }, () => [
      pool[Math.floor(r() * 50)]!,
      Math.floor(r() * 1e6),
      Math.floor(r() * 1e5),
    ]);
    const bytes = encodeObject({ type: 'segment/v1', spans });
    const t1 = new ChunkTable();
    const a = new Parts();
    a.pushSpans(spans, t1);
    const t2 = new ChunkTable();
    const b = new Parts();
    scanSegment(bytes, (at, off, len) => {
      b.push(t2.numberHex(bytes, at), off, len);
      return true;
    });
    expect(b.toSpans(t2)).toEqual(a.toSpans(t1));
    expect(t2.hashes).toEqual(t1.hashes);
  });
});
