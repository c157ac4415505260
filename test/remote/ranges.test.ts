/**
 * Range planning of remote reads (planReads, planStreamReads) and RemoteObjectReader.getMany over it: order,
 * coalescing of scattered objects, the read-ahead budget, corruption.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { packKey } from '../../src/core/remote/layout.js';
import { planReads, planStreamReads } from '../../src/core/remote/ranges.js';
import { RemoteObjectReader } from '../../src/core/remote/reader.js';
import type { RemoteIndex, RemoteObjectLocation } from '../../src/core/remote/remote-index.js';
import { CODEC_NONE } from '../../src/storage/codec.js';
import { isStrataError } from '../../src/storage/errors.js';
import { hashBytes } from '../../src/storage/hash.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import type { GetOptions } from '../../src/storage/object-store.js';

const loc = (
  pack: string,
  offset: number,
  length: number,
  hash = `${pack}@${offset}`,
): RemoteObjectLocation => ({
  hash,
  pack,
  offset,
  length,
  rawLength: length,
  codec: CODEC_NONE,
  kind: 0,
});

const spans = (reads: { pack: string; start: number; end: number }[]): string[] =>
  reads.map((r) => `${r.pack}:${r.start}-${r.end}`);

describe('planReads', () => {
  it('coalesces neighbours within maxGapBytes up to maxRangeBytes, per pack, each object once', () => {
    const locs = [
      loc('p', 0, 100),
      loc('p', 110, 100), // gap 10: joins
      loc('p', 1000, 100), // gap 790 > 500: a new range
      loc('p', 1100, 100),
      loc('p', 1200, 900), // would make the range 1100 bytes > 1000: a new range
      loc('q', 210, 50), // another pack: its own range
      loc('p', 0, 100), // asked again: read once
    ];
    const reads = planReads(locs, { maxGapBytes: 500, maxRangeBytes: 1000 });
    expect(spans(reads)).toEqual(['p:0-210', 'p:1000-1200', 'p:1200-2100', 'q:210-260']);
    expect(reads.map((r) => r.objects.length)).toEqual([2, 2, 1, 1]);
  });
});

describe('planStreamReads', () => {
  it('coalesces objects scattered between runs of another pack, and orders ranges by first need', () => {
    // A file's chunks: a run in pack p, with strays stored in pack q (near each other there) between.
    const seq = [
      loc('p', 0, 100),
      loc('p', 100, 100),
      loc('q', 5000, 10),
      loc('p', 200, 100),
      loc('p', 300, 100),
      loc('q', 5020, 10),
      loc('p', 400, 100),
      loc('q', 5040, 10),
    ];
    const reads = planStreamReads(seq, { maxGapBytes: 64, maxRangeBytes: 300 });
    // The three strays: one read, not three; p's run cut at 300 bytes; in the order first needed.
    expect(spans(reads)).toEqual(['p:0-300', 'q:5000-5050', 'p:300-500']);
    expect(reads.map((r) => r.firstNeed)).toEqual([0, 2, 4]);
    // Planned window by window (4 objects each), as the reader did, the strays cost two reads.
    const windowed = [...planReads(seq.slice(0, 4)), ...planReads(seq.slice(4))];
    expect(windowed.filter((r) => r.pack === 'q')).toHaveLength(2);
  });

  it('does not join objects needed further apart than maxSpreadBytes', () => {
    // Neighbours in pack p, needed at the two ends of a stream with 300 bytes of q's objects between.
    const seq = [
      loc('p', 0, 100),
      loc('q', 0, 100),
      loc('q', 1000, 100),
      loc('q', 2000, 100),
      loc('p', 100, 100),
    ];
    expect(spans(planStreamReads(seq, { maxGapBytes: 0 }))).toEqual([
      'p:0-200',
      'q:0-100',
      'q:1000-1100',
      'q:2000-2100',
    ]);
    expect(spans(planStreamReads(seq, { maxGapBytes: 0, maxSpreadBytes: 400 }))).toEqual([
      'p:0-200',
      'q:0-100',
      'q:1000-1100',
      'q:2000-2100',
    ]);
    expect(spans(planStreamReads(seq, { maxGapBytes: 0, maxSpreadBytes: 399 }))).toEqual([
      'p:0-100',
      'q:0-100',
      'q:1000-1100',
      'q:2000-2100',
      'p:100-200',
    ]);
  });

  it('reads a repeated object once, needed from its first position', () => {
    const a = loc('p', 0, 10);
    const b = loc('q', 0, 10);
    const reads = planStreamReads([b, a, b, a], { maxGapBytes: 0 });
    expect(spans(reads)).toEqual(['q:0-10', 'p:0-10']);
    expect(reads.map((r) => r.firstNeed)).toEqual([0, 1]);
  });
});

/** A remote of two packs holding `n` objects of `size` random bytes, alternately, with 16-byte gaps. */
function remote(n: number, size: number) {
  const packs = ['a'.repeat(64), 'b'.repeat(64)];
  const objects: { loc: RemoteObjectLocation; data: Buffer }[] = [];
  const bodies: Buffer[][] = [[], []];
  const offsets = [0, 0];
  for (let i = 0; i < n; i++) {
    const k = i % 2;
    const data = randomBytes(size);
    const at = offsets[k]! + 16;
    bodies[k]!.push(Buffer.alloc(16), data);
    offsets[k] = at + size;
    objects.push({ loc: { ...loc(packs[k]!, at, size, hashBytes(data)) }, data });
  }
  const store = new MemoryStore();
  const byHash = new Map(objects.map((o) => [o.loc.hash, o.loc]));
  const index: RemoteIndex = { find: (h) => byHash.get(h), has: (h) => byHash.has(h) };
  const gets: { key: string; length: number }[] = [];
  const get = store.get.bind(store);
  store.get = (key: string, o?: GetOptions) => {
    gets.push({ key, length: o?.length ?? -1 });
    return get(key, o);
  };
  return {
    objects,
    gets,
    async put() {
      for (const [k, name] of packs.entries()) await store.put(packKey(name), Buffer.concat(bodies[k]!));
    },
    reader: (opts: ConstructorParameters<typeof RemoteObjectReader>[2]) =>
      new RemoteObjectReader(store, index, opts),
    store,
  };
}

describe('RemoteObjectReader.getMany', () => {
  it('yields every object in the order asked, repeats included, with the reads planned', async () => {
    const r = remote(40, 1000);
    await r.put();
    const order = [...r.objects, r.objects[3]!, r.objects[0]!, ...r.objects.slice(10, 20)];
    const reader = r.reader({
      readAheadBytes: 8000,
      planAheadBytes: 1 << 20,
      maxSpreadBytes: 1 << 20,
      maxGapBytes: 16,
    });
    const got: { hash: string; data: Uint8Array }[] = [];
    for await (const o of reader.getMany(order.map((o) => o.loc.hash))) got.push(o);
    expect(got.map((o) => o.hash)).toEqual(order.map((o) => o.loc.hash));
    got.forEach((o, i) => expect(Buffer.from(o.data).equals(order[i]!.data)).toBe(true));
    // Everything planned at once, and each pack's objects are contiguous there (16-byte gaps): one read per
    // pack, although the budget (8000 bytes) is far below the 40 000 bytes read.
    expect(r.gets).toHaveLength(2);
  });

  it('holds at most readAheadBytes ahead of a consumer that stops, and stops reading when it returns', async () => {
    const r = remote(200, 1000);
    await r.put();
    const reader = r.reader({ readAheadBytes: 10_000, maxGapBytes: 16, maxRangeBytes: 2032 });
    const it = reader.getMany(r.objects.map((o) => o.loc.hash));
    expect((await it.next()).done).toBe(false);
    for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
    const asked = r.gets.reduce((n, g) => n + g.length, 0);
    // Ranges of two objects (2032 bytes): within the budget of 10 000 bytes, never all 200 000.
    expect(asked).toBeGreaterThan(2032);
    expect(asked).toBeLessThanOrEqual(10_000);
    await it.return(undefined);
    const after = r.gets.length;
    for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
    expect(r.gets.length).toBe(after);
  });

  it('refuses a corrupt object with INTEGRITY, naming it', async () => {
    const r = remote(6, 500);
    const bad = r.objects[4]!;
    bad.data[7]! ^= 1; // stored bytes differ from what the hash names
    await r.put();
    const reader = r.reader({ readAheadBytes: 1 << 20 });
    const seen: string[] = [];
    let err: unknown;
    try {
      for await (const o of reader.getMany(r.objects.map((o) => o.loc.hash))) seen.push(o.hash);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual(r.objects.slice(0, 4).map((o) => o.loc.hash));
    expect(isStrataError(err) && err.code).toBe('INTEGRITY');
    expect((err as Error).message).toContain(bad.loc.hash);
  });
});
