/**
 * Compression on the other cores: a small pool of worker threads that compress batches of objects while
 * the main thread reads, chunks and hashes, and decode (and verify) batches of stored chunks while it
 * indexes them. Batches come back in the order they were submitted, so pack layout stays deterministic.
 * Where workers are unavailable (running from TypeScript sources under a test runner), the work runs
 * inline with identical results.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { existsSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CODEC_NONE, CODEC_ZSTD, decode, encode, type Codec } from './codec.js';
import { maxZstdOutput, zstdDecompress } from './zstd.js';
import { hashBytes } from './hash.js';
import { keyAll, splitKeys, type RecordTriples } from './record-keys.js';

export interface Compressed {
  codec: Codec;
  bytes: Uint8Array;
}

/** A stored object to decode: its codec (0 or 1), stored bytes, raw length and hash. */
export interface Encoded {
  codec: number;
  bytes: Uint8Array;
  rawLength: number;
  hash: string;
  /**
   * Stored bytes not read yet: `bytes` is where they go (a view of a shared buffer), read from this file
   * descriptor at `offset` by whichever thread decodes the item (readPending), so that a reader with a
   * decoding thread leaves the reads to it as well. Descriptors are the process's: any thread reads them.
   */
  src?: { fd: number; offset: number };
}

/**
 * Reads the stored bytes of the items that have them pending (Encoded.src), one read for items stored one
 * after the other that lie one after the other in the same buffer. An item whose read fails or comes short
 * (a closed descriptor, a truncated pack) is left pending with `bytes` unfilled: it does not decode
 * (decodeVerifiedInto), and the caller reads it by hash, which reports what is wrong.
 */
export function readPending(items: readonly Encoded[]): void {
  for (let i = 0; i < items.length;) {
    const e = items[i]!;
    if (!e.src) {
      i++;
      continue;
    }
    let j = i + 1;
    let end = e.src.offset + e.bytes.length;
    let bufEnd = e.bytes.byteOffset + e.bytes.length;
    while (j < items.length) {
      const n = items[j]!;
      if (!n.src || n.src.fd !== e.src.fd || n.src.offset !== end) break;
      if (n.bytes.buffer !== e.bytes.buffer || n.bytes.byteOffset !== bufEnd) break;
      end += n.bytes.length;
      bufEnd += n.bytes.length;
      j++;
    }
    const dst = new Uint8Array(e.bytes.buffer, e.bytes.byteOffset, bufEnd - e.bytes.byteOffset);
    let got = 0;
    try {
      while (got < dst.length) {
        const n = readSync(e.src.fd, dst, got, dst.length - got, e.src.offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch {
      /* left pending */
    }
    if (got === dst.length) for (let k = i; k < j; k++) delete items[k]!.src;
    i = j;
  }
}

/**
 * A decode job: with `out`, the bytes are decoded into that buffer (if large enough) instead of a new one - a
 * shared one in place, an ArrayBuffer moved to the thread and back; with `keyMin`, the records of each decoded
 * item are keyed too (record-keys.ts; `quoted`: as CSV/TSV).
 */
export type Job =
  | { id: number; op: 'compress'; level: number; items: Uint8Array[] }
  | { id: number; op: 'pack'; level: number; region: SharedArrayBuffer; ends: Uint32Array }
  | {
      id: number;
      op: 'decode';
      items: Encoded[];
      out?: SharedArrayBuffer | ArrayBuffer;
      /** Without a usable `out`, the buffer the thread makes has at least this many bytes. */
      outMin?: number;
      keyMin?: number;
      /** CSV/TSV records: split at '\n' outside quotes (record-keys.ts). */
      quoted?: boolean;
    };

/** A worker's answer: compressed items, or decoded ones (packed, or in the job's `out`) and their keys. */
export type Reply =
  | { id: number; out: Compressed[] }
  | { id: number; batch: PackedBatch }
  | { id: number; packed?: Uint8Array; sizes: number[]; keys?: Float64Array; bounds?: number[] };

/**
 * A batch compressed in place (compressInPlace): item i is stored with codec `codecs[i]` as bytes
 * [ends[i - 1], ends[i]) of the region (from 0 for the first).
 */
export interface PackedBatch {
  codecs: Uint8Array<ArrayBuffer>;
  ends: Uint32Array<ArrayBuffer>;
}

/**
 * Compresses the items lying back to back in `region` (item i: bytes [ends[i - 1], ends[i]), the first from
 * 0) with the codec rules of codec.ts, writing their stored bytes back to back over them from 0. A stored
 * item is never longer than its raw bytes (encode() keeps raw bytes that do not shrink), so item i's stored
 * bytes end by the end of its raw bytes: they never overwrite an item not yet compressed.
 */
export function compressInPlace(region: Uint8Array, ends: Uint32Array, level: number): PackedBatch {
  const codecs = new Uint8Array(ends.length);
  const out = new Uint32Array(ends.length);
  let at = 0;
  for (let i = 0, s = 0; i < ends.length; s = ends[i]!, i++) {
    const r = encode(region.subarray(s, ends[i]!), level, true); // copied out at once
    if (r.bytes.length > ends[i]! - s) throw new Error('a stored item longer than its raw bytes');
    if (r.codec === CODEC_NONE) region.copyWithin(at, s, ends[i]!);
    else region.set(r.bytes, at);
    codecs[i] = r.codec;
    at += r.bytes.length;
    out[i] = at;
  }
  return { codecs, ends: out };
}

/** Decoded items (undefined: did not decode to its hash) and, if asked for, their records' keys. */
export interface Decoded {
  data: (Uint8Array | undefined)[];
  records?: RecordTriples[];
  /**
   * The buffer `data` are views of when it is the caller's to reuse: the job's `out` if that was an ArrayBuffer
   * (moved to the thread and back), or the one the thread made (at least `outMin` bytes).
   */
  buffer?: ArrayBuffer;
}

interface Pending {
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
  /** Turns the worker's reply into the job's result. */
  finish: (m: Reply) => unknown;
}

/** The raw length to set aside for decoding `e`: its raw length if plausible for its stored bytes, else 0. */
export function decodedSize(e: Encoded): number {
  if (e.codec === CODEC_NONE) return e.rawLength === e.bytes.length ? e.rawLength : 0;
  if (e.codec === CODEC_ZSTD && Number.isSafeInteger(e.rawLength) && e.rawLength >= 0)
    return e.rawLength <= maxZstdOutput(e.bytes.length) ? e.rawLength : 0;
  return 0;
}

/**
 * Decodes and verifies a batch into one buffer (decodeVerifiedInto): the job's `out` if it is large enough (a
 * shared one written in place, else moved back with the answer), else a new one of `outMin` bytes at least.
 * `sizes[i]` is item i's length, or -k-1 for one that did not decode (k bytes set aside for it); with
 * `keyMin`, the records of each item are keyed (record-keys.ts). What the decoding thread runs, and the pool
 * without one.
 */
export function decodeBatch(
  items: Encoded[],
  out: SharedArrayBuffer | ArrayBuffer | undefined,
  outMin = 0,
  keyMin?: number,
  quoted?: boolean,
): {
  packed: Uint8Array;
  shared: boolean;
  sizes: number[];
  data: (Uint8Array | undefined)[];
  keyed?: { keys: Float64Array; bounds: number[] };
} {
  // Decoded straight into one buffer: a decoded copy per chunk would pile up as garbage (external memory)
  // between the decoding thread's rare collections.
  const sizes = items.map(decodedSize);
  const total = sizes.reduce((n, k) => n + k, 0);
  const given = out && out.byteLength >= total ? out : undefined;
  const packed = given
    ? new Uint8Array(given, 0, total)
    : new Uint8Array(Math.max(total, outMin)).subarray(0, total);
  const data: (Uint8Array | undefined)[] = [];
  readPending(items);
  let at = 0;
  items.forEach((e, i) => {
    const dst = packed.subarray(at, at + sizes[i]!);
    at += sizes[i]!;
    const ok = decodeVerifiedInto(e, dst);
    if (!ok) sizes[i] = -sizes[i]! - 1;
    data.push(ok ? dst : undefined);
  });
  const keyed = keyMin === undefined ? undefined : keyAll(data, keyMin, quoted);
  return { packed, shared: given instanceof SharedArrayBuffer, sizes, data, ...(keyed ? { keyed } : {}) };
}

/** Decodes `e` into `dst` (decodedSize(e) bytes); whether it decoded to its raw length and hash. */
export function decodeVerifiedInto(e: Encoded, dst: Uint8Array): boolean {
  if (decodedSize(e) !== dst.length || dst.length !== e.rawLength) return false;
  if (e.src) readPending([e]);
  if (e.src) return false;
  try {
    if (e.codec === CODEC_NONE) dst.set(e.bytes);
    else zstdDecompress(e.bytes, e.rawLength, dst);
  } catch {
    return false;
  }
  return hashBytes(dst) === e.hash;
}

/** An object's bytes if they decode to its raw length and hash, else undefined (damaged or not a codec). */
export function decodeVerified(e: Encoded): Uint8Array | undefined {
  try {
    const data = decode(e.codec, e.bytes, e.rawLength);
    return data.length === e.rawLength && hashBytes(data) === e.hash ? data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Jobs handed to one worker at a time. More than one: a worker is given its next job only when this thread
 * takes its answer, which a busy event loop puts off (the 1 GiB deletion's commit: both threads ~70% busy,
 * each waiting on the other); the jobs queued at the worker keep it going meanwhile.
 */
const JOBS_PER_WORKER = 3;

export class CompressPool {
  private readonly workers: Worker[] = [];
  /** Jobs at each worker (answers not yet taken), by worker. */
  private readonly load = new Map<Worker, number>();
  private readonly queue: { job: Job; transfer: ArrayBuffer[] }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(readonly size: number) {
    const url = new URL('./compress-worker.js', import.meta.url);
    if (size <= 0 || !existsSync(fileURLToPath(url))) return;
    for (let i = 0; i < size; i++) {
      const w = new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      w.on('message', (m: Reply) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        this.release(w);
        if (!p) return;
        try {
          p.resolve(p.finish(m) as never);
        } catch (e) {
          p.reject(e);
        }
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      // Unref after attaching listeners (a 'message' listener refs the worker): idle workers must not keep
      // the process alive.
      w.unref();
      this.workers.push(w);
      this.load.set(w, 0);
    }
  }

  get parallel(): boolean {
    return this.workers.length > 0;
  }

  /**
   * Compresses a batch. The items' buffers are copied, so callers may reuse theirs, unless they are shared
   * (SharedArrayBuffer views, read in place by the worker: reuse them once the result came back).
   */
  compress(items: Uint8Array[], level: number): Promise<Compressed[]> {
    if (!this.parallel) return Promise.resolve(items.map((d) => encode(d, level)));
    return this.submit<Compressed[]>(
      (id) => ({ id, op: 'compress', level, items }),
      (m) => 'out' in m && m.out,
    );
  }

  /**
   * Compresses the items lying back to back in a shared region (item i: bytes [ends[i - 1], ends[i]), the
   * first from 0), in place (compressInPlace): one region serves both ways, and the reply is two small
   * arrays rather than a buffer and an object per item. The region is the caller's again once the result
   * came back.
   */
  compressPacked(region: SharedArrayBuffer, ends: Uint32Array, level: number): Promise<PackedBatch> {
    if (!this.parallel) return Promise.resolve(compressInPlace(new Uint8Array(region), ends, level));
    return this.submit<PackedBatch>(
      (id) => ({ id, op: 'pack', level, region, ends }),
      (m) => {
        if (!('batch' in m)) throw new Error('a decode reply to a pack job');
        return m.batch;
      },
    );
  }

  /**
   * Decodes and verifies a batch of stored objects (decodeVerified): each comes back as its bytes, or
   * undefined if it does not decode to its hash.
   */
  decode(items: Encoded[]): Promise<(Uint8Array | undefined)[]> {
    return this.decodeKeyed(items).then((d) => d.data);
  }

  /**
   * Decodes and verifies a batch (as decode) and, with `keyMin`, keys the records of each item at least
   * that long, on the worker thread. With `out` (at least as long as the items' raw lengths together), the
   * bytes come back as views into it: the caller reuses it once it no longer needs them. A shared `out` is
   * written in place; an ArrayBuffer is moved to the thread and back (`buffer`), so that the thread keeps no
   * hold on it (a SharedArrayBuffer stays alive until both threads let go of it). The thread uses `out` only
   * for items in shared buffers; without a thread it is always used. `outMin`: see decodeBatch.
   * `quoted`: the items are CSV/TSV, whose records end at a '\n' outside quotes (keyRecords).
   */
  decodeKeyed(
    items: Encoded[],
    keyMin?: number,
    out?: SharedArrayBuffer | ArrayBuffer,
    quoted = false,
    outMin = 0,
  ): Promise<Decoded> {
    if (!this.parallel) {
      // As the decoding thread does it (decodeBatch): never a view of an item's stored bytes (a plain chunk
      // decodes to its own bytes), which the caller may reuse once this is back.
      const d = decodeBatch(items, out, outMin, keyMin, quoted);
      return Promise.resolve({
        data: d.data,
        ...(d.keyed ? { records: splitKeys(d.keyed.keys, d.keyed.bounds) } : {}),
        ...(d.shared ? {} : { buffer: d.packed.buffer as ArrayBuffer }),
      });
    }
    const lent = out instanceof ArrayBuffer ? out : undefined;
    const finish = (m: Reply): Decoded => {
      if (!('sizes' in m)) throw new Error('a compress reply to a decode job');
      const data = unpack(m.packed ?? new Uint8Array(out!), m.sizes);
      return {
        data,
        ...(m.keys ? { records: splitKeys(m.keys, m.bounds!) } : {}),
        ...(m.packed && m.packed.byteOffset === 0 ? { buffer: m.packed.buffer as ArrayBuffer } : {}),
      };
    };
    if (items.every((e) => e.bytes.buffer instanceof SharedArrayBuffer)) {
      return this.submit<Decoded>(
        (id) => ({
          id,
          op: 'decode',
          items,
          ...(out ? { out } : {}),
          ...(outMin ? { outMin } : {}),
          ...(keyMin !== undefined ? { keyMin } : {}),
          ...(quoted ? { quoted } : {}),
        }),
        finish,
        lent ? [lent] : [],
      );
    }
    // One buffer each way, moved rather than copied: a batch of small chunks otherwise costs an object and a
    // copy per chunk on both threads.
    const packed = new Uint8Array(items.reduce((n, e) => n + e.bytes.length, 0));
    let at = 0;
    const moved = items.map((e) => {
      packed.set(e.bytes, at);
      at += e.bytes.length;
      return { ...e, bytes: packed.subarray(at - e.bytes.length, at) };
    });
    return this.submit<Decoded>(
      (id) => ({
        id,
        op: 'decode',
        items: moved,
        ...(keyMin !== undefined ? { keyMin } : {}),
        ...(quoted ? { quoted } : {}),
      }),
      finish,
      [packed.buffer],
    );
  }

  private submit<T>(
    job: (id: number) => Job,
    finish: (m: Reply) => unknown,
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject, finish });
      this.queue.push({ job: job(id), transfer });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      // The least loaded worker, if it can take another job.
      let w: Worker | undefined;
      let least = JOBS_PER_WORKER;
      for (const x of this.workers) {
        const n = this.load.get(x)!;
        if (n < least) {
          least = n;
          w = x;
        }
      }
      if (!w) return;
      const { job, transfer } = this.queue.shift()!;
      if (least === 0) w.ref();
      this.load.set(w, least + 1);
      w.postMessage(job, transfer);
    }
  }

  private release(w: Worker): void {
    const n = this.load.get(w)! - 1;
    this.load.set(w, n);
    // Unref'd when it has nothing to do: an idle worker must not keep the process alive.
    if (n === 0) w.unref();
    this.pump();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Decoded objects packed back to back, as views into the one buffer: `sizes[i]` bytes each, or -k-1 for one
 * that did not decode (k bytes set aside for it).
 */
export function unpack(packed: Uint8Array, sizes: readonly number[]): (Uint8Array | undefined)[] {
  let at = 0;
  return sizes.map((n) => {
    const k = n < 0 ? -n - 1 : n;
    at += k;
    return n < 0 ? undefined : packed.subarray(at - k, at);
  });
}

let shared: CompressPool | undefined;
/** One pool per process: one worker per core beyond the first (STRATA_COMPRESS_THREADS overrides). */
export function sharedCompressPool(): CompressPool {
  const n = Number(process.env.STRATA_COMPRESS_THREADS ?? Math.max(1, availableParallelism() - 1));
  return (shared ??= new CompressPool(n));
}
