/**
 * SpanEncoder (src/core/worktree/span-encoder.ts) in process: the fresh chunks' records are keyed, resolved
 * in one pass over the old chunks and verified against a window of fresh chunks. These cases force the
 * paths a large file takes rarely: a match found after its chunk left the window (verified against the
 * bytes kept of it and the old chunk read again), a window that could keep no unmatched bytes (the chunk
 * is read a second time, checked), and a candidate whose bytes differ. Plus the pool's decode jobs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, commit, Repository } from '../../src/core/index.js';
import { SpanEncoder, type Piece } from '../../src/core/worktree/span-encoder.js';
import { CompressPool, decodeVerified } from '../../src/storage/compress-pool.js';
import { encode } from '../../src/storage/codec.js';
import { hashBytes } from '../../src/storage/hash.js';
import { keyRecords, recordKey } from '../../src/storage/record-keys.js';
import { tempDir } from './helpers.js';

const line = (i: number): string =>
  JSON.stringify({ id: i, text: `example number ${i} `.repeat(1 + (i % 5)) }) + '\n';
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

let repo: Repository;
let previous: string;

beforeAll(async () => {
  const d = tempDir('strata-span-encoder-');
  repo = Repository.init(d, { chunking: { min: 256, avg: 1024, max: 4096 } });
  writeFileSync(join(d, 'data.jsonl'), Array.from({ length: 400 }, (_, i) => line(i)).join(''));
  await add(repo, ['data.jsonl']);
  const c = (await commit(repo, { message: 'v0' })).commit;
  previous = repo.objects.tree(repo.objects.commit(c).tree).entries[0]!.hash;
});
afterAll(() => repo.close());

/** The bytes a chunk's pieces stand for. */
function assemble(pieces: Piece[]): Buffer {
  return Buffer.concat(
    pieces.map((p) =>
      p.kind === 'ref'
        ? repo.objects.chunk(p.chunk).subarray(p.offset, p.offset + p.length)
        : Buffer.concat(p.parts),
    ),
  );
}

/**
 * Fresh chunk 0 holds the first and the last old line (and a line found nowhere); chunks 1..8 hold the
 * lines between, so that with a window of 2 chunk 0 has left the window when its last line is resolved.
 */
function freshChunks(): Uint8Array[] {
  const chunks = [
    bytes(line(0) + line(399) + JSON.stringify({ id: 'new', text: 'found nowhere at all' }) + '\n'),
  ];
  for (let k = 0; k < 8; k++)
    chunks.push(bytes(Array.from({ length: 40 }, (_, j) => line(1 + k * 40 + j)).join('')));
  return chunks;
}

async function run(limits: { window?: number; keepUnmatched?: number }) {
  const chunks = freshChunks();
  const reads: string[] = [];
  const enc = await SpanEncoder.build(
    repo,
    previous as never,
    new Map(),
    chunks.length,
    (i, checked) => {
      reads.push(`${i}${checked ? '!' : '?'}`);
      return chunks[i]!;
    },
    limits,
  );
  expect(enc).toBeDefined();
  const coded = chunks.map((_, i) => enc!.encode(i));
  return { chunks, reads, coded };
}

describe('SpanEncoder', () => {
  it('verifies a match resolved after its chunk left the window against the bytes it kept', async () => {
    const { chunks, reads, coded } = await run({ window: 2 });
    for (const [i, pieces] of coded.entries()) {
      expect(pieces, `chunk ${i}`).toBeDefined();
      expect(assemble(pieces!).equals(chunks[i]!), `chunk ${i}`).toBe(true);
    }
    const p0 = coded[0]!;
    expect(p0.map((p) => p.kind)).toEqual(['ref', 'ref', 'lit']);
    expect(Buffer.concat((p0[2] as Extract<Piece, { kind: 'lit' }>).parts).toString()).toContain(
      'found nowhere',
    );
    // Each chunk: keyed once unchecked, read once checked into the window; never read again to encode.
    expect(reads.filter((r) => r.endsWith('?'))).toHaveLength(chunks.length);
    expect(reads.filter((r) => r === '0!')).toHaveLength(1);
  });

  it('reads a chunk again (checked) to encode it when the window could keep none of its unmatched bytes', async () => {
    const { chunks, reads, coded } = await run({ window: 2, keepUnmatched: 0 });
    expect(assemble(coded[0]!).equals(chunks[0]!)).toBe(true);
    expect(reads.filter((r) => r === '0!')).toHaveLength(2);
  });

  it('indexes only the part of an old chunk not reused, split from where that part starts', async () => {
    // The old version's first chunk, with its first bytes up to the middle of its third record reused as
    // they are: the records before are not looked for there, the broken third one matches nothing, the
    // ones after match from that chunk.
    const [h, , len] = repo.objects.spans(repo.objects.manifest(previous))[Symbol.iterator]().next().value!;
    const old = repo.objects.chunk(h);
    const text = Buffer.from(old).toString();
    const third = text.indexOf('\n', text.indexOf('\n') + 1) + 1;
    const cut = third + 5;
    const reused = new Map([[h, [[0, cut] as [number, number]]]]);
    const fresh = [old.slice()];
    const enc = await SpanEncoder.build(repo, previous as never, reused, 1, () => fresh[0]!);
    const pieces = enc!.encode(0)!;
    expect(assemble(pieces).equals(Buffer.from(old))).toBe(true);
    expect(pieces[0]).toMatchObject({ kind: 'lit', start: 0 });
    const afterThird = text.indexOf('\n', third) + 1;
    expect((pieces[0] as Extract<Piece, { kind: 'lit' }>).end).toBe(afterThird);
    expect(pieces.slice(1)).toEqual([
      { kind: 'ref', chunk: h, offset: afterThird, length: len - afterThird },
    ]);
  });

  it('a chunk whose records are found nowhere is left to be stored whole', async () => {
    const chunks = [bytes(JSON.stringify({ id: 'x', text: 'a record of the new version only' }) + '\n')];
    const enc = await SpanEncoder.build(repo, previous as never, new Map(), 1, () => chunks[0]!);
    expect(enc).toBeUndefined();
  });

  it('a candidate whose bytes differ from the old record stays literal', async () => {
    // Same key only by construction here: a record of another length never verifies, so patch one byte of
    // the window's copy after keying (the checked read) and see the match refused.
    const chunks = freshChunks();
    const changed = Uint8Array.prototype.slice.call(chunks[1]!);
    changed[5] = changed[5]! ^ 1;
    const enc = await SpanEncoder.build(repo, previous as never, new Map(), chunks.length, (i, checked) =>
      i === 1 && checked ? changed : chunks[i]!,
    );
    const pieces = enc!.encode(1)!;
    expect(pieces[0]!.kind).toBe('lit');
    expect(assemble(pieces).equals(Buffer.from(changed))).toBe(true);
  });
});

describe('CompressPool decode jobs', () => {
  it('decodeVerified returns the bytes only if they decode to the hash', () => {
    const data = bytes(line(1).repeat(50));
    const { codec, bytes: stored } = encode(data);
    const h = hashBytes(data);
    expect(Buffer.from(decodeVerified({ codec, bytes: stored, rawLength: data.length, hash: h })!)).toEqual(
      Buffer.from(data),
    );
    const other = hashBytes(bytes('other'));
    expect(decodeVerified({ codec, bytes: stored, rawLength: data.length, hash: other })).toBeUndefined();
    expect(
      decodeVerified({ codec, bytes: stored.subarray(0, 8), rawLength: data.length, hash: h }),
    ).toBeUndefined();
    expect(decodeVerified({ codec: 9, bytes: stored, rawLength: data.length, hash: h })).toBeUndefined();
  });

  it('a pool (inline here) decodes a batch in order, damaged items as undefined', async () => {
    const pool = new CompressPool(0);
    const items = [line(1), line(2).repeat(30), line(3).repeat(90)].map((s) => {
      const data = bytes(s);
      return { ...encode(data), rawLength: data.length, hash: hashBytes(data), data };
    });
    items[1]!.hash = hashBytes(bytes('not it'));
    const out = await pool.decode(items);
    expect(out.map((d) => (d ? Buffer.from(d).toString() : undefined))).toEqual([
      line(1),
      undefined,
      line(3).repeat(90),
    ]);
  });

  it('a worker thread (built pool, dist/) decodes shared and unshared batches alike, in order', async () => {
    const url = new URL('../../dist/storage/compress-pool.js', import.meta.url).href;
    const built = (await import(url)) as typeof import('../../src/storage/compress-pool.js');
    const pool = new built.CompressPool(1);
    expect(pool.parallel).toBe(true);
    try {
      const texts = [line(4), line(5).repeat(40), 'x'.repeat(10), line(6).repeat(200)];
      const make = () =>
        texts.map((t) => {
          const data = bytes(t);
          return { ...encode(data), rawLength: data.length, hash: hashBytes(data) };
        });
      const plain = make();
      plain[2]!.rawLength += 1; // a raw length the stored bytes cannot have
      const shared = make();
      const region = new Uint8Array(new SharedArrayBuffer(1 << 16));
      let at = 0;
      for (const e of shared) {
        region.set(e.bytes, at);
        e.bytes = region.subarray(at, at + e.bytes.length);
        at += e.bytes.length;
      }
      shared[0]!.hash = hashBytes(bytes('another'));
      const [a, b] = await Promise.all([pool.decode(plain), pool.decode(shared)]);
      const text = (d: Uint8Array | undefined) => (d ? Buffer.from(d).toString() : undefined);
      expect(a.map(text)).toEqual([texts[0], texts[1], undefined, texts[3]]);
      expect(b.map(text)).toEqual([undefined, texts[1], texts[2], texts[3]]);
    } finally {
      await pool.close();
    }
  });
});

describe('record keys on the worker', () => {
  const texts = [
    line(7).repeat(30),
    'short\n' + line(8) + 'a partial record at the end without a newline',
    line(9).repeat(3),
  ];

  it('keyRecords splits at newlines from the start and keys records at least min bytes long', () => {
    const data = bytes('tiny\n' + line(1) + line(2) + 'tail without newline');
    const { out, at } = keyRecords(data, 16, new Float64Array(3));
    const recs = Array.from(out.subarray(0, at));
    const l1 = Buffer.byteLength(line(1));
    const l2 = Buffer.byteLength(line(2));
    expect(recs).toEqual([
      5,
      5 + l1,
      recordKey(data, 5, 5 + l1),
      5 + l1,
      5 + l1 + l2,
      recordKey(data, 5 + l1, 5 + l1 + l2),
      5 + l1 + l2,
      data.length,
      recordKey(data, 5 + l1 + l2, data.length),
    ]);
    expect(recordKey(data, 5, 5 + l1)).not.toBe(recordKey(data, 5 + l1, 5 + l1 + l2));
  });

  it('recordKey depends only on the bytes: any alignment or buffer, every length of tail', () => {
    const src = Buffer.from(line(12345) + line(678) + 'x'.repeat(40));
    const keys = new Map<string, number>();
    for (let len = 1; len <= 70; len++) {
      const ref = recordKey(src, 3, 3 + len);
      for (let shift = 0; shift < 8; shift++) {
        // The same bytes in a fresh (shared) buffer at another offset.
        const copy = new Uint8Array(new SharedArrayBuffer(len + 16), 1, len + 8);
        copy.set(src.subarray(3, 3 + len), shift);
        expect(recordKey(copy, shift, shift + len)).toBe(ref);
      }
      keys.set(src.subarray(3, 3 + len).toString('latin1'), ref);
      expect(Number.isSafeInteger(ref) && ref >= 0).toBe(true);
    }
    // Each prefix, and each one-byte change at every position of a 70-byte record, gets its own key.
    const seen = new Set(keys.values());
    expect(seen.size).toBe(keys.size);
    const rec = Buffer.from(src.subarray(3, 73));
    const base = recordKey(rec, 0, rec.length);
    for (let i = 0; i < rec.length; i++) {
      const changed = Buffer.from(rec);
      changed[i] = changed[i]! ^ 1;
      expect(recordKey(changed, 0, changed.length)).not.toBe(base);
    }
  });

  it('a worker thread (built pool) decodes into the caller’s shared region and keys records as inline', async () => {
    const url = new URL('../../dist/storage/compress-pool.js', import.meta.url).href;
    const built = (await import(url)) as typeof import('../../src/storage/compress-pool.js');
    const pool = new built.CompressPool(1);
    const inline = new CompressPool(0);
    try {
      const region = new Uint8Array(new SharedArrayBuffer(1 << 16));
      let at = 0;
      const items = texts.map((t) => {
        const data = bytes(t);
        const e = { ...encode(data), rawLength: data.length, hash: hashBytes(data) };
        region.set(e.bytes, at);
        e.bytes = region.subarray(at, at + e.bytes.length);
        at += e.bytes.length;
        return e;
      });
      items[1]!.hash = hashBytes(bytes('not it'));
      const out = new SharedArrayBuffer(1 << 16);
      const got = await pool.decodeKeyed(items, 16, out);
      const want = await inline.decodeKeyed(items, 16);
      const text = (d: Uint8Array | undefined) => (d ? Buffer.from(d).toString() : undefined);
      expect(got.data.map(text)).toEqual([texts[0], undefined, texts[2]]);
      expect(got.data[0]!.buffer).toBe(out);
      expect(got.records!.map((r) => Array.from(r))).toEqual(want.records!.map((r) => Array.from(r)));
      expect(got.records![0]!.length).toBe(3 * 30);
      expect(got.records![1]!.length).toBe(0);
      // Without a region large enough, the bytes come back in a buffer of their own.
      const small = await pool.decodeKeyed(items, 16, new SharedArrayBuffer(8));
      expect(small.data.map(text)).toEqual([texts[0], undefined, texts[2]]);
      expect(small.data[0]!.buffer).toBeInstanceOf(ArrayBuffer);
    } finally {
      await pool.close();
    }
  });

  it('a worker thread compresses shared views in place, as inline', async () => {
    const url = new URL('../../dist/storage/compress-pool.js', import.meta.url).href;
    const built = (await import(url)) as typeof import('../../src/storage/compress-pool.js');
    const pool = new built.CompressPool(1);
    try {
      const region = new Uint8Array(new SharedArrayBuffer(1 << 16));
      let at = 0;
      const views = [line(3).repeat(40), 'x', line(4)].map((t) => {
        const b = bytes(t);
        region.set(b, at);
        at += b.length;
        return region.subarray(at - b.length, at);
      });
      const out = await pool.compress(views, 3);
      for (const [i, o] of out.entries())
        expect(
          Buffer.from(
            decodeVerified({
              codec: o.codec,
              bytes: o.bytes,
              rawLength: views[i]!.length,
              hash: hashBytes(views[i]!),
            })!,
          ),
        ).toEqual(Buffer.from(views[i]!));
    } finally {
      await pool.close();
    }
  });
});
