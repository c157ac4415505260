/**
 * Compression on the other cores: a small pool of worker threads that compress batches of objects while
 * the main thread reads, chunks and hashes, and decode (and verify) batches of stored chunks while it
 * indexes them. Batches come back in the order they were submitted, so pack layout stays deterministic.
 * Where workers are unavailable (running from TypeScript sources under a test runner), the work runs
 * inline with identical results.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode, encode, type Codec } from './codec.js';
import { hashBytes } from './hash.js';

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
}

export type Job =
  | { id: number; op: 'compress'; level: number; items: Uint8Array[] }
  | { id: number; op: 'decode'; items: Encoded[] };

interface Pending {
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
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

export class CompressPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(readonly size: number) {
    const url = new URL('./compress-worker.js', import.meta.url);
    if (size <= 0 || !existsSync(fileURLToPath(url))) return;
    for (let i = 0; i < size; i++) {
      const w = new Worker(url);
      w.on('message', (m: { id: number; out: never }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        this.release(w);
        p?.resolve(m.out);
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      // Unref after attaching listeners (a 'message' listener refs the worker): idle workers must not keep
      // the process alive.
      w.unref();
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  get parallel(): boolean {
    return this.workers.length > 0;
  }

  /** Compresses a batch; the items' buffers are copied, so callers may reuse theirs. */
  compress(items: Uint8Array[], level: number): Promise<Compressed[]> {
    if (!this.parallel) return Promise.resolve(items.map((d) => encode(d, level)));
    return this.submit<Compressed[]>((id) => ({ id, op: 'compress', level, items }));
  }

  /**
   * Decodes and verifies a batch of stored objects (decodeVerified): each comes back as its bytes, or
   * undefined if it does not decode to its hash.
   */
  decode(items: Encoded[]): Promise<(Uint8Array | undefined)[]> {
    if (!this.parallel) return Promise.resolve(items.map(decodeVerified));
    return this.submit<(Uint8Array | undefined)[]>((id) => ({ id, op: 'decode', items }));
  }

  private submit<T>(job: (id: number) => Job): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject });
      this.queue.push(job(id));
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      w.ref();
      w.postMessage(job);
    }
  }

  private release(w: Worker): void {
    w.unref();
    this.idle.push(w);
    this.pump();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let shared: CompressPool | undefined;
/** One pool per process: one worker per core beyond the first (STRATA_COMPRESS_THREADS overrides). */
export function sharedCompressPool(): CompressPool {
  const n = Number(process.env.STRATA_COMPRESS_THREADS ?? Math.max(1, availableParallelism() - 1));
  return (shared ??= new CompressPool(n));
}
