/**
 * A file's chunks cut and hashed on a worker thread (chunk-worker.ts) while the main thread handles the
 * chunks before them: span-coding's first pass (ingest.ts) otherwise spent half its main-thread time in the
 * chunker. The file is read into a few reused buffers of shared memory that both threads see; the worker
 * answers with lengths and hashes, and the chunks handed out here are views into those buffers (or a copy,
 * for a chunk across two reads), the same bytes chunkStream would give, in the same order.
 */
import { existsSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StrataError, type ErrorCode } from '../../storage/errors.js';
import { hashBytes, type Hash } from '../../storage/hash.js';
import type { ChunkFormat } from './chunker.js';
import type { ChunkParams } from './params.js';

export interface ChunkerSetup {
  format: ChunkFormat;
  params: ChunkParams;
}
export type ChunkerJob = { op: 'push'; data: Uint8Array } | { op: 'finish' };
/**
 * A push's chunks: their lengths, and their hashes (32 bytes each, shared) as the worker writes them. Each
 * chunk is hashed by one thread, the one that claims it in `claims` (compareExchange from 0): the worker
 * from the first chunk on (HASH_WORKER, then HASH_DONE once its hash is written), the main thread from the
 * last back (HASH_MAIN).
 */
export type ChunkerReply =
  | { lens: Uint32Array; claims: Int32Array; hashes: Uint8Array; long: [number, number][] }
  | { error: { message: string; code?: string } };
export const HASH_WORKER = 1;
export const HASH_DONE = 2;
export const HASH_MAIN = 3;

/** Chunks with their hashes, in file order. */
export interface HashedChunks {
  chunks: Uint8Array[];
  hashes: Hash[];
}

/**
 * Files of at least this many bytes are worth a worker of their own (~30 ms to start): add in a pass that
 * stores nothing, status, a working-tree diff.
 */
const WORKER_CHUNK_BYTES = 16 << 20;
/** Bytes per read. */
const READ_BYTES = 1 << 20;
/** Reads sent to the worker and not answered yet. */
const DEPTH = 6;
/** How long the worker may take to write a hash before it is given up on. */
const HASH_WAIT_MS = 60_000;

/**
 * Whether the file at `path` is worth cutting with chunkOnWorker (WORKER_CHUNK_BYTES or more) and its worker
 * can start (not when running from the TypeScript sources). False for a file that cannot be read: the read
 * that follows reports why.
 */
export function worthAChunkWorker(path: string): boolean {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return false;
  }
  return (
    size >= WORKER_CHUNK_BYTES && existsSync(fileURLToPath(new URL('./chunk-worker.js', import.meta.url)))
  );
}

/**
 * The chunks of the file at `path` as chunkStream cuts them, with their hashes, a batch per read. `settled()`
 * is the caller's promise about the past: the file offset up to which it no longer uses the chunks handed
 * out (their buffers are read into again). Over-long records are pushed onto `long` as they are cut.
 */
export async function* chunkOnWorker(
  path: string,
  format: ChunkFormat,
  params: ChunkParams,
  long: [number, number][],
  settled: () => number,
  /** `share: false`: the worker hashes every chunk (tests; by default this thread helps, see HASH_*). */
  opts: { share?: boolean } = {},
): AsyncGenerator<HashedChunks> {
  const fh = await open(path, 'r');
  const setup: ChunkerSetup = { format, params };
  const worker = new Worker(new URL('./chunk-worker.js', import.meta.url), { workerData: setup });
  const waiting: { resolve: (r: ChunkerReply) => void; reject: (e: Error) => void }[] = [];
  let failed: Error | undefined;
  worker.on('message', (r: ChunkerReply) => waiting.shift()?.resolve(r));
  worker.on('error', (e) => {
    failed = e;
    for (const w of waiting.splice(0)) w.reject(e);
  });
  const ask = (job: ChunkerJob): Promise<ChunkerReply> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      waiting.push({ resolve, reject });
      worker.postMessage(job);
    });
  /** Buffers read, in file order, with the file offsets of their bytes; and those free to read into. */
  const held: { buf: Buffer; start: number; end: number }[] = [];
  const spare: Buffer[] = [];
  /** Bytes [off, off + len) of the file, from the held buffers. */
  const bytesAt = (off: number, len: number): Uint8Array => {
    let k = 0;
    while (held[k]!.end <= off) k++;
    const first = held[k]!;
    if (off + len <= first.end) return first.buf.subarray(off - first.start, off + len - first.start);
    const out = Buffer.allocUnsafe(len);
    for (let at = 0; at < len; k++) {
      const h = held[k]!;
      const from = off + at - h.start;
      const n = Math.min(len - at, h.end - (off + at));
      h.buf.copy(out, at, from, from + n);
      at += n;
    }
    return out;
  };
  try {
    const inflight: Promise<ChunkerReply>[] = [];
    let pos = 0;
    let chunkAt = 0;
    let eof = false;
    while (!eof || inflight.length > 0) {
      while (!eof && inflight.length < DEPTH) {
        // A buffer whose bytes were all settled is free: neither thread refers to it any more (the
        // worker's chunker holds only bytes after the chunks it answered with).
        while (held.length > 0 && held[0]!.end <= settled()) spare.push(held.shift()!.buf);
        const buf = spare.pop() ?? Buffer.from(new SharedArrayBuffer(READ_BYTES));
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) {
          eof = true;
          spare.push(buf);
          inflight.push(ask({ op: 'finish' }));
          break;
        }
        held.push({ buf, start: pos, end: pos + bytesRead });
        pos += bytesRead;
        inflight.push(ask({ op: 'push', data: buf.subarray(0, bytesRead) }));
      }
      const r = await inflight.shift()!;
      if ('error' in r) {
        throw new StrataError((r.error.code ?? 'INTERNAL') as ErrorCode, r.error.message, { path });
      }
      const chunks: Uint8Array[] = [];
      const n = r.lens.length;
      for (let i = 0; i < n; i++) {
        chunks.push(bytesAt(chunkAt, r.lens[i]!));
        chunkAt += r.lens[i]!;
      }
      // This thread hashes from the last chunk back while the worker has not claimed them (it hashes from the
      // first on): the 1 GiB 1% edit's first pass was bound by the worker, with this thread half idle.
      const hashes: Hash[] = new Array<Hash>(n);
      if (opts.share !== false)
        for (let j = n - 1; j >= 0; j--) {
          if (Atomics.compareExchange(r.claims, j, 0, HASH_MAIN) !== 0) break;
          hashes[j] = hashBytes(chunks[j]!);
        }
      const hb = Buffer.from(r.hashes.buffer, r.hashes.byteOffset, r.hashes.byteLength);
      for (let i = 0; i < n && hashes[i] === undefined; i++) {
        // Claimed by the worker: wait (a few µs) for it to be written. (Its 'error' event cannot arrive while
        // this thread waits: a worker that died while hashing is given up on after a while.)
        for (const start = Date.now(); ;) {
          const v = Atomics.load(r.claims, i);
          if (v === HASH_DONE) break;
          if (failed) throw failed;
          if (Date.now() - start > HASH_WAIT_MS)
            throw new StrataError('INTERNAL', `the chunking thread stopped while hashing ${path}`, { path });
          // Notified once it is written; not yet claimed (only without `share`): looked at again soon.
          Atomics.wait(r.claims, i, v, v === 0 ? 1 : 50);
        }
        hashes[i] = hb.toString('hex', 32 * i, 32 * i + 32) as Hash;
      }
      for (const l of r.long) long.push(l);
      if (chunks.length > 0) yield { chunks, hashes };
    }
  } finally {
    await fh.close();
    void worker.terminate();
  }
}
