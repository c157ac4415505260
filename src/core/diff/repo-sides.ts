/**
 * DiffSides over the repository: a stored file's spans become pieces (equal ids = equal bytes, so spans
 * shared by both versions cancel unread), and a working-tree file is cut with the repository's own
 * chunker so that its unchanged chunks get the same ids as the stored ones.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { StrataError } from '../../storage/errors.js';
import { memoryLimit } from '../../storage/memory-limit.js';
import {
  decodedSize,
  decodeVerifiedInto,
  sharedCompressPool,
  type Encoded,
} from '../../storage/compress-pool.js';
import { hashBytes } from '../../storage/hash.js';
import { chunkStream, type ChunkFormat } from '../chunking/index.js';
import { chunkOnWorker, worthAChunkWorker } from '../chunking/worker-chunks.js';
import type { FileManifest, Span } from '../objects/objects.js';
import { ChunkTable, Parts, pairParts, refineParts, type PartIds } from './part-table.js';
import type { Repository } from '../repository.js';
import type { DiffPiece, DiffSide, FileFormat } from './types.js';

const DIFF_FORMATS = new Set<FileFormat>(['jsonl', 'json', 'csv', 'tsv', 'parquet', 'text', 'binary']);
export const diffFormat = (f: string): FileFormat =>
  DIFF_FORMATS.has(f as FileFormat) ? (f as FileFormat) : 'binary';

function dialectOf(options: Record<string, string> | undefined): DiffSide['dialect'] {
  if (!options?.delimiter && !options?.quote) return undefined;
  return {
    ...(options.delimiter ? { delimiter: options.delimiter === '\\t' ? '\t' : options.delimiter } : {}),
    ...(options.quote ? { quote: options.quote === 'none' ? false : options.quote } : {}),
  };
}

/** Reads `length` bytes at `offset` of a file given as consecutive pieces. */
async function readAcross(
  starts: ArrayLike<number>,
  lengths: ArrayLike<number>,
  read: (i: number) => Promise<Uint8Array>,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const out = Buffer.alloc(length);
  let filled = 0;
  // Binary search for the piece holding `offset`.
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  for (let i = lo; i < starts.length && filled < length; i++) {
    const b = await read(i);
    const from = Math.max(0, offset + filled - starts[i]!);
    const n = Math.min(lengths[i]! - from, length - filled);
    out.set(b.subarray(from, from + n), filled);
    filled += n;
  }
  if (filled !== length)
    throw new StrataError('BAD_INPUT', 'read past the end of the file', { offset, length });
  return out;
}

/**
 * Splits both span lists so that bytes the two versions share become identical pieces (see refineParts):
 * for every chunk that both lists reference with different ranges, each span into it is cut at the union of
 * both lists' span boundaries within that chunk.
 *
 * Line files only (JSONL, text): there a boundary of one side's span is a record boundary of the chunk's
 * bytes whatever span contains it (it follows a '\n', or is the chunk's start), so refined pieces still hold
 * whole records. CSV records may contain quoted newlines, so whether an offset is a record boundary depends
 * on where parsing started: CSV span lists are left as they are (unshared spans are simply read).
 */
export function refineSpans(a: ReadonlyArray<Span>, b: ReadonlyArray<Span>): [Span[], Span[]] {
  const table = new ChunkTable();
  const pa = new Parts();
  const pb = new Parts();
  pa.pushSpans(a, table);
  pb.pushSpans(b, table);
  const [ra, rb] = refineParts(pa, pb, table.size);
  return [ra.toSpans(table), rb.toSpans(table)];
}

const LINE_FORMATS = new Set<FileFormat>(['jsonl', 'text']);

/**
 * The DiffSides of two stored versions of a file (null: absent on that side), as typed parts (part-table.ts).
 * For line files, manifest segments both versions hold become one part each, which cancels without the
 * segment even being decoded (an append shares all segments but the last: the diff never expands them); the
 * spans of the other segments are expanded, and chunks both versions reference with different ranges are
 * cut (`refineParts`) so that shared sub-ranges cancel unread. Parts are then paired (`pairParts`): the two
 * parts of a pair share one id.
 */
export function sidesFromManifests(
  repo: Repository,
  path: string,
  before: FileManifest | null,
  after: FileManifest | null,
): [DiffSide | null, DiffSide | null] {
  const lines =
    before !== null &&
    after !== null &&
    LINE_FORMATS.has(diffFormat(before.format)) &&
    diffFormat(before.format) === diffFormat(after.format);
  const cache = new ChunkCache(repo);
  // Sized at once for every span the manifests list (an upper bound: shared segments stay whole).
  const spanCount = (m: FileManifest | null): number =>
    !m ? 0 : m.spans ? m.spans.length : (m.segments ?? []).reduce((n, r) => n + r.spans, 0);
  const table = new ChunkTable(spanCount(before) + spanCount(after));
  // For line files, segments on both sides (as a multiset) stay whole; the others are expanded.
  const sharedSeg = new Map<string, number>();
  if (lines) {
    const segCount = new Map<string, number>();
    for (const r of before.segments ?? []) segCount.set(r.hash, (segCount.get(r.hash) ?? 0) + 1);
    for (const r of after.segments ?? []) {
      const n = segCount.get(r.hash) ?? 0;
      if (n > (sharedSeg.get(r.hash) ?? 0)) sharedSeg.set(r.hash, (sharedSeg.get(r.hash) ?? 0) + 1);
    }
  }
  // Many segments to expand: the read-ahead will likely need the decoding thread, so it is started now and
  // gets ready while the parts are built.
  if (lines) {
    let unshared = 0;
    const left = new Map(sharedSeg);
    for (const r of before.segments ?? []) {
      const n = left.get(r.hash) ?? 0;
      if (n > 0) left.set(r.hash, n - 1);
      else unshared++;
    }
    if (unshared >= EARLY_POOL_SEGMENTS) sharedCompressPool();
  }
  const partsOf = (m: FileManifest): Parts => {
    const parts = new Parts(spanCount(m));
    if (!m.segments) {
      parts.pushSpans(m.spans ?? [], table);
      return parts;
    }
    const left = new Map(sharedSeg);
    for (const r of m.segments) {
      const n = left.get(r.hash) ?? 0;
      if (n > 0) {
        left.set(r.hash, n - 1);
        parts.pushSegment(r);
      } else if (!parts.pushSegmentSpans(repo.objects, r, table))
        parts.pushSpans(repo.objects.segmentSpans(r), table);
    }
    return parts;
  };
  // The segments to expand, looked up at once (~50 µs each one by one, cold, in a 1 GiB diff's ~800).
  repo.objects.packs.prefetchLocations(
    [...(before?.segments ?? []), ...(after?.segments ?? [])]
      .filter((r) => !sharedSeg.has(r.hash))
      .map((r) => r.hash),
  );
  let pb = before ? partsOf(before) : null;
  let pa = after ? partsOf(after) : null;
  if (!pb || !pa) {
    // One side only: nothing cancels, every part is read.
    const solo =
      (tag: string): PartIds =>
      (i) =>
        `${tag}${i}`;
    return [
      pb && before ? sideFromParts(repo, path, before, pb, table, cache, solo('b')) : null,
      pa && after ? sideFromParts(repo, path, after, pa, table, cache, solo('a')) : null,
    ];
  }
  if (lines) [pb, pa] = refineParts(pb, pa, table.size);
  const { ids, unmatched, partner } = pairParts(pb, pa);
  const plans = readPlans([pb, pa], unmatched, table, cache.wanted);
  const sb = sideFromParts(repo, path, before!, pb, table, cache, ids[0], plans?.[0]);
  const sa = sideFromParts(repo, path, after!, pa, table, cache, ids[1], plans?.[1]);
  // The first chunks of both plans go to the decoding thread now, while the engine sets up.
  if (plans) for (const plan of plans) cache.readAhead(plan, 0);
  // The pairing holds for the pieces as parted; glued pieces (glueRecords) are paired by their ids.
  if (sb.pieces.length === pb.n && sa.pieces.length === pa.n) {
    sb.partner = partner[0];
    sa.partner = partner[1];
  }
  return [sb, sa];
}

/**
 * True when two manifests certainly describe the same bytes without reading them: equal `content` fields
 * (the hash of the file's canonical whole-chunk manifest, written with sub-chunk span manifests), or one
 * manifest's hash being the other's `content`.
 */
export function sameContent(bh: string, before: FileManifest, ah: string, after: FileManifest): boolean {
  const cb = contentOf(before) ?? bh;
  const ca = contentOf(after) ?? ah;
  return cb === ca && before.format === after.format;
}

const contentOf = (m: FileManifest): string | undefined => {
  const c = (m as FileManifest & { content?: unknown }).content;
  return typeof c === 'string' ? c : undefined;
};

/** Decoded chunks recently read, up to a byte budget (LRU), shared by both sides of a diff. */
const CHUNK_CACHE_BYTES = 8 * 1024 * 1024;
/** Bytes of read-ahead batches that views of chunks still wanted may keep alive (ChunkCache.keepView). */
const VIEW_BATCH_BYTES = 8 * 1024 * 1024;
/** Chunks decoded ahead of the reader, per side, and per batch sent to the decoding thread. */
const READ_AHEAD_CHUNKS = 256;
const READ_AHEAD_BATCH = 32;
/** Plans shorter than this are read inline: starting the decoding thread would cost more than it saves. */
const READ_AHEAD_MIN = 64;
/** A diff expanding at least this many segments of the before side starts the decoding thread at once. */
const EARLY_POOL_SEGMENTS = 8;
/**
 * Batches on the decoding thread at once. The chunks read ahead beyond these wait on this thread (staged),
 * and the decoding thread is given the furthest ahead of them whenever a batch comes back: a chunk the reader
 * reaches while still staged is decoded here, rather than waited for: the two threads work from opposite
 * ends of what was read ahead (the 1% edit diff's reader waited ~0.5 s for the decoding thread before).
 */
const MAX_IN_FLIGHT = 2;
/**
 * The reader gives the event loop a turn every this many chunks while batches are out: the pool hands the
 * decoding thread its next batch, and this side feeds it, only when the thread's answer is received, which
 * a reader whose chunks are all at hand (promises resolved in microtasks) would otherwise put off until it
 * had to wait.
 */
const YIELD_EVERY = 8;

/**
 * The chunks one side will read, in order (the pieces that do not cancel), and how far they have been sent
 * ahead to the decoding thread.
 */
interface ReadPlan {
  hashes: string[];
  /** Position in `hashes` of each part index that is in the plan. */
  at: Map<number, number>;
  sent: number;
  /** How far the chunks' locations have been looked up (LocalPacks.prefetchAhead). */
  located: number;
}

/**
 * A reused buffer of the diff's reads: stored bytes read ahead (shared: the decoding thread reads them in
 * place), or decoded chunks (an ArrayBuffer the decoding thread decodes a batch into, moved there and back).
 * It is reused once no chunk in it is held (decoded, read out, dropped, or copied into the LRU) and its batch
 * is back (what is read out of it is copied: ChunkCache.cutFrom).
 */
interface DecodeSlot {
  /** (A decoded slot's, while at the decoding thread or before its first batch came back: none.) */
  buf: SharedArrayBuffer | ArrayBuffer | undefined;
  /** Chunks in it not yet released (ChunkCache.drop). */
  held: number;
  inFlight: boolean;
  /** Released: in the free list (or let go when that was full); taken again by takeSlot only. */
  free: boolean;
  /** Its buffer was moved to the decoding thread and not given back: never reused. */
  leaked: boolean;
}
/** Bytes of a new slot at least (a batch of chat chunks is ~0.7 MB decoded); free slots kept at most, per kind. */
const SLOT_BYTES = 1024 * 1024;
const MAX_FREE_SLOTS = 16;
/** Slot size asked for a read-ahead batch's stored bytes (~0.13 MB of compressed chat chunks). */
const READ_SLOT_BYTES = 256 * 1024;
/** Chunks up to this size are decoded on this thread into its reused scratch buffer. */
const SCRATCH_MAX = 1024 * 1024;

/**
 * Bytes [off, off + len) of chunk `c`: a copy when `copy` (c is in a reused buffer) or when a view would keep a
 * buffer more than twice its size alive (a piece the engine keeps must not keep a batch), else a view.
 */
function cut(hash: string, c: Uint8Array, off: number, len: number, copy: boolean): Uint8Array {
  if (off + len > c.length)
    throw new StrataError('INTEGRITY', `span exceeds chunk ${hash}`, { hash, off, len });
  return copy || (c.buffer.byteLength > 2 * c.length && len < c.length / 2)
    ? Buffer.from(c.subarray(off, off + len))
    : c.subarray(off, off + len);
}

class ChunkCache {
  private readonly map = new Map<string, Uint8Array>();
  /** Chunks sent ahead to the decoding thread: their bytes, or undefined when they must be read inline. */
  private readonly ahead = new Map<string, Promise<Uint8Array | undefined>>();
  /**
   * Chunks read ahead (stored bytes at hand) and not yet sent to the decoding thread, by hash, and their
   * order of reading (`stagedOrder[stagedHead..]`; hashes no longer in `staged` are skipped).
   */
  private readonly staged = new Map<string, Encoded>();
  private stagedOrder: string[] = [];
  private stagedHead = 0;
  /** Batches sent to the decoding thread and not yet back. */
  private inFlight = 0;
  private gets = 0;
  /** How many planned pieces (both sides) read each chunk. */
  readonly wanted = new Map<string, number>();
  /** Whether a segment's last span may end inside a record (see glueRecords), by segment hash. */
  readonly openSegments = new Map<string, boolean>();
  private bytes = 0;
  /** Chunks decoded ahead that planned pieces still read: views into their batches (keepView). */
  private readonly views = new Map<string, Uint8Array>();
  /** Batches the views keep alive: how many views each, and their bytes together. */
  private readonly batchRefs = new Map<ArrayBufferLike, number>();
  private viewBatchBytes = 0;
  /** The slot each chunk sent to the decoding thread is decoded into, until it is read out or dropped. */
  private readonly slotOf = new Map<string, DecodeSlot>();
  /** The slot each staged chunk's stored bytes were read into, until they are decoded or dropped. */
  private readonly encSlotOf = new Map<string, DecodeSlot>();
  /** Free slots, of each kind. */
  private readonly freeRead: DecodeSlot[] = [];
  private readonly freeDecoded: DecodeSlot[] = [];
  /** Where this thread decodes a chunk that one piece reads (copied out at once). */
  private scratch = Buffer.alloc(0);
  private readonly memory = memoryLimit();
  constructor(private readonly repo: Repository) {}

  /**
   * Bytes [off, off + len) of a chunk. Sub-chunk spans make both sides read pieces of the same chunks in turn
   * (an old chunk's replaced range, then the new chunk holding several edited records): without this cache
   * each would be decompressed and verified once per piece.
   *
   * What comes back is the caller's to keep: a copy of a chunk decoded into a reused buffer (a DecodeSlot, or
   * this thread's scratch), else a view of the chunk's own buffer when it is most of it (a copy of every chunk
   * was 1 GB of garbage). The slot's view is cut here, in the same synchronous run that releases it.
   */
  async read(hash: string, off: number, len: number): Promise<Uint8Array> {
    if (++this.gets % YIELD_EVERY === 0) {
      // Chunks decoded into fresh buffers and the pieces cut from them die as the reader moves on: above the
      // memory limit they are collected (storage/memory-limit.ts).
      this.memory.check();
      if (this.inFlight > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const view = this.views.get(hash);
    if (view) {
      const out = this.cutFrom(hash, view, off, len);
      // The last planned piece of this chunk lets its view (and, with the last view, its batch) go.
      const left = (this.wanted.get(hash) ?? 1) - 1;
      this.wanted.set(hash, left);
      if (left <= 0) this.dropView(hash, view);
      return out;
    }
    const hit = this.map.get(hash);
    if (hit) {
      this.map.delete(hash);
      this.map.set(hash, hit);
      return cut(hash, hit, off, len, false);
    }
    let data: Uint8Array | undefined;
    const enc = this.staged.get(hash);
    const pending = enc ? undefined : this.ahead.get(hash);
    if (enc) {
      // Read ahead but not yet given to the decoding thread: decoded here rather than waited for, into this
      // thread's scratch buffer when no other planned piece reads the chunk (its span is copied out at once).
      this.staged.delete(hash);
      const read = this.detach(this.encSlotOf, hash);
      const size = decodedSize(enc);
      const left = (this.wanted.get(hash) ?? 1) - 1;
      this.wanted.set(hash, left);
      if (left <= 0 && size <= SCRATCH_MAX) {
        if (this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, 64 * 1024));
        const dst = this.scratch.subarray(0, size);
        const ok = decodeVerifiedInto(enc, dst);
        if (read) this.drop(read);
        if (ok) return cut(hash, dst, off, len, true);
      } else {
        const dst = Buffer.allocUnsafeSlow(size);
        data = decodeVerifiedInto(enc, dst) ? dst : undefined;
        if (read) this.drop(read);
        if (data && left <= 0) return cut(hash, data, off, len, false);
      }
    } else if (pending) {
      this.ahead.delete(hash);
      data = await pending;
      // A chunk no other planned piece reads is not kept: an old chunk around one edit is read once.
      const left = (this.wanted.get(hash) ?? 1) - 1;
      this.wanted.set(hash, left);
      if (data && left <= 0) {
        const out = this.cutFrom(hash, data, off, len);
        this.release(hash);
        return out;
      }
      if (data) {
        // Cut before keepView, which may let the slot go (copied into the LRU) when over its budget.
        const out = this.cutFrom(hash, data, off, len);
        this.keepView(hash, data);
        return out;
      }
      this.release(hash);
    }
    // Read inline when not sent ahead, or when the decoding thread could not decode it (a delta-coded
    // chunk, or a damaged one: the inline read then reports what is wrong).
    data ??= this.repo.objects.chunk(hash);
    this.remember(hash, data);
    return cut(hash, data, off, len, false);
  }

  /**
   * Keeps a chunk decoded ahead that more planned pieces read, as the view into its batch it is: the pieces
   * of one chunk are mostly read one after the other, so copying it out (as the LRU must, not to keep whole
   * batches alive) cost a copy of nearly every chunk a deletion diff reads. Past VIEW_BATCH_BYTES of batches
   * kept alive, the oldest views are copied into the LRU instead.
   */
  private keepView(hash: string, data: Uint8Array): void {
    if (data.buffer.byteLength <= 2 * data.length) {
      this.remember(hash, data);
      this.release(hash);
      return;
    }
    this.views.set(hash, data);
    const n = this.batchRefs.get(data.buffer) ?? 0;
    if (n === 0) this.viewBatchBytes += data.buffer.byteLength;
    this.batchRefs.set(data.buffer, n + 1);
    for (const [k, v] of this.views) {
      if (this.viewBatchBytes <= VIEW_BATCH_BYTES) break;
      this.remember(k, v); // (a copy: a view of a batch is never kept alone)
      this.dropView(k, v);
    }
  }

  private dropView(hash: string, view: Uint8Array): void {
    this.views.delete(hash);
    this.release(hash);
    const n = (this.batchRefs.get(view.buffer) ?? 1) - 1;
    if (n > 0) this.batchRefs.set(view.buffer, n);
    else {
      this.batchRefs.delete(view.buffer);
      this.viewBatchBytes -= view.buffer.byteLength;
    }
  }

  /**
   * cut() for a chunk that may be in a slot: copied out of it, however much of the chunk the piece is, so that
   * the slot is always reused. (Handing most of a chunk out as a view, and never reusing its slot, kept the
   * decoding thread allocating new slots: glibc keeps what the main thread frees of them in that thread's
   * arenas, ~100 MB of the 1 GiB keyed shuffle diff's peak RSS, for no time saved, measured back to back.)
   */
  private cutFrom(hash: string, c: Uint8Array, off: number, len: number): Uint8Array {
    const slot = this.slotOf.get(hash);
    return cut(hash, c, off, len, !!slot && !slot.leaked);
  }

  /** The chunk decoded into a slot is read out or dropped: the slot is reused once all its chunks are. */
  private release(hash: string): void {
    this.unhold(this.slotOf, hash);
  }

  /** Forgets which slot `hash` is in, returning it (still held: `drop` it when done). */
  private detach(of: Map<string, DecodeSlot>, hash: string): DecodeSlot | undefined {
    const slot = of.get(hash);
    if (slot) of.delete(hash);
    return slot;
  }

  private unhold(of: Map<string, DecodeSlot>, hash: string): void {
    const slot = this.detach(of, hash);
    if (slot) this.drop(slot);
  }

  private drop(slot: DecodeSlot): void {
    slot.held--;
    this.freeIfDone(slot);
  }

  private freeIfDone(slot: DecodeSlot): void {
    if (slot.held > 0 || slot.inFlight || slot.free || slot.leaked || !slot.buf) return;
    slot.free = true;
    const free = slot.buf instanceof SharedArrayBuffer ? this.freeRead : this.freeDecoded;
    if (free.length < MAX_FREE_SLOTS) free.push(slot);
  }

  /**
   * A free slot of at least `size` bytes, or a new one: shared for stored bytes read ahead (the decoding
   * thread reads them in place), an ArrayBuffer for decoded ones (moved to the thread and back).
   */
  private takeSlot(size: number, shared: boolean): DecodeSlot {
    const free = shared ? this.freeRead : this.freeDecoded;
    const i = free.findIndex((s) => s.buf!.byteLength >= size);
    const slot = i >= 0 ? free.splice(i, 1)[0]! : undefined;
    if (slot) {
      slot.free = false;
      return slot;
    }
    // A new decoded slot's buffer is made by the decoding thread (SLOT_BYTES at least): made here, zeroing
    // it cost this thread, the busier one, ~1 s of a shuffle's diff.
    const buf = shared ? new SharedArrayBuffer(Math.max(size, SLOT_BYTES)) : undefined;
    return { buf, held: 0, inFlight: false, free: false, leaked: false };
  }

  private remember(hash: string, data: Uint8Array): void {
    if (data.length > CHUNK_CACHE_BYTES / 4) return;
    // A chunk decoded on the pool is a view into its batch's buffer: kept alone, it would keep the batch, or
    // (in a slot, which is reused once released) change under the cache.
    if (data.buffer.byteLength > 2 * data.length || this.slotOf.has(hash)) {
      const copy = Buffer.allocUnsafe(data.length);
      copy.set(data);
      data = copy;
    }
    this.map.set(hash, data);
    this.bytes += data.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= CHUNK_CACHE_BYTES) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }

  /**
   * Keeps the decoding thread READ_AHEAD_CHUNKS ahead of position `pos` of a side's plan: the stored bytes
   * are read here (a pread each), decoded and verified on the other core while this thread parses.
   */
  readAhead(plan: ReadPlan, pos: number): void {
    // Refilled in whole batches once half the window is used: one message per batch, not per chunk.
    if (plan.sent - pos > READ_AHEAD_CHUNKS / 2) return;
    const until = Math.min(plan.hashes.length, pos + READ_AHEAD_CHUNKS);
    // Whole batches only, but for the plan's last one.
    while (until - plan.sent >= READ_AHEAD_BATCH || (until === plan.hashes.length && plan.sent < until)) {
      const end = Math.min(until, plan.sent + READ_AHEAD_BATCH);
      plan.located = this.repo.objects.packs.prefetchAhead(plan.hashes, plan.sent, end, plan.located);
      const hashes: string[] = [];
      for (let i = plan.sent; i < end; i++) {
        const h = plan.hashes[i]!;
        if (
          this.map.has(h) ||
          this.views.has(h) ||
          this.ahead.has(h) ||
          this.staged.has(h) ||
          hashes.includes(h)
        )
          continue;
        hashes.push(h);
      }
      plan.sent = end;
      if (hashes.length === 0) continue;
      // Room for the stored bytes in one shared buffer, read into it from the packs by the thread that decodes
      // them (Encoded.src): mostly the decoding thread, so this one makes no read for them (~13k preads of
      // the 1 GiB 1% edit diff, ~0.15 s). What cannot be read so (missing, unreadable, not a plain or zstd
      // chunk) is read inline when (if) its piece is read, which reports what is wrong.
      // ... into a reused slot (READ_SLOT_BYTES is ~8 batches of compressed chat chunks; a larger read gets a
      // buffer of its own), held until each chunk read into it is decoded or dropped.
      const slot = this.takeSlot(READ_SLOT_BYTES, true);
      for (const e of this.repo.objects.packs.readDecodable(hashes, slot.buf as SharedArrayBuffer, {
        defer: true,
      })) {
        if (!e) continue;
        this.staged.set(e.hash, e);
        this.stagedOrder.push(e.hash);
        if (e.bytes.buffer === slot.buf) {
          slot.held++;
          this.encSlotOf.set(e.hash, slot);
        }
      }
      this.freeIfDone(slot);
    }
    this.feed();
  }

  /**
   * Sends the furthest-ahead staged chunks to the decoding thread, a batch at a time, while fewer than
   * MAX_IN_FLIGHT batches are there: the reader decodes the nearest ones itself if it gets to them first, so
   * the two threads work from opposite ends of what was read ahead.
   */
  private feed(): void {
    // Staged chunks never asked for (the engine cancelled more than the plan foresaw) are dropped oldest
    // first, as are chunks decoded ahead: what is held ahead stays bounded.
    for (const k of this.ahead.keys()) {
      if (this.ahead.size + this.staged.size <= 4 * READ_AHEAD_CHUNKS) break;
      this.ahead.delete(k);
      this.release(k);
    }
    while (this.staged.size > 4 * READ_AHEAD_CHUNKS && this.stagedHead < this.stagedOrder.length) {
      const h = this.stagedOrder[this.stagedHead++]!;
      if (this.staged.delete(h)) this.unhold(this.encSlotOf, h);
    }
    // Hashes the reader decoded itself (at the front) are forgotten.
    while (this.stagedHead < this.stagedOrder.length && !this.staged.has(this.stagedOrder[this.stagedHead]!))
      this.stagedHead++;
    if (this.stagedHead > 1024 || this.stagedHead === this.stagedOrder.length) {
      this.stagedOrder = this.stagedOrder.slice(this.stagedHead);
      this.stagedHead = 0;
    }
    while (this.inFlight < MAX_IN_FLIGHT && this.staged.size > 0) {
      const batch: Encoded[] = [];
      while (batch.length < READ_AHEAD_BATCH && this.stagedOrder.length > this.stagedHead) {
        const h = this.stagedOrder.pop()!;
        const e = this.staged.get(h);
        if (!e) continue;
        this.staged.delete(h);
        batch.push(e);
      }
      if (batch.length === 0) break;
      this.inFlight++;
      // Decoded into a reused slot (not a new buffer per batch, garbage until this thread's next full
      // collection: ~64 MB of the 1% edit diff's peak), which is free again once each chunk in it has been read
      // out (copied), dropped, or copied into the LRU.
      const slot = this.takeSlot(
        batch.reduce((n, e) => n + decodedSize(e), 0),
        false,
      );
      slot.held = batch.length;
      slot.inFlight = true;
      for (const e of batch) this.slotOf.set(e.hash, slot);
      const decoded = sharedCompressPool()
        .decodeKeyed(batch, undefined, slot.buf, false, SLOT_BYTES)
        .then((d) => {
          slot.buf = d.buffer;
          return d.data;
        });
      // The stored bytes stay in their read slots until the decoding thread is done with them.
      const read = batch.map((e) => this.detach(this.encSlotOf, e.hash));
      const settled = (): void => {
        this.inFlight--;
        slot.inFlight = false;
        if (!slot.buf?.byteLength) slot.leaked = true; // moved to the thread and not given back
        this.freeIfDone(slot);
        for (const r of read) if (r) this.drop(r);
        this.feed();
      };
      decoded.then(settled, settled);
      batch.forEach((e, k) =>
        this.ahead.set(
          e.hash,
          decoded.then(
            (out) => out[k],
            () => undefined,
          ),
        ),
      );
    }
  }
}

/** The read plan of each side: the chunks of the parts that have no partner on the other side, in order. */
function readPlans(
  sides: [Parts, Parts],
  unmatched: [Uint8Array, Uint8Array],
  table: ChunkTable,
  wanted: Map<string, number>,
): [ReadPlan, ReadPlan] | undefined {
  const plans = ([0, 1] as const).map((s): ReadPlan => {
    const plan: ReadPlan = { hashes: [], at: new Map(), sent: 0, located: 0 };
    const p = sides[s];
    for (let i = 0; i < p.n; i++) {
      if (!unmatched[s][i] || p.isSegment(i)) continue;
      const h = table.hash(p.chunk[i]!);
      plan.at.set(i, plan.hashes.length);
      plan.hashes.push(h);
      wanted.set(h, (wanted.get(h) ?? 0) + 1);
    }
    return plan;
  }) as [ReadPlan, ReadPlan];
  return plans[0].hashes.length + plans[1].hashes.length >= READ_AHEAD_MIN ? plans : undefined;
}

/**
 * A stored file alone (to diff against a working-tree file): ids name chunks by hash, as the working tree's
 * do (`sideFromWorktree`), so that equal chunks cancel across the two.
 */
export function sideFromManifest(repo: Repository, path: string, m: FileManifest): DiffSide {
  const table = new ChunkTable();
  const parts = new Parts();
  for (const [h, off, len] of repo.objects.spans(m)) parts.push(table.number(h), off, len);
  const ids: PartIds = (i) => {
    const h = table.hash(parts.chunk[i]!);
    const off = parts.off[i]!;
    const len = parts.len[i]!;
    return off === 0 ? `${h}+${len}` : `${h}@${off}+${len}`;
  };
  return sideFromParts(repo, path, m, parts, table, new ChunkCache(repo), ids);
}

/**
 * A span-coded stored version seen as its canonical chunks (canonical-chunks.ts): pieces with the ids the
 * working-tree side gives the same chunks (`<hash>+<length>`), each read through the stored spans, so that a
 * working-tree file cancels every chunk it did not change against it.
 */
export function sideFromCanonical(
  repo: Repository,
  path: string,
  m: FileManifest,
  canonical: ReadonlyArray<Span>,
  other?: DiffSide,
): DiffSide {
  const n = canonical.length;
  const starts = new Float64Array(n);
  const lens = new Float64Array(n);
  const pieces: DiffPiece[] = new Array<DiffPiece>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const [h, , len] = canonical[i]!;
    starts[i] = at;
    lens[i] = len;
    at += len;
    pieces[i] = { id: `${h}+${len}`, length: len };
  }
  const open: boolean[] = m.long
    ? openEnds(starts, lens, m.long)
    : LINE_FORMATS.has(diffFormat(m.format))
      ? pieces.map((p) => p.length >= repo.chunking.max)
      : new Array<boolean>(n).fill(false);
  // The stored spans, read ahead on the decoding thread where they hold chunks the other side lacks.
  const table = new ChunkTable();
  const parts = new Parts();
  for (const [h, off, len] of repo.objects.spans(m)) parts.push(table.number(h), off, len);
  const cache = new ChunkCache(repo);
  const plan = other ? canonicalReadPlan(parts, table, pieces, starts, open, other, cache.wanted) : undefined;
  // Only the stored parts' reader: a piece object per stored part (as a stored side has) would be held by
  // this side for nothing (~8 MB of a 1 GiB working-tree diff's heap).
  const stored = partsReader(repo, parts, table, cache, plan);
  const side: DiffSide = {
    path,
    format: diffFormat(m.format),
    size: m.size,
    pieces,
    readPiece: (i) => stored.readRange(starts[i]!, lens[i]!),
    readRange: stored.readRange,
    ...(dialectOf(m.options) ? { dialect: dialectOf(m.options) } : {}),
  };
  return glueRecords(side, open);
}

/**
 * The stored parts a canonical side will read: those under its pieces whose ids the other side lacks (as a
 * multiset), and under every piece of a long record (glued, so cancelled only whole). Undefined when too few
 * to be worth the decoding thread.
 */
function canonicalReadPlan(
  parts: Parts,
  table: ChunkTable,
  pieces: ReadonlyArray<DiffPiece>,
  starts: Float64Array,
  open: ReadonlyArray<boolean>,
  other: DiffSide,
  wanted: Map<string, number>,
): ReadPlan | undefined {
  const have = new Map<string, number>();
  for (const p of other.pieces) have.set(p.id, (have.get(p.id) ?? 0) + 1);
  const read = new Uint8Array(pieces.length);
  for (let i = 0; i < pieces.length; i++) {
    const k = have.get(pieces[i]!.id) ?? 0;
    if (k > 0 && !open[i] && !(i > 0 && open[i - 1])) have.set(pieces[i]!.id, k - 1);
    else read[i] = 1;
  }
  const plan: ReadPlan = { hashes: [], at: new Map(), sent: 0, located: 0 };
  // Parts and pieces both cover the file in order: walk them together.
  let j = 0;
  let partStart = 0;
  for (let i = 0; i < parts.n; i++) {
    const partEnd = partStart + parts.len[i]!;
    while (j < pieces.length && starts[j]! + pieces[j]!.length <= partStart) j++;
    // Each piece read reads the part once (readRange): the chunk is wanted that many times.
    let need = 0;
    for (let k = j; k < pieces.length && starts[k]! < partEnd; k++) need += read[k]!;
    if (need > 0) {
      const h = table.hash(parts.chunk[i]!);
      plan.at.set(i, plan.hashes.length);
      plan.hashes.push(h);
      wanted.set(h, (wanted.get(h) ?? 0) + need);
    }
    partStart = partEnd;
  }
  return plan.hashes.length >= READ_AHEAD_MIN ? plan : undefined;
}

/**
 * A piece of a stored side. Its id is made when asked: two stored sides are paired by `partner` (the engine
 * then asks only glued pieces and other formats' readers for ids), and a string held per piece was ~10 MB of
 * the heap of a 1 GiB diff with hundreds of thousands of pieces.
 */
class StoredPiece implements DiffPiece {
  constructor(
    readonly length: number,
    private readonly ids: PartIds,
    private readonly i: number,
  ) {}

  get id(): string {
    return this.ids(this.i);
  }
}

/** Reads a stored version's parts: each part (`readPiece`), or any byte range across them (`readRange`). */
interface PartsReader {
  /** File offset of each part. */
  starts: Float64Array;
  readPiece(i: number): Promise<Uint8Array>;
  readRange(offset: number, length: number): Promise<Uint8Array>;
}

function partsReader(
  repo: Repository,
  parts: Parts,
  table: ChunkTable,
  cache: ChunkCache,
  plan?: ReadPlan,
): PartsReader {
  const starts = new Float64Array(parts.n);
  let at = 0;
  for (let i = 0; i < parts.n; i++) {
    starts[i] = at;
    at += parts.len[i]!;
  }
  const readSpan = (h: string, off: number, len: number): Promise<Uint8Array> => cache.read(h, off, len);
  const readPiece = async (i: number): Promise<Uint8Array> => {
    if (plan) {
      const pos = plan.at.get(i);
      if (pos !== undefined) cache.readAhead(plan, pos);
    }
    if (!parts.isSegment(i)) return readSpan(table.hash(parts.chunk[i]!), parts.off[i]!, parts.len[i]!);
    // A shared segment is read only when it did not cancel (it occurs more often on one side).
    const seg = parts.segment(i);
    const out: Uint8Array[] = [];
    for (const [h, off, len] of repo.objects.segmentSpans(seg)) out.push(await readSpan(h, off, len));
    return Buffer.concat(out, seg.size);
  };
  return {
    starts,
    readPiece,
    readRange: (offset, length) => readAcross(starts, parts.len, readPiece, offset, length),
  };
}

function sideFromParts(
  repo: Repository,
  path: string,
  m: FileManifest,
  parts: Parts,
  table: ChunkTable,
  cache: ChunkCache,
  ids: PartIds,
  plan?: ReadPlan,
): DiffSide {
  const n = parts.n;
  const pieces: DiffPiece[] = new Array<DiffPiece>(n);
  for (let i = 0; i < n; i++) {
    const len = parts.len[i]!;
    // A small integer (not a boxed double read from the column): ~16 bytes less per piece.
    pieces[i] = new StoredPiece(len <= 0x3fffffff ? len | 0 : len, ids, i);
  }
  const { starts, readPiece, readRange } = partsReader(repo, parts, table, cache, plan);
  const side: DiffSide = {
    path,
    format: diffFormat(m.format),
    size: m.size,
    pieces,
    readPiece,
    readRange,
    ...(dialectOf(m.options) ? { dialect: dialectOf(m.options) } : {}),
  };
  // Pieces of a record longer than the largest chunk are glued back into the whole record: exactly where the
  // manifest lists such records; for a manifest written before it did, wherever a line file's piece reaches
  // the end of a chunk of the maximum size.
  if (m.long) return glueRecords(side, openEnds(starts, parts.len, m.long));
  if (!LINE_FORMATS.has(side.format)) return side;
  const max = repo.chunking.max;
  const openEnded = cache.openSegments;
  const open = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    if (!parts.isSegment(i)) {
      open[i] = parts.off[i]! + parts.len[i]! >= max;
      continue;
    }
    // A segment ends inside a record if its last span does (decoded once per segment).
    const seg = parts.segment(i);
    let o = openEnded.get(seg.hash);
    if (o === undefined) {
      const last = repo.objects.segmentSpans(seg).at(-1);
      o = last !== undefined && last[1] + last[2] >= max;
      openEnded.set(seg.hash, o);
    }
    open[i] = o;
  }
  return glueRecords(side, open);
}

/**
 * For consecutive pieces (file offsets `starts`, lengths `lens`), whether each ends strictly inside one of
 * the records `long` ([start, length], ascending and disjoint): then it is glued to the next.
 */
export function openEnds(
  starts: ArrayLike<number>,
  lens: ArrayLike<number>,
  long: ReadonlyArray<readonly [number, number]>,
): boolean[] {
  const open = new Array<boolean>(starts.length).fill(false);
  let j = 0;
  for (let i = 0; i < starts.length; i++) {
    const end = starts[i]! + lens[i]!;
    while (j < long.length && long[j]![0] + long[j]![1] <= end) j++;
    open[i] = j < long.length && long[j]![0] < end;
  }
  return open;
}

/** The longest run of pieces glued into one unit (a record longer than this is compared in fragments). */
export const MAX_GLUED_BYTES = 8 * 1024 * 1024;

/**
 * The chunker cuts a record longer than the maximum chunk size (a long-context example) into pieces
 * (FORMAT.md rule 5), so a piece may end inside a record (`open[i]`). Such a piece is glued to the pieces
 * after it, up to one that ends at a record boundary: every unit the engine cancels or reads then holds
 * whole records (a long example is compared whole, not as fragments that are "not JSON"). Both versions of
 * an unchanged long record glue into units of the same id, which cancel unread.
 */
export function glueRecords(side: DiffSide, open: ReadonlyArray<boolean>): DiffSide {
  if (!open.some(Boolean)) return side;
  const groups: number[][] = [];
  let cur: number[] = [];
  let size = 0;
  for (let i = 0; i < side.pieces.length; i++) {
    cur.push(i);
    size += side.pieces[i]!.length;
    // A record beyond the cap is compared as fragments (raw lines, with a warning): memory stays bounded.
    if (!open[i] || size >= MAX_GLUED_BYTES) {
      groups.push(cur);
      cur = [];
      size = 0;
    }
  }
  if (cur.length) groups.push(cur);
  const pieces: DiffPiece[] = groups.map((g) => {
    if (g.length === 1) return side.pieces[g[0]!]!;
    const parts = g.map((i) => side.pieces[i]!);
    const lines = parts.every((p) => p.lines !== undefined)
      ? parts.reduce((n, p) => n + p.lines!, 0)
      : undefined;
    return {
      id: `glued:${parts.map((p) => p.id).join('|')}`,
      length: parts.reduce((n, p) => n + p.length, 0),
      ...(lines !== undefined ? { lines } : {}),
    };
  });
  return {
    ...side,
    pieces,
    readPiece: async (k) => {
      const g = groups[k]!;
      if (g.length === 1) return side.readPiece(g[0]!);
      const parts: Uint8Array[] = [];
      for (const i of g) parts.push(await side.readPiece(i));
      return Buffer.concat(parts, pieces[k]!.length);
    },
  };
}

/**
 * A working-tree file, chunked exactly as `add` would chunk it (or as it was already chunked to hash it:
 * `chunks`); pieces are re-read from disk on demand.
 */
export async function sideFromWorktree(
  absPath: string,
  path: string,
  format: string,
  chunkFormat: ChunkFormat,
  repo: Repository,
  options?: Record<string, string>,
  chunks?: { canonical: ReadonlyArray<Span>; long: ReadonlyArray<readonly [number, number]> },
): Promise<DiffSide> {
  const pieces: DiffPiece[] = [];
  const starts: number[] = [];
  let long: ReadonlyArray<readonly [number, number]>;
  let at = 0;
  if (chunks) {
    for (const [h, , len] of chunks.canonical) {
      pieces.push({ id: `${h}+${len}`, length: len });
      starts.push(at);
      at += len;
    }
    long = chunks.long;
  } else if (worthAChunkWorker(absPath)) {
    // Cut and hashed on a worker thread, as add does (worker-chunks.ts); no chunk is kept.
    const found: [number, number][] = [];
    for await (const b of chunkOnWorker(absPath, chunkFormat, repo.chunking, found, () => at)) {
      b.chunks.forEach((c, i) => {
        pieces.push({ id: `${b.hashes[i]!}+${c.length}`, length: c.length });
        starts.push(at);
        at += c.length;
      });
    }
    long = found;
  } else {
    const found: [number, number][] = [];
    for await (const c of chunkStream(
      createReadStream(absPath, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>,
      chunkFormat,
      repo.chunking,
      found,
    )) {
      pieces.push({ id: `${hashBytes(c)}+${c.length}`, length: c.length });
      starts.push(at);
      at += c.length;
    }
    long = found;
  }
  // One descriptor for all the pieces read (opening the file per piece was ~0.2 s of a 1 GiB working-tree
  // diff's ~10k pieces), closed by close() when the diff is done.
  let fd: number | undefined;
  const readPiece = async (i: number): Promise<Uint8Array> => {
    fd ??= openSync(absPath, 'r');
    const buf = Buffer.allocUnsafe(pieces[i]!.length); // filled below, or an error
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, starts[i]! + got);
      if (n === 0) throw new StrataError('CONFLICT', `${path} changed while it was being diffed`, { path });
      got += n;
    }
    return buf;
  };
  const close = (): void => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  const side: DiffSide = {
    path,
    format: diffFormat(format),
    size: at,
    pieces,
    readPiece,
    close,
    readRange: (offset, length) =>
      readAcross(
        starts,
        pieces.map((p) => p.length),
        readPiece,
        offset,
        length,
      ),
    ...(dialectOf(options) ? { dialect: dialectOf(options) } : {}),
  };
  return glueRecords(
    side,
    openEnds(
      starts,
      pieces.map((p) => p.length),
      long,
    ),
  );
}
