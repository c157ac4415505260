// Chunks cut and hashed on a worker thread (src/core/chunking/worker-chunks.ts, run from dist/: `npm run
// build` first) are exactly chunkStream's, with hashBytes' hashes and the same over-long records, for every
// chunk format, across reads, for chunks spanning two reads and with buffers read into again.
import { createReadStream, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkStream, type ChunkFormat } from '../../src/core/chunking/index.js';
import type { ChunkParams } from '../../src/core/chunking/params.js';
import { hashBytes } from '../../src/storage/hash.js';
import { tempDir } from '../core/helpers.js';
import { rng } from '../helpers/prng.js';

type Built = typeof import('../../src/core/chunking/worker-chunks.js');
const PARAMS: ChunkParams = { min: 2048, avg: 8192, max: 32768 };

let dir: string;
let built: Built;
beforeAll(async () => {
  dir = tempDir('strata-worker-chunks-');
  const url = new URL('../../dist/core/chunking/worker-chunks.js', import.meta.url).href;
  built = (await import(url)) as Built;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function jsonl(bytes: number, seed: number, longEvery = 0): Buffer {
  const r = rng(seed);
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const words = longEvery && i % longEvery === 7 ? 9000 : 5 + Math.floor(r() * 200);
    const text = Array.from({ length: words }, () => Math.floor(r() * 1e6).toString(36)).join(' ');
    const line = JSON.stringify({ id: i, text }) + '\n';
    out.push(line);
    n += line.length;
  }
  return Buffer.from(out.join(''));
}

function csv(bytes: number, seed: number): Buffer {
  const r = rng(seed);
  const out = ['id,text\n'];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    // Quoted fields with newlines and "" escapes: a '\n' inside quotes is not a record end.
    const text = `"line ${i}\n""quoted"" ${Math.floor(r() * 1e9)}\n${'x'.repeat(Math.floor(r() * 300))}"`;
    const row = `${i},${text}\n`;
    out.push(row);
    n += row.length;
  }
  return Buffer.from(out.join(''));
}

async function inline(path: string, format: ChunkFormat) {
  const long: [number, number][] = [];
  const lens: number[] = [];
  const hashes: string[] = [];
  for await (const c of chunkStream(createReadStream(path), format, PARAMS, long)) {
    lens.push(c.length);
    hashes.push(hashBytes(c));
  }
  return { lens, hashes, long };
}

async function onWorker(path: string, format: ChunkFormat, share = true) {
  const long: [number, number][] = [];
  const lens: number[] = [];
  const hashes: string[] = [];
  let settled = 0;
  for await (const b of built.chunkOnWorker(path, format, PARAMS, long, () => settled, { share })) {
    b.chunks.forEach((c, i) => {
      // The bytes handed out are the bytes hashed.
      expect(hashBytes(c)).toBe(b.hashes[i]);
      lens.push(c.length);
      settled += c.length;
    });
    hashes.push(...b.hashes);
  }
  return { lens, hashes, long };
}

describe('chunks cut on a worker thread', () => {
  it('the built module finds its worker, for files of 16 MiB or more that can be read', () => {
    const big = join(dir, 'big');
    const small = join(dir, 'small');
    writeFileSync(big, Buffer.alloc(16 << 20));
    writeFileSync(small, Buffer.alloc((16 << 20) - 1));
    expect(built.worthAChunkWorker(big)).toBe(true);
    expect(built.worthAChunkWorker(small)).toBe(false);
    expect(built.worthAChunkWorker(join(dir, 'missing'))).toBe(false);
  });

  const cases: Array<[string, ChunkFormat, () => Buffer]> = [
    ['JSON Lines over many reads, buffers read into again', 'jsonl', () => jsonl(12 << 20, 1)],
    ['JSON Lines with over-long records', 'jsonl', () => jsonl(3 << 20, 2, 40)],
    ['CSV with quoted newlines', 'csv', () => csv(4 << 20, 3)],
    ['binary', 'binary', () => Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7919) % 251))],
    ['text without a final newline', 'text', () => Buffer.concat([jsonl(2 << 20, 4), Buffer.from('tail')])],
    ['less than one read', 'jsonl', () => jsonl(100_000, 5)],
    ['empty', 'jsonl', () => Buffer.alloc(0)],
  ];
  it.each(cases)(
    '%s: the same chunks, hashes and over-long records as chunkStream',
    async (name, fmt, make) => {
      const path = join(dir, name.replace(/\W+/g, '-'));
      const data = make();
      writeFileSync(path, data);
      const want = await inline(path, fmt);
      // Hashed by both threads (each chunk by the one that claims it), and by the worker alone.
      for (const share of [true, false]) {
        const got = await onWorker(path, fmt, share);
        expect(got.lens).toEqual(want.lens);
        expect(got.hashes).toEqual(want.hashes);
        expect(got.long).toEqual(want.long);
      }
      const got = await onWorker(path, fmt);
      expect(got.lens.reduce((a, b) => a + b, 0)).toBe(data.length);
      if (name.includes('over-long')) expect(want.long.length).toBeGreaterThan(0);
    },
  );
});
