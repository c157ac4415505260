/**
 * The chunk sink's batches compressed in place (compressInPlace, CompressPool.compressPacked, ChunkSink),
 * and old chunks named again by a span-coded previous version (span-encoder.ts, OldChunks): a chunk is
 * remembered until the last span naming it is indexed.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repository } from '../../src/core/index.js';
import type { Span } from '../../src/core/objects/objects.js';
import { ChunkSink } from '../../src/core/worktree/chunk-sink.js';
import { SpanEncoder, type Piece } from '../../src/core/worktree/span-encoder.js';
import { CODEC_NONE, CODEC_ZSTD } from '../../src/storage/codec.js';
import { compressInPlace, CompressPool, decodeVerified } from '../../src/storage/compress-pool.js';
import { hashBytes, type Hash } from '../../src/storage/hash.js';
import { KIND } from '../../src/storage/pack-format.js';
import { tempDir } from './helpers.js';

const line = (i: number): string =>
  JSON.stringify({ id: i, text: `example number ${i} `.repeat(1 + (i % 5)) }) + '\n';
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** Items of every kind: compressible, too short to compress, incompressible. */
function items(): Uint8Array[] {
  return [
    bytes(Array.from({ length: 50 }, (_, i) => line(i)).join('')),
    bytes('short'),
    new Uint8Array(randomBytes(3000)),
    bytes(line(7).repeat(30)),
    new Uint8Array(randomBytes(70)),
  ];
}

/** The items back to back in a shared region, and their ends. */
function region(list: Uint8Array[]): { region: SharedArrayBuffer; ends: Uint32Array } {
  const total = list.reduce((n, d) => n + d.length, 0);
  const region = new SharedArrayBuffer(total);
  const ends = new Uint32Array(list.length);
  let at = 0;
  list.forEach((d, i) => {
    new Uint8Array(region, at, d.length).set(d);
    at += d.length;
    ends[i] = at;
  });
  return { region, ends };
}

/** Item i of a packed batch, decoded (undefined if it does not decode to its hash). */
function unpacked(r: SharedArrayBuffer, codecs: Uint8Array, ends: Uint32Array, raw: Uint8Array, i: number) {
  const s = i ? ends[i - 1]! : 0;
  return decodeVerified({
    codec: codecs[i]!,
    bytes: new Uint8Array(r, s, ends[i]! - s),
    rawLength: raw.length,
    hash: hashBytes(raw),
  });
}

describe('batches compressed in place', () => {
  it('compressInPlace writes every stored item back to back over the raw ones, each decoding to its bytes', () => {
    const list = items();
    const { region: r, ends: rawEnds } = region(list);
    const { codecs, ends } = compressInPlace(new Uint8Array(r), rawEnds, 3);
    expect([...codecs]).toEqual([CODEC_ZSTD, CODEC_NONE, CODEC_NONE, CODEC_ZSTD, CODEC_NONE]);
    for (let i = 0; i < list.length; i++) {
      expect(ends[i]).toBeLessThanOrEqual(rawEnds[i]!);
      expect(Buffer.from(unpacked(r, codecs, ends, list[i]!, i)!)).toEqual(Buffer.from(list[i]!));
    }
    expect(ends[0]).toBeLessThan(list[0]!.length / 2);
  });

  it('a worker thread (built pool, dist/) compresses a region in place exactly as inline', async () => {
    const url = new URL('../../dist/storage/compress-pool.js', import.meta.url).href;
    const built = (await import(url)) as typeof import('../../src/storage/compress-pool.js');
    const pool = new built.CompressPool(1);
    try {
      const list = items();
      const a = region(list);
      const b = region(list);
      const got = await pool.compressPacked(a.region, a.ends, 3);
      const want = compressInPlace(new Uint8Array(b.region), b.ends, 3);
      expect([...got.codecs]).toEqual([...want.codecs]);
      expect([...got.ends]).toEqual([...want.ends]);
      const n = want.ends[want.ends.length - 1]!;
      expect(Buffer.from(new Uint8Array(a.region, 0, n))).toEqual(
        Buffer.from(new Uint8Array(b.region, 0, n)),
      );
    } finally {
      await pool.close();
    }
  });
});

describe('LocalPacks.hasMany (ingest of a large file)', () => {
  it('LocalPacks.hasMany answers as has, for stored, pending and unknown hashes, past one batch', () => {
    const dir = tempDir('strata-has-many-');
    const repo = Repository.init(dir);
    try {
      const stored = Array.from({ length: 100 }, (_, i) => repo.objects.putChunk(bytes(line(i))));
      repo.objects.packs.flush(); // in the index
      for (let i = 100; i < 150; i++) stored.push(repo.objects.putChunk(bytes(line(i)))); // pending
      const unknown = Array.from({ length: 70 }, (_, i) => hashBytes(bytes(`unknown ${i}`)));
      const asked = [...unknown.slice(0, 35), ...stored, ...unknown.slice(35), stored[3]!];
      const packs = repo.objects.packs;
      expect(packs.hasMany(asked)).toEqual(asked.map((h) => packs.has(h)));
      expect(packs.hasMany(asked).filter(Boolean).length).toBe(151);
    } finally {
      repo.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ChunkSink and OldChunks', () => {
  let dir: string;
  let repo: Repository;

  beforeAll(() => {
    dir = tempDir('strata-chunk-sink-');
    repo = Repository.init(dir, { chunking: { min: 256, avg: 1024, max: 4096 } });
  });
  afterAll(() => {
    repo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every chunk added once, over several batches and one chunk larger than a region', async () => {
    const chunks = [
      ...Array.from({ length: 40 }, (_, k) => bytes(line(k).repeat(4000))), // ~ 6 MiB: several batches
      new Uint8Array(randomBytes(6 << 20)), // larger than a batch's region
      new Uint8Array(randomBytes(100)),
    ];
    const sink = new ChunkSink(repo.objects.packs, new CompressPool(0));
    for (const c of chunks) await sink.add(hashBytes(c), c);
    await sink.add(hashBytes(chunks[0]!), chunks[0]!); // again: not stored twice
    await sink.finish();
    for (const c of chunks) expect(Buffer.from(c).equals(repo.objects.chunk(hashBytes(c)))).toBe(true);
    // The chunk added twice is in the pack once: one pending entry per distinct chunk.
    const entries = (repo.objects.packs as unknown as { current?: { entries: unknown[] } }).current?.entries;
    expect(entries?.length).toBe(chunks.length);
  });

  it('absentSince spares the index lookups only while no pack was indexed since: never a second copy', async () => {
    const d = tempDir('strata-absent-since-');
    const r = Repository.init(d);
    try {
      const packs = r.objects.packs;
      const db = packs.db;
      let lookups = 0;
      const hasObject = db.hasObject.bind(db);
      db.hasObject = (h: string) => (lookups++, hasObject(h));
      const entries = (): number =>
        (packs as unknown as { current?: { entries: unknown[] } }).current?.entries.length ?? 0;
      const c = (i: number): Uint8Array => bytes(line(1000 + i).repeat(50));
      // Found absent at this generation: neither add nor the write asks the index again.
      const since = packs.indexGeneration;
      const sink = new ChunkSink(packs, new CompressPool(0));
      for (let i = 0; i < 5; i++) await sink.add(hashBytes(c(i)), c(i), since);
      await sink.finish();
      expect(lookups).toBe(0);
      expect(entries()).toBe(5);
      // Pending in this writer: not written twice, still without the index.
      await sink.add(hashBytes(c(0)), c(0), since);
      await sink.finish();
      expect(entries()).toBe(5);
      expect(lookups).toBe(0);
      // Indexed since (flush: addPack): a stale absentSince is not trusted, and the chunk now in the index
      // (by another writer, as far as this sink knows) is not stored again.
      packs.flush();
      expect(packs.indexGeneration).not.toBe(since);
      const again = new ChunkSink(packs, new CompressPool(0));
      await again.add(hashBytes(c(1)), c(1), since);
      await again.finish();
      expect(lookups).toBeGreaterThan(0);
      expect(entries()).toBe(0);
      // And putEncoded itself, given a stale generation, asks the index.
      const before = lookups;
      packs.putEncoded(hashBytes(c(2)), KIND.chunk, CODEC_NONE, c(2).length, c(2), since);
      expect(lookups).toBe(before + 1);
      expect(entries()).toBe(0);
      for (let i = 0; i < 5; i++)
        expect(Buffer.from(c(i)).equals(r.objects.chunk(hashBytes(c(i))))).toBe(true);
    } finally {
      r.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('an old chunk named again further on (a span-coded previous version) is matched at every naming', async () => {
    // Old chunks A, B and C; the previous version names A, then B, A, C, A (A's halves apart): the records
    // of the new chunk come from every naming of A.
    const text = (from: number, n: number): string =>
      Array.from({ length: n }, (_, j) => line(from + j)).join('');
    const [a, b, c] = [bytes(text(0, 20)), bytes(text(100, 20)), bytes(text(200, 20))];
    const [ha, hb, hc] = [a, b, c].map((d) => repo.objects.packs.put(KIND.chunk, d) as Hash);
    const half = Buffer.from(a).indexOf('\n', a.length >> 1) + 1;
    const spans: Span[] = [
      [ha!, 0, half],
      [hb!, 0, b.length],
      [ha!, half, a.length - half],
      [hc!, 0, c.length],
      [ha!, 0, a.length],
    ];
    const size = spans.reduce((n, s) => n + s[2], 0);
    const previous = repo.objects.putManifest({ size, format: 'jsonl' }, spans);
    const fresh = [bytes(text(15, 5) + text(0, 3) + text(205, 5))];
    const enc = await SpanEncoder.build(repo, previous, new Map(), 1, () => fresh[0]!);
    expect(enc).toBeDefined();
    const pieces = enc!.encode(0)!;
    const assembled = Buffer.concat(
      pieces.map((p: Piece) =>
        p.kind === 'ref'
          ? repo.objects.chunk(p.chunk).subarray(p.offset, p.offset + p.length)
          : Buffer.concat(p.parts),
      ),
    );
    expect(assembled.equals(Buffer.from(fresh[0]!))).toBe(true);
    expect(pieces.map((p) => (p.kind === 'ref' ? p.chunk : 'lit'))).toEqual([ha, ha, hc]);
  });
});
