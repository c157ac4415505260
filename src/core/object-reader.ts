/**
 * ObjectReader: verified object bytes by hash from wherever they live - the local repository's packs, or
 * a remote's packs read with ranged GETs. Pins, export and remote reads are written against this, so
 * they work the same on a local repository and straight from S3.
 */
import { decodeVerified, sharedCompressPool, type Encoded } from '../storage/compress-pool.js';
import { StrataError } from '../storage/errors.js';
import { hashBytes } from '../storage/hash.js';
import { KIND } from '../storage/pack-format.js';
import {
  decodeCommit,
  decodeManifest,
  checkSegmentRef,
  decodeSegment,
  decodeTree,
  type Commit,
  type FileManifest,
  type Span,
  type Tree,
} from './objects/objects.js';
import type { ObjectDb } from './object-db.js';

export interface ObjectReader {
  /** The raw (decompressed) bytes of an object, hash-verified. NOT_FOUND if absent. */
  get(hash: string, opts?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /**
   * Many objects, yielded in the order asked, with bounded read-ahead. Remote readers coalesce
   * neighbouring ranges and fetch in parallel.
   */
  getMany(
    hashes: Iterable<string>,
    opts?: { signal?: AbortSignal },
  ): AsyncGenerator<{ hash: string; data: Uint8Array }>;
}

/** An ObjectReader over the local repository. */
export class LocalObjectReader implements ObjectReader {
  constructor(private readonly objects: ObjectDb) {}

  async get(hash: string): Promise<Uint8Array> {
    return this.objects.getRaw(hash);
  }

  /**
   * With enough chunks to read, their stored bytes are read here (one pread per run of neighbours in a
   * pack, one index query per batch) and decompressed and hash-verified on both cores: the decoding thread
   * (compress-pool.ts) takes the batches furthest ahead, this thread decodes the nearest ones itself when
   * it gets to them first. Decompression is most of a read (~40 µs per 16 KiB chunk here), so a file reads
   * at up to twice one core's rate. An object neither can take (not a plain or zstd chunk, in a pack not
   * yet sealed, missing or damaged) is read by getRaw, which reports what is wrong.
   */
  getMany(hashes: Iterable<string>): AsyncGenerator<{ hash: string; data: Uint8Array }> {
    return this.readWith(hashes, (hash) => this.objects.getRaw(hash));
  }

  /** As getMany, for objects that must be chunks: any other kind is an INTEGRITY error (ObjectDb.getRaw). */
  chunks(hashes: Iterable<string>): AsyncGenerator<{ hash: string; data: Uint8Array }> {
    return this.readWith(hashes, (hash) => this.objects.getRaw(hash, KIND.chunk));
  }

  /**
   * As getMany, with `fallback` for each object the batched path does not take or could not verify: what it
   * returns is handed out (getMany's reads and verifies it; fsck records the problem and goes on).
   */
  async *readWith(
    hashes: Iterable<string>,
    fallback: (hash: string) => Uint8Array,
  ): AsyncGenerator<{ hash: string; data: Uint8Array }> {
    const list = Array.isArray(hashes) ? (hashes as readonly string[]) : [...hashes];
    // (Without a decoding thread - one core, or run from src/ - the pool decodes on this thread: same path.)
    if (list.length < POOL_MIN) {
      for (const hash of list) yield { hash, data: fallback(hash) };
      return;
    }
    const pool = sharedCompressPool();
    const nBatches = Math.ceil(list.length / DECODE_BATCH);
    /** Per batch: its stored chunks once read (undefined entries: read by getRaw), then its job if sent. */
    const staged: (Encoded | undefined)[][] = [];
    const jobs: Promise<(Uint8Array | undefined)[]>[] = [];
    let read = 0;
    let inFlight = 0;
    let cur = 0;
    const readBatch = (): void => {
      staged.push(
        this.objects.packs.readDecodable(list.slice(read * DECODE_BATCH, (read + 1) * DECODE_BATCH)),
      );
      read++;
    };
    // The decoding thread is given the furthest batch read and not yet taken, up to DECODE_IN_FLIGHT.
    const feed = (): void => {
      for (let b = read - 1; b > cur && inFlight < DECODE_IN_FLIGHT; b--) {
        if (jobs[b] || !staged[b]) continue;
        const items = staged[b]!;
        const sent = items.filter((e): e is Encoded => e !== undefined);
        inFlight++;
        const settled = (): void => {
          inFlight--;
          feed();
        };
        const job = pool.decode(sent).then(
          (out) => {
            let j = 0;
            return items.map((e) => (e ? out[j++] : undefined));
          },
          () => items.map(() => undefined),
        );
        job.then(settled, settled);
        jobs[b] = job;
      }
    };
    for (; cur < nBatches; cur++) {
      while (read < Math.min(nBatches, cur + DECODE_AHEAD)) readBatch();
      feed();
      // A turn of the event loop before decoding here: the decoding thread's answers arrive as messages,
      // which a consumer reading chunks at hand (microtasks only) would otherwise leave unread, and the
      // thread idle.
      if (inFlight > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const out = jobs[cur] ? await jobs[cur]! : staged[cur]!.map((e) => (e ? decodeVerified(e) : undefined));
      staged[cur] = [];
      delete jobs[cur];
      for (let k = 0; k < out.length; k++) {
        const hash = list[cur * DECODE_BATCH + k]!;
        yield { hash, data: out[k] ?? fallback(hash) };
      }
    }
  }
}

/**
 * Objects per batch (~0.5 MiB of chat chunks); batches read ahead of the consumer (stored bytes at hand);
 * batches on the decoding thread at once.
 */
const DECODE_BATCH = 32;
const DECODE_AHEAD = 8;
const DECODE_IN_FLIGHT = 2;
/** Fewer objects than this are read on this thread alone: not worth starting the decoding thread for. */
const POOL_MIN = 16;

/** Checks that bytes hash to their name; throws INTEGRITY naming the object and its source. */
export function verifyObject(hash: string, data: Uint8Array, where: string): Uint8Array {
  if (hashBytes(data) !== hash) {
    throw new StrataError('INTEGRITY', `object ${hash} from ${where} is corrupt (hash mismatch)`, {
      hash,
      where,
    });
  }
  return data;
}

/** Typed reads of metadata objects through any ObjectReader. */
export const readCommit = async (r: ObjectReader, h: string): Promise<Commit> =>
  decodeCommit(await r.get(h), h);
export const readTree = async (r: ObjectReader, h: string): Promise<Tree> => decodeTree(await r.get(h), h);
export const readManifest = async (r: ObjectReader, h: string): Promise<FileManifest> =>
  decodeManifest(await r.get(h), h);

/** All spans of a manifest, reading its segments through the reader. */
export async function* manifestSpans(r: ObjectReader, m: FileManifest): AsyncGenerator<Span> {
  if (m.spans) {
    yield* m.spans;
    return;
  }
  for (const s of m.segments ?? []) {
    const seg = decodeSegment(await r.get(s.hash), s.hash);
    checkSegmentRef(seg, s);
    yield* seg.spans;
  }
}

/**
 * Streams a stored file's bytes span by span, verifying every chunk it reads (and that it is a chunk): what
 * checkout, switch, cat and merge write from. The chunks of READ_GROUP spans at a time are read through
 * LocalObjectReader.chunks, decoded on both cores; consecutive spans into the same chunk read it once, and so
 * do a span-coded file's old chunk and the new chunk interleaved with it (RecentChunks). Not a method of
 * ObjectDb: a no-op status loads ObjectDb, and must not load the compression pool.
 */
export async function* readFile(objects: ObjectDb, m: FileManifest): AsyncGenerator<Uint8Array> {
  const reader = new LocalObjectReader(objects);
  const recent = new RecentChunks();
  let total = 0;
  const emit = async function* (group: Span[]): AsyncGenerator<Uint8Array> {
    let k = 0;
    for await (const c of chunksOfSpans(group, recent, (plan) => reader.chunks(plan))) {
      const [, off, len] = group[k++]!;
      total += len;
      yield off === 0 && len === c.length ? c : c.subarray(off, off + len);
    }
  };
  let group: Span[] = [];
  for (const s of objects.spans(m)) {
    group.push(s);
    if (group.length === READ_GROUP) {
      yield* emit(group);
      group = [];
    }
  }
  if (group.length) yield* emit(group);
  if (total !== m.size)
    throw new StrataError('INTEGRITY', `file spans cover ${total} bytes, manifest says ${m.size}`);
}

/**
 * The chunk of each of `spans`, in order, each fetched once while it stays among the `recent` ones: a dry run
 * of `recent` plans which to ask `fetch` for (in order), so the same decisions are taken as the bytes arrive
 * (a span-coded file's old chunk is read once although the new chunk's spans interleave with its own).
 * Checks that each span lies within its chunk. What readFile and fileBytes (pins) cut their pieces from.
 */
export async function* chunksOfSpans(
  spans: readonly Span[],
  recent: RecentChunks,
  fetch: (hashes: string[]) => AsyncGenerator<{ hash: string; data: Uint8Array }>,
): AsyncGenerator<Uint8Array> {
  if (spans.length === 0) return;
  const it = fetch(recent.plan(spans.map((s) => s[0])))[Symbol.asyncIterator]();
  try {
    for (const [h, off, len] of spans) {
      let data = recent.get(h);
      if (!data) {
        const n = await it.next();
        if (n.done || n.value.hash !== h)
          throw new StrataError('INTERNAL', `object reader returned objects out of order (wanted ${h})`, {
            hash: h,
          });
        recent.set(h, (data = n.value.data));
      }
      if (off + len > data.length)
        throw new StrataError('INTEGRITY', `span exceeds chunk ${h}`, {
          hash: h,
          off,
          len,
          size: data.length,
        });
      yield data;
    }
  } finally {
    await it.return?.(undefined);
  }
}

/** Spans whose chunks readFile asks for at once (its read-ahead plans over them). */
const READ_GROUP = 4096;

/** Chunks a reader keeps decoded: enough for an old chunk, the new chunk interleaved with it, neighbours. */
const RECENT_CHUNKS = 32;

/** A tiny LRU of decoded chunks (Map keeps insertion order: the first key is the least recently used). */
export class RecentChunks {
  private readonly map = new Map<string, Uint8Array>();

  constructor(private readonly capacity = RECENT_CHUNKS) {}

  get(h: string): Uint8Array | undefined {
    const d = this.map.get(h);
    if (d) {
      this.map.delete(h);
      this.map.set(h, d);
    }
    return d;
  }

  set(h: string, d: Uint8Array): void {
    this.map.set(h, d);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  /** The misses that reading `hashes` in order would have, given the current contents. */
  plan(hashes: readonly string[]): string[] {
    const sim = new Map<string, true>([...this.map.keys()].map((k) => [k, true]));
    const misses: string[] = [];
    for (const h of hashes) {
      if (sim.has(h)) sim.delete(h);
      else misses.push(h);
      sim.set(h, true);
      if (sim.size > this.capacity) sim.delete(sim.keys().next().value!);
    }
    return misses;
  }
}
