// LocalObjectReader.getMany (src/core/object-reader.ts), what every library read of a local repository goes
// through: the stored bytes of a batch are read at once, decoded and verified on the decoding thread (the
// furthest batches) or by the reader itself (the nearest), and handed out in the order asked. What the pool
// returns is only a shortcut: anything it cannot decode is read and verified by getRaw.
import { describe, expect, it, vi } from 'vitest';
import { LocalObjectReader, readFile } from '../../src/core/object-reader.js';
import { Repository } from '../../src/core/repository.js';
import { sharedCompressPool } from '../../src/storage/compress-pool.js';
import type { Hash } from '../../src/storage/hash.js';
import { tempDir } from '../core/helpers.js';
import { damageReadAhead, slowDecodePool } from '../helpers/read-ahead-faults.js';
import { rng } from '../helpers/prng.js';

/** 400 distinct chunks of JSONL (compressible: zstd-coded), and a manifest (not a chunk) among them. */
function setup(): { repo: Repository; hashes: string[]; bytes: Map<string, Buffer> } {
  const repo = Repository.init(tempDir());
  const r = rng(7);
  const bytes = new Map<string, Buffer>();
  const hashes: Hash[] = [];
  for (let c = 0; c < 400; c++) {
    const lines = Array.from({ length: 3 + Math.floor(r() * 20) }, (_, i) =>
      JSON.stringify({ id: c * 100 + i, text: `words ${Math.floor(r() * 1e9)} `.repeat(5) }),
    );
    const b = Buffer.from(lines.join('\n') + '\n');
    const h = repo.objects.putChunk(b);
    bytes.set(h, b);
    hashes.push(h);
  }
  const m = repo.objects.putManifest({ size: 3, format: 'jsonl' }, [[hashes[0]!, 0, 3]]);
  repo.objects.flush();
  bytes.set(m, Buffer.from(repo.objects.getRaw(m)));
  // Asked in an order of its own: the manifest in the middle, some chunks twice.
  const order = [...hashes.slice(0, 200), m, ...hashes.slice(200), hashes[5]!, hashes[300]!, hashes[5]!];
  return { repo, hashes: order, bytes };
}

async function readAll(repo: Repository, hashes: string[]): Promise<[string, Buffer][]> {
  const out: [string, Buffer][] = [];
  for await (const { hash, data } of new LocalObjectReader(repo.objects).getMany(hashes))
    out.push([hash, Buffer.from(data)]);
  return out;
}

describe('LocalObjectReader.getMany', () => {
  it('hands out every object asked, in order, verified, the chunks decoded in batches', async () => {
    const { repo, hashes, bytes } = setup();
    const pool = sharedCompressPool();
    const decode = vi.spyOn(pool, 'decode');
    const raw = vi.spyOn(repo.objects, 'getRaw');
    try {
      const got = await readAll(repo, hashes);
      expect(got.map((g) => g[0])).toEqual(hashes);
      for (const [h, b] of got) expect(b.equals(bytes.get(h)!)).toBe(true);
      // Chunks through the pool in batches of at most 32; only the manifest (not a chunk) read by getRaw.
      expect(decode).toHaveBeenCalled();
      expect(decode.mock.calls.every((c) => c[0].length <= 32)).toBe(true);
      expect(raw.mock.calls.map((c) => c[0])).toEqual([hashes[200]]);
    } finally {
      decode.mockRestore();
      raw.mockRestore();
    }
  });

  it('the reader decodes the nearest batches itself while the pool is slow, in the same order', async () => {
    const { repo, hashes, bytes } = setup();
    const decode = slowDecodePool(30);
    try {
      const got = await readAll(repo, hashes);
      expect(got.map((g) => g[0])).toEqual(hashes);
      for (const [h, b] of got) expect(b.equals(bytes.get(h)!)).toBe(true);
      // Some batches went to the pool, but fewer chunks than were read: the reader decoded the rest.
      const sent = decode.mock.calls.flatMap((c) => c[0].map((e) => e.hash));
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.length).toBeLessThan(hashes.length - 32);
    } finally {
      decode.mockRestore();
    }
  });

  it('damaged bytes read ahead are never handed out: those chunks are read again and verified by getRaw', async () => {
    const { repo, hashes, bytes } = setup();
    // Every 7th chunk read ahead comes back with a flipped byte (as if the pack were damaged on the way).
    const { victims, spy: read } = damageReadAhead(repo.objects.packs, 7);
    const raw = vi.spyOn(repo.objects, 'getRaw');
    try {
      const got = await readAll(repo, hashes);
      for (const [h, b] of got) expect(b.equals(bytes.get(h)!)).toBe(true);
      expect(victims.size).toBeGreaterThan(20);
      const again = new Set(raw.mock.calls.map((c) => c[0]));
      for (const v of victims) expect(again.has(v)).toBe(true);
    } finally {
      read.mockRestore();
      raw.mockRestore();
    }
  });

  it('a chunk damaged in the pack stops the read with INTEGRITY at that chunk, after the ones before it', async () => {
    const { repo, hashes } = setup();
    const victim = hashes[150]!;
    const getRaw = repo.objects.getRaw.bind(repo.objects);
    const pool = sharedCompressPool();
    const decodeOnPool = pool.decode.bind(pool);
    // The pool finds it does not decode to its hash; so does getRaw.
    const decode = vi.spyOn(pool, 'decode').mockImplementation(async (items) => {
      const out = await decodeOnPool(items);
      return out.map((d, i) => (items[i]!.hash === victim ? undefined : d));
    });
    const raw = vi.spyOn(repo.objects, 'getRaw').mockImplementation((h, ...rest) => {
      if (h === victim) throw Object.assign(new Error(`object ${h} is corrupt`), { code: 'INTEGRITY' });
      return getRaw(h, ...rest);
    });
    const seen: string[] = [];
    try {
      await expect(
        (async () => {
          for await (const { hash } of new LocalObjectReader(repo.objects).getMany(hashes)) seen.push(hash);
        })(),
      ).rejects.toMatchObject({ code: 'INTEGRITY' });
      expect(seen).toEqual(hashes.slice(0, 150));
    } finally {
      decode.mockRestore();
      raw.mockRestore();
    }
  });

  it('chunks() refuses an object that is not a chunk (INTEGRITY), as a file read must', async () => {
    const { repo, hashes } = setup();
    const reader = new LocalObjectReader(repo.objects);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const { hash } of reader.chunks(hashes)) seen.push(hash);
      })(),
    ).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(seen).toEqual(hashes.slice(0, 200)); // the manifest is the 201st
  });

  it('readFile streams a span-coded file exactly, old chunks interleaved with new ones', async () => {
    const { repo, bytes } = setup();
    const chunks = [...bytes.keys()].filter((h) => repo.objects.kindOf(h) === 'chunk') as Hash[];
    // Every chunk cut around a middle piece of the next one (old, new, old, ...), as a span-coded file is.
    const spans: [Hash, number, number][] = [];
    const want: Buffer[] = [];
    for (let i = 0; i + 1 < chunks.length; i++) {
      const a = bytes.get(chunks[i]!)!;
      const b = bytes.get(chunks[i + 1]!)!;
      const cut = a.length >> 1;
      spans.push([chunks[i]!, 0, cut], [chunks[i + 1]!, 1, 3], [chunks[i]!, cut, a.length - cut]);
      want.push(a.subarray(0, cut), b.subarray(1, 4), a.subarray(cut));
    }
    const size = want.reduce((n, b) => n + b.length, 0);
    const m = repo.objects.manifest(repo.objects.putManifest({ size, format: 'jsonl' }, spans));
    repo.objects.flush();
    const got: Buffer[] = [];
    for await (const b of readFile(repo.objects, m)) got.push(Buffer.from(b));
    expect(Buffer.concat(got).equals(Buffer.concat(want))).toBe(true);
  });
});
