/**
 * MemoryRemoteIndex: the columnar index of a whole remote finds every object it was given, with its location
 * as given, keeps the first pack's entry for an object listed twice, and answers no for what it was not given.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryRemoteIndex } from '../../src/core/remote/remote-index.js';
import type { PackEntry } from '../../src/storage/pack-format.js';

const entry = (i: number, hash = randomBytes(32).toString('hex')): PackEntry => ({
  hash,
  kind: i % 5,
  codec: i % 2,
  offset: i * 1000 + 2 ** 33, // past 32 bits: offsets in large packs
  length: 100 + i,
  rawLength: 2 ** 32 + i,
});

describe('MemoryRemoteIndex', () => {
  it('finds each of many objects across packs (through growth), with its location as given', () => {
    const idx = new MemoryRemoteIndex();
    const packs = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)];
    const all: (PackEntry & { pack: string })[] = [];
    for (let p = 0; p < packs.length; p++) {
      const entries = Array.from({ length: 3000 }, (_, i) => entry(p * 3000 + i));
      idx.add(packs[p]!, entries);
      for (const e of entries) all.push({ ...e, pack: packs[p]! });
    }
    expect(idx.size).toBe(9000);
    for (const e of all) {
      expect(idx.has(e.hash)).toBe(true);
      expect(idx.find(e.hash)).toEqual(e);
    }
    const listed = [...idx.values()].sort((x, y) => (x.hash < y.hash ? -1 : 1));
    expect(listed).toEqual([...all].sort((x, y) => (x.hash < y.hash ? -1 : 1)));
  });

  it('keeps the first pack for an object listed twice; unknown and malformed hashes are not found', () => {
    const idx = new MemoryRemoteIndex();
    const e = entry(1);
    idx.add('p1', [e]);
    idx.add('p2', [{ ...e, offset: 7 }]);
    expect(idx.find(e.hash)).toEqual({ ...e, pack: 'p1' });
    expect(idx.size).toBe(1);
    const other = randomBytes(32).toString('hex');
    expect(idx.has(other)).toBe(false);
    expect(idx.find(other)).toBeUndefined();
    // Same first bytes (same table slot), different hash.
    const near = e.hash.slice(0, 8) + other.slice(8);
    expect(idx.find(near)).toBeUndefined();
    expect(idx.find(e.hash.toUpperCase())).toBeUndefined();
    expect(idx.find('')).toBeUndefined();
    expect(idx.find(e.hash.slice(0, 63) + 'z')).toBeUndefined();
    // A hash that is not hex (never in a well-formed pack index) is still kept and found.
    idx.add('p3', [entry(2, 'not-a-hash')]);
    expect(idx.find('not-a-hash')?.pack).toBe('p3');
    expect(idx.size).toBe(2);
  });

  it('an empty index finds nothing', () => {
    const idx = new MemoryRemoteIndex();
    expect(idx.find('0'.repeat(64))).toBeUndefined();
    expect(idx.has('0'.repeat(64))).toBe(false);
    expect([...idx.values()]).toEqual([]);
  });
});
