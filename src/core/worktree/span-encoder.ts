/**
 * Span-coding of a new version of a record file (docs/FORMAT.md, "Span-coded versions"): the chunks of the
 * new version that the repository does not have are described, record by record, as spans into the chunks
 * that held the same records in the previous version; only records found nowhere are stored, gathered into
 * new "literal" chunks.
 *
 * The encoder keys the records (lines, '\n'-terminated; for CSV/TSV, at a '\n' outside quotes) of the new
 * chunks by a fast 53-bit hash of their bytes, then looks up the records of the previous version's bytes
 * that the new version does not already reuse as whole chunks — the part of the old file that changed;
 * every match is verified byte for byte. Spans so end only where records do: the diff, which cancels equal
 * spans of two versions and parses the rest, never parses a piece of a CSV record (a new chunk that ends
 * inside quotes, a piece of an over-long record, is stored whole).
 */
import {
  decodedSize,
  decodeVerifiedInto,
  sharedCompressPool,
  type CompressPool,
  type Decoded,
  type Encoded,
} from '../../storage/compress-pool.js';
import type { Hash } from '../../storage/hash.js';
import type { LocalPacks } from '../../storage/local-packs.js';
import { KIND } from '../../storage/pack-format.js';
import { memoryLimit } from '../../storage/memory-limit.js';
import { CODEC_NONE, CODEC_ZSTD } from '../../storage/codec.js';
import {
  keyAll,
  recordEnd,
  recordKey,
  recordKeyOf,
  splitKeys,
  type RecordTriples,
} from '../../storage/record-keys.js';

export { recordKey };
import type { Span } from '../objects/objects.js';
import type { Repository } from '../repository.js';

/** Records shorter than this are left literal: a span costs ~80 bytes of manifest. */
const MIN_RECORD = 16;
/** Bounds the keyed records of the new chunks (~40 bytes each) when a huge part of a file changed. */
const MAX_RECORDS = 4_000_000;
/**
 * A new chunk is span-coded only if its found records come from at most this many old chunks: reading it
 * decodes each of them, so a chunk gathered from records scattered over many old chunks (a shuffle) is
 * cheaper to store whole than to read.
 */
export const MAX_SOURCES = 4;

/** Chunks read between turns of the event loop (see yieldToEventLoop). */
export const YIELD_EVERY = 256;

/**
 * zstd-decoded buffers (a native addon's) are freed by finalizers that only run on a turn of the event
 * loop: a long synchronous run of reads would hold every decoded chunk until it ends.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * A piece of a span-coded chunk: bytes of an old chunk, or bytes [start, end) of the new chunk itself. A
 * literal's `parts` may be views of the encoder's reused read buffer: valid until the next `encode`.
 */
export type Piece =
  | { kind: 'ref'; chunk: string; offset: number; length: number }
  | { kind: 'lit'; start: number; end: number; parts: Uint8Array[] };

/** Byte ranges [start, end) of chunks, by chunk hash. */
export type Coverage = Map<string, [number, number][]>;

/** Parts of [s, e) not covered by `ranges` (sorted by start). */
function uncovered(
  s: number,
  e: number,
  ranges: readonly [number, number][] | undefined,
): [number, number][] {
  if (!ranges) return [[s, e]];
  const out: [number, number][] = [];
  let at = s;
  for (const [a, b] of ranges) {
    if (b <= at) continue;
    if (a >= e) break;
    if (a > at) out.push([at, a]);
    at = Math.max(at, b);
    if (at >= e) break;
  }
  if (at < e) out.push([at, e]);
  return out;
}

/**
 * Reads fresh chunk `i` of the new version; `checked`: verified against its hash (the file may change
 * meanwhile). Unchecked bytes serve only to find candidates. `into`, if given, is a buffer the reader may
 * read the bytes into (returning a view of it) instead of allocating: the window reuses its buffers so.
 */
export type FreshReader = (i: number, checked: boolean, into?: Uint8Array) => Uint8Array;

/** What is known of a record of the new version: unmatched, or found at an old entry (verified or not). */
const NONE = 0;
const FOUND = 1;
const VERIFIED = 2;
const DIFFERENT = 3;
/** The last record of a CSV/TSV chunk that ends inside quotes: the chunk is not span-coded. */
const UNBALANCED = 4;

/** Fresh chunks the indexing pass keeps read at once to verify matches (a window over the new file). */
const WINDOW_CHUNKS = 64;
/**
 * Bytes of unmatched records kept from the window for the literal pieces, so that a span-coded chunk need
 * not be read a third time; past this, a chunk is read again when encoded.
 */
const KEEP_UNMATCHED = 8 << 20;

/** A typed array at least `n` long (twice as long as `a`, or more) holding the same values. */
function grown<T extends Uint32Array | Int32Array | Uint8Array | Float64Array>(a: T, n = 0): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(a.length * 2, n));
  b.set(a);
  return b;
}

/** Limits and sizes of a SpanEncoder (tests force small windows). */
export interface EncoderLimits {
  /** Fresh chunks in the window (WINDOW_CHUNKS). */
  window?: number;
  /** Bytes of unmatched records kept from the window (KEEP_UNMATCHED). */
  keepUnmatched?: number;
  /** Records expected (an estimate): the record arrays and the key table are sized for it up front. */
  records?: number;
  /** Largest fresh chunk: the window's reusable buffers are this long. */
  maxChunk?: number;
  /** CSV/TSV: records end at a '\n' outside double quotes (record-keys.ts recordEnd). */
  quoted?: boolean;
}

/**
 * Span-codes the fresh chunks of a new version. The records of the fresh chunks are keyed first; then one
 * pass over the old bytes resolves each key to its first old record and verifies that match byte for byte
 * against the fresh chunk, read through a small window (the old and the new file run in the same order
 * for edits, appends and deletions). Old chunks are so decoded once; a match the window missed (records
 * moved far) is verified when its chunk is encoded, reading the old chunk again.
 */
export class SpanEncoder {
  /** Record key -> the first record of the fresh chunks with that key (others chained in `nextSame`). */
  private wanted: RecordTable;
  /** Per record of the fresh chunks, in file order: end in its chunk, key, state and match. */
  private ends: Uint32Array;
  private keys: Float64Array;
  private nextSame: Int32Array;
  private state: Uint8Array;
  private oldChunk: Int32Array;
  private oldOffset: Uint32Array;
  private records = 0;
  /** Fresh chunks keyed so far (`count` once all are). */
  private count = 0;
  /** First record of each fresh chunk; firstRecord[count] = records. */
  private firstRecord = new Uint32Array(1 << 10);
  private readonly oldChunks: string[] = [];
  private readonly oldChunkIds = new Map<string, number>();
  private readonly window = new Map<number, Buffer>();
  /** Buffers of chunks that left the window, to read the next ones into. */
  private readonly spare: Uint8Array[] = [];
  /** The buffer `pieces` reads a chunk into (`maxChunk` bytes; none without it). */
  private scratch: Uint8Array | undefined;
  /** The window's own buffers (`maxChunk` bytes each). */
  private readonly owned = new WeakSet<ArrayBufferLike>();
  /** Per fresh chunk: 1 once read into the window, 2 if its unmatched records' bytes were not all kept. */
  private windowed = new Uint8Array(1 << 10);
  private readonly windowChunks: number;
  private readonly keepUnmatched: number;
  private readonly maxChunk: number;
  private readonly quoted: boolean;
  /** Bytes of records (by record number) not matched when their chunk left the window. */
  private readonly unmatched = new Map<number, Uint8Array>();
  private unmatchedBytes = 0;
  /** The old chunk being indexed: its hash and number in oldChunks (-1: not numbered yet). */
  private curHash = '';
  /** Its bytes (a Buffer view: matches are compared in place, without a view per record). */
  private curData: Buffer = Buffer.alloc(0);
  /** The fresh chunk chunkOf found last (matches come mostly in file order). */
  private lastChunk = 0;
  private cur = -1;
  /** The furthest fresh chunk read into the window (-1: none yet). */
  private cursor = -1;
  /** Bytes of old records indexed. */
  indexedBytes = 0;
  /** Matches verified without reading the old chunk again. */
  verifiedEarly = 0;

  /**
   * An encoder to which the fresh chunks are given in order (`want`) as they are cut, then resolved against
   * the previous version (`resolve`); `read` reads them again for the window and for encoding.
   */
  constructor(
    private readonly repo: Repository,
    private readonly read: FreshReader,
    limits: EncoderLimits = {},
  ) {
    this.windowChunks = limits.window ?? WINDOW_CHUNKS;
    this.keepUnmatched = limits.keepUnmatched ?? KEEP_UNMATCHED;
    this.maxChunk = limits.maxChunk ?? 0;
    this.quoted = limits.quoted ?? false;
    // Sized once for the expected records: doubling a table of a million records holds both copies a while.
    const n = Math.min(Math.max(limits.records ?? 0, 1 << 12), MAX_RECORDS);
    this.ends = new Uint32Array(n);
    this.keys = new Float64Array(n);
    this.nextSame = new Int32Array(n);
    this.state = new Uint8Array(n);
    this.oldChunk = new Int32Array(n);
    this.oldOffset = new Uint32Array(n);
    this.wanted = new RecordTable(n);
    this.wanted.keys = this.keys;
  }

  /**
   * Keys the records of the `count` fresh chunks (read through `read`), then resolves them against the
   * records of `previous` (a file manifest) in the byte ranges the new version does not reuse (`reused`:
   * ranges of chunks the new version's manifest already holds). Undefined if nothing matched.
   */
  static async build(
    repo: Repository,
    previous: Hash,
    reused: Coverage,
    count: number,
    read: FreshReader,
    limits: EncoderLimits = {},
  ): Promise<SpanEncoder | undefined> {
    const enc = new SpanEncoder(repo, read, limits);
    for (let i = 0; i < count; i++) {
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
      enc.want(i, read(i, false));
    }
    return (await enc.resolve(previous, reused)) ? enc : undefined;
  }

  /**
   * Resolves the keyed records against the records of `previous` (a file manifest) in the byte ranges the
   * new version does not reuse (`reused`: ranges of chunks the new version's manifest already holds).
   * False if nothing matched (the encoder is then of no use). Called once, after the last `want`.
   */
  async resolve(previous: Hash, reused: Coverage): Promise<boolean> {
    const repo = this.repo;
    let m;
    try {
      m = repo.objects.manifest(previous);
    } catch {
      return false;
    }
    if (this.wanted.size === 0) return false;
    for (const r of reused.values()) r.sort((x, y) => x[0] - y[0]);
    // The old spans to index, flat (an object and an array per span of a million-record file add up):
    // span n is hashes[n], bytes [ends[n] - lens[n], ends[n]) of it, ranges todo[at[n], at[n + 1]).
    const hashes: string[] = [];
    const ends: number[] = [];
    const lens: number[] = [];
    const at: number[] = [0];
    const todo: number[] = [];
    // One string per chunk: a span-coded manifest names each chunk in several spans, decoded separately.
    const names = new Map<string, string>();
    for (const [h, off, len] of repo.objects.spans(m)) {
      const left = uncovered(off, off + len, reused.get(h));
      if (!left.length) continue;
      let name = names.get(h);
      if (name === undefined) names.set(h, (name = h));
      hashes.push(name);
      ends.push(off + len);
      lens.push(len);
      for (const [s, e] of left) todo.push(s, e);
      at.push(todo.length);
    }
    names.clear();
    const chunks = new OldChunks(repo, hashes, this.quoted);
    let found = 0;
    const memory = memoryLimit();
    for (let n = 0; n < hashes.length; n++) {
      if (n % YIELD_EVERY === YIELD_EVERY - 1) {
        await yieldToEventLoop();
        // The old chunks decoded so far die as the index moves on: above the memory limit, collected.
        memory.check();
      }
      // Missing or unreadable: just not matched against (fsck reports it).
      const got = await chunks.get(n);
      if (!got || ends[n]! > got.data.length) continue;
      for (let k = at[n]!; k < at[n + 1]!; k += 2)
        found += this.index(hashes[n]!, got.data, got.recs, todo[k]!, todo[k + 1]!);
    }
    for (const [i, data] of this.window) this.leave(i, data);
    this.window.clear();
    this.spare.length = 0;
    // Encoding needs only each record's state and match: the key table goes (~20 bytes a record).
    this.wanted = new RecordTable(0);
    this.keys = new Float64Array(0);
    this.nextSame = new Int32Array(0);
    return found > 0;
  }

  /** The fresh chunk holding record r (binary search over firstRecord). */
  private chunkOf(r: number): number {
    const l = this.lastChunk;
    if (l < this.count && this.firstRecord[l]! <= r && r < this.firstRecord[l + 1]!) return l;
    if (l + 1 < this.count && this.firstRecord[l + 1]! <= r && r < this.firstRecord[l + 2]!)
      return (this.lastChunk = l + 1);
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.firstRecord[mid]! <= r) lo = mid;
      else hi = mid - 1;
    }
    return (this.lastChunk = lo);
  }

  /** Fresh chunk i through the window (read at most once by the indexing pass), or undefined. */
  private fresh(i: number): Buffer | undefined {
    const got = this.window.get(i);
    if (got) return got;
    if (this.windowed[i]) return undefined;
    // The window moves forward: a chunk far behind or ahead of it (records moved, a shuffle) is not read
    // now; its matches are verified when it is encoded, if it is span-coded at all.
    if (this.cursor >= 0 && (i < this.cursor - this.windowChunks || i > this.cursor + this.windowChunks)) {
      return undefined;
    }
    this.cursor = Math.max(this.cursor, i);
    this.windowed[i] = 1;
    if (this.window.size >= this.windowChunks) {
      const [j, old] = this.window.entries().next().value!;
      this.window.delete(j);
      this.leave(j, old);
      // A buffer of our own (not bytes the reader kept) is read into again: no garbage per chunk read.
      if (this.owned.has(old.buffer)) this.spare.push(new Uint8Array(old.buffer));
    }
    let into = this.spare.pop();
    if (!into && this.maxChunk > 0) {
      into = new Uint8Array(this.maxChunk);
      this.owned.add(into.buffer);
    }
    const data = this.read(i, true, into);
    if (into && data.buffer !== into.buffer) this.spare.push(into);
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.window.set(i, buf);
    return buf;
  }

  /** Fresh chunk i leaves the window: keep the bytes of its records not matched (so far). */
  private leave(i: number, data: Uint8Array): void {
    if (this.state[this.firstRecord[i + 1]! - 1] === UNBALANCED) return; // stored whole: not needed
    for (let r = this.firstRecord[i]!, s = 0; r < this.firstRecord[i + 1]!; s = this.ends[r]!, r++) {
      if (this.state[r] === VERIFIED) continue;
      if (this.unmatchedBytes + this.ends[r]! - s > this.keepUnmatched) {
        this.windowed[i] = 2;
        return;
      }
      this.unmatched.set(r, Uint8Array.prototype.slice.call(data, s, this.ends[r]!));
      this.unmatchedBytes += this.ends[r]! - s;
    }
  }

  /**
   * Splits fresh chunk i (the next one: chunks are given in order, 0, 1, ...) into records and keys those
   * long enough to match. `data` is read only during the call.
   */
  want(i: number, data: Uint8Array): void {
    if (i !== this.count) throw new Error(`fresh chunk ${i} keyed out of order`);
    if (i + 1 >= this.firstRecord.length) {
      this.firstRecord = grown(this.firstRecord);
      this.windowed = grown(this.windowed);
    }
    this.count++;
    this.firstRecord[i] = this.records;
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let s = 0, e = 0; s < data.length; s = e) {
      let state = NONE;
      if (this.quoted) {
        e = recordEnd(b, s, data.length, true);
        if (e < 0) {
          e = data.length;
          state = UNBALANCED;
        }
      } else {
        const nl = b.indexOf(10, s);
        e = nl === -1 ? data.length : nl + 1;
      }
      const r = this.records++;
      if (r === this.ends.length) {
        this.ends = grown(this.ends);
        this.keys = grown(this.keys);
        this.nextSame = grown(this.nextSame);
        this.state = grown(this.state);
        this.oldChunk = grown(this.oldChunk);
        this.oldOffset = grown(this.oldOffset);
        this.wanted.keys = this.keys;
      }
      this.ends[r] = e;
      this.state[r] = state;
      this.nextSame[r] = -1;
      if (state === UNBALANCED || e - s < MIN_RECORD || this.wanted.size >= MAX_RECORDS) continue;
      this.keys[r] = recordKeyOf(v, s, e);
      const head = this.wanted.addOrGet(r);
      if (head !== r) {
        // Chain after the head: order among equal keys does not matter, all get the same match.
        this.nextSame[r] = this.nextSame[head]!;
        this.nextSame[head] = r;
      }
    }
    this.firstRecord[i + 1] = this.records;
  }

  /**
   * Resolves wanted records found in old chunk h's bytes [from, to), split at '\n' from `from` (CSV/TSV: at
   * '\n' outside quotes, counted from `from`; a piece ending inside quotes is not keyed); `recs`: the keyed
   * records of the whole chunk (split from its start, as the pool's worker keys them). Returns how many
   * records it resolved.
   */
  private index(h: string, data: Uint8Array, recs: RecordTriples, from: number, to: number): number {
    this.indexedBytes += to - from;
    this.cur = -1;
    this.curHash = h;
    this.curData = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let resolved = 0;
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    // The piece up to the first '\n' from `from`, keyed here (a whole record if `from` starts one).
    const e = recordEnd(b, from, to, this.quoted);
    if (e < 0) return 0;
    if (e - from >= MIN_RECORD) resolved += this.resolveRecord(from, e, recordKey(data, from, e));
    if (e >= to) return resolved;
    // Whole records ending by the last '\n' before `to`: they start after a '\n', so they are the same
    // records split from `from` or from 0, and the worker keyed them already. Then the piece after it.
    // CSV/TSV: the records the worker keyed up to `to` (the same ones if `from` starts a record, as spans
    // and chunk ranges do), then the rest split here.
    const t = this.quoted ? to : b.lastIndexOf(10, to - 1) + 1;
    let lo = 0;
    let hi = recs.length / 3;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (recs[mid * 3]! < e) lo = mid + 1;
      else hi = mid;
    }
    let last = e;
    for (let k = lo * 3; k < recs.length && recs[k + 1]! <= t; k += 3) {
      resolved += this.resolveRecord(recs[k]!, recs[k + 1]!, recs[k + 2]!);
      last = recs[k + 1]!;
    }
    if (this.quoted) {
      for (let s = last, end = 0; s < to; s = end) {
        end = recordEnd(b, s, to, true);
        if (end < 0) break;
        if (end - s >= MIN_RECORD) resolved += this.resolveRecord(s, end, recordKey(data, s, end));
      }
      return resolved;
    }
    const ts = Math.max(t, e);
    if (to - ts >= MIN_RECORD) resolved += this.resolveRecord(ts, to, recordKey(data, ts, to));
    return resolved;
  }

  /** Old chunk `curHash`'s record curData[s, e) with key `key`: resolves the wanted records it matches. */
  private resolveRecord(s: number, e: number, key: number): number {
    const head = this.wanted.get(key);
    if (head < 0 || this.state[head] !== NONE) return 0; // not wanted, or found earlier in the old file
    if (this.cur < 0) {
      const h = this.curHash;
      this.cur = this.oldChunkIds.get(h) ?? this.oldChunks.push(h) - 1;
      this.oldChunkIds.set(h, this.cur);
    }
    const c = this.cur;
    let resolved = 0;
    for (let r = head; r >= 0; r = this.nextSame[r]!) {
      resolved++;
      this.oldChunk[r] = c;
      this.oldOffset[r] = s;
      this.state[r] = FOUND;
      const f = this.chunkOf(r);
      const fresh = this.fresh(f);
      if (!fresh) continue;
      const rs = r === this.firstRecord[f] ? 0 : this.ends[r - 1]!;
      const re = this.ends[r]!;
      this.verifiedEarly++;
      this.state[r] =
        re - rs === e - s && fresh.compare(this.curData, s, e, rs, re) === 0 ? VERIFIED : DIFFERENT;
    }
    return resolved;
  }

  /**
   * Fresh chunk i as pieces, if at least half of its bytes are records found in at most MAX_SOURCES old
   * chunks; else undefined (store it whole). Adjacent ranges of one old chunk are merged. Its bytes are
   * read (`read(i, true)`) only if the window kept too few of them, into a reused buffer: a new one per chunk
   * was ~4,400 page faults of the 1 GiB 1% edit's commit (15% of the file's chunks are read so).
   */
  encode(i: number): Piece[] | undefined {
    const pieces = this.pieces(i);
    for (let r = this.firstRecord[i]!; r < this.firstRecord[i + 1]!; r++) this.unmatched.delete(r);
    return pieces;
  }

  private pieces(i: number): Piece[] | undefined {
    const first = this.firstRecord[i]!;
    const last = this.firstRecord[i + 1]!;
    if (this.state[last - 1] === UNBALANCED) return undefined;
    // A chunk drawing on too many old chunks is stored whole without reading any.
    const sources: number[] = [];
    for (let r = first; r < last; r++) {
      if (this.state[r] === NONE || sources.includes(this.oldChunk[r]!)) continue;
      sources.push(this.oldChunk[r]!);
      if (sources.length > MAX_SOURCES) return undefined;
    }
    if (sources.length === 0) return undefined;
    if (!this.scratch && this.maxChunk > 0) this.scratch = new Uint8Array(this.maxChunk);
    const data = this.windowed[i] === 1 ? undefined : this.read(i, true, this.scratch);
    const bytes = (r: number, s: number, e: number): Uint8Array =>
      data?.subarray(s, e) ?? this.unmatched.get(r)!;
    const pieces: Piece[] = [];
    let matched = 0;
    for (let r = first, s = 0; r < last; s = this.ends[r]!, r++) {
      const e = this.ends[r]!;
      const st = this.state[r]!;
      const chunk = st === NONE ? undefined : this.oldChunks[this.oldChunk[r]!]!;
      const offset = this.oldOffset[r]!;
      const prev = pieces[pieces.length - 1];
      if (
        chunk === undefined ||
        st === DIFFERENT ||
        (st === FOUND && !this.same(bytes(r, s, e), chunk, offset))
      ) {
        if (prev?.kind === 'lit') {
          prev.end = e;
          prev.parts.push(bytes(r, s, e));
        } else pieces.push({ kind: 'lit', start: s, end: e, parts: [bytes(r, s, e)] });
        continue;
      }
      matched += e - s;
      if (prev?.kind === 'ref' && prev.chunk === chunk && prev.offset + prev.length === offset)
        prev.length += e - s;
      else pieces.push({ kind: 'ref', chunk, offset, length: e - s });
    }
    const size = this.ends[last - 1]!;
    return matched > 0 && matched * 2 >= size ? pieces : undefined;
  }

  /** Whether `rec` equals the bytes at `offset` of old chunk `chunk` (read through a small cache). */
  private same(rec: Uint8Array, chunk: string, offset: number): boolean {
    let old: Uint8Array;
    try {
      old = this.repo.objects.chunk(chunk);
    } catch {
      return false;
    }
    if (offset + rec.length > old.length) return false;
    return Buffer.from(rec.buffer, rec.byteOffset, rec.length).equals(
      Buffer.from(old.buffer, old.byteOffset + offset, rec.length),
    );
  }
}

/**
 * Old chunks the pipeline reads ahead: decoded in batches of BATCH_CHUNKS chunks (about BATCH_BYTES bytes),
 * at most AHEAD batches.
 */
// 32, not 64: on the 1 GiB 10% deletion, 64 peaked at 310-314 MB against 283-287 MB for 32 (the 300 MB
// goal), for ~0.6 s (7%) less time.
const BATCH_CHUNKS = 32;
const BATCH_BYTES = 1 << 20;
const AHEAD = 4;
/** Distinct chunks remembered: a chunk named again soon after (a span-coded old version) is decoded once. */
const RECENT = 64;

/** An old chunk's bytes and the keys of its records (split from its start). */
interface OldChunk {
  data: Uint8Array;
  recs?: RecordTriples;
}

/** A batch of old chunks read ahead: its first load, its chunks once decoded, and whether they are. */
interface Batch {
  first: number;
  result: Promise<(OldChunk | undefined)[]>;
  ready: boolean;
  /** Decoded by the pool (holding a slot), not in this thread. */
  pooled: boolean;
}

/**
 * Decodes and verifies a batch in this thread (`raw`: their decoded sizes together), into one buffer, and
 * keys their records (`quoted`: CSV/TSV), as the pool's worker does.
 */
function decodeHere(items: readonly Encoded[], raw: number, quoted: boolean, into: ArrayBufferLike): Decoded {
  const packed = new Uint8Array(into, 0, raw);
  let at = 0;
  const data = items.map((e) => {
    const n = decodedSize(e);
    const dst = packed.subarray(at, at + n);
    at += n;
    return decodeVerifiedInto(e, dst) ? dst : undefined;
  });
  const { keys, bounds } = keyAll(data, MIN_RECORD, quoted);
  return { data, records: splitKeys(keys, bounds) };
}

/** The keyed records of one chunk (`quoted`: CSV/TSV). */
function keyOne(data: Uint8Array, quoted: boolean): RecordTriples {
  return keyAll([data], MIN_RECORD, quoted).keys;
}

/**
 * The old chunks named by a list of spans, in order, each decoded and verified once while it is recent:
 * reading (index lookup, pread) happens here, decoding and hashing on a worker thread of the compression
 * pool while the caller indexes the chunks before. Chunks that cannot be read come back undefined.
 */
class OldChunks {
  /** Per list position: its load (a distinct read). */
  private readonly loadOf: Int32Array;
  /** Per load: the last list position naming it (once asked for, it is remembered no longer). */
  private readonly lastUse: Int32Array;
  private readonly loads: string[] = [];
  private readonly batches: Batch[] = [];
  /** Batches handed to the pool and not yet taken by get (each holds a slot). */
  private pooled = 0;
  /** Stored bytes of a batch decoded in this thread (reused: decoding copies out of it). */
  private inlineRegion: SharedArrayBuffer | undefined;
  private readonly done = new Map<number, OldChunk | undefined>();
  private submitted = 0;
  private pool: CompressPool | undefined;
  /** Per batch in flight (a slot each, reused): its stored bytes, and the bytes it decodes to. */
  private readonly regions: SharedArrayBuffer[] = [];
  private readonly outs: SharedArrayBuffer[] = [];
  private batchNo = 0;
  /** Loads whose locations have been looked up ahead (LocalPacks.prefetchAhead). */
  private located = 0;

  constructor(
    private readonly repo: Repository,
    hashes: readonly string[],
    /** CSV/TSV: records end at a '\n' outside quotes. */
    private readonly quoted = false,
  ) {
    this.loadOf = new Int32Array(hashes.length);
    const last = new Map<string, number>();
    for (const [i, h] of hashes.entries()) {
      const l = last.get(h);
      if (l !== undefined && l >= this.loads.length - RECENT) {
        this.loadOf[i] = l;
        continue;
      }
      last.set(h, this.loads.length);
      this.loadOf[i] = this.loads.push(h) - 1;
    }
    this.lastUse = new Int32Array(this.loads.length);
    for (let i = 0; i < hashes.length; i++) this.lastUse[this.loadOf[i]!] = i;
  }

  /**
   * The chunk at list position i (positions are asked in order; the bytes are valid until the next call).
   */
  async get(i: number): Promise<Required<OldChunk> | undefined> {
    const l = this.loadOf[i]!;
    while (!this.done.has(l)) {
      while (this.pooled < AHEAD && this.submitted < this.loads.length) this.submit();
      // The worker is behind (the batch needed next is not back): rather than wait idle, decode a later
      // batch in this thread, then look again. One at a time: this thread must come back to the worker's
      // batches soon, to hand it the next ones (it would idle while this thread works through several).
      if (
        !this.batches[0]!.ready &&
        this.batches.length === this.pooled &&
        this.submitted < this.loads.length &&
        this.pool?.parallel
      ) {
        this.submit(true);
        await yieldToEventLoop();
        continue;
      }
      const b = this.batches.shift()!;
      if (b.pooled) this.pooled--;
      const out = await b.result;
      out.forEach((d, k) => this.done.set(b.first + k, d));
    }
    for (const k of this.done.keys()) {
      if (k >= l - RECENT) break;
      this.done.delete(k);
    }
    const got = this.done.get(l);
    // Named no more: forgotten now, so that its slot's region is free for the next batch (outFor() would copy
    // a chunk still remembered out of it, a copy and a buffer per chunk of the old file).
    if (this.lastUse[l] === i) this.done.delete(l);
    // Read in this thread (delta-coded): keyed here.
    if (got && !got.recs) got.recs = keyOne(got.data, this.quoted);
    return got as Required<OldChunk> | undefined;
  }

  /**
   * Reads the next batch of loads and hands it to the pool (the worker thread decodes and verifies). The
   * stored bytes are read straight into the slot's shared region (one read per run of chunks lying next to
   * each other in a pack; no buffer per chunk, no copy).
   */
  private submit(here = false): void {
    const first = this.submitted;
    const end = Math.min(this.loads.length, first + BATCH_CHUNKS);
    this.submitted = end;
    const slot = here ? -1 : this.batchNo++ % (AHEAD + 1);
    const items: Encoded[] = [];
    const inline = new Map<number, Uint8Array | undefined>();
    let read: ReturnType<LocalPacks['readEncodedShared']> | undefined;
    try {
      // Locations a few thousand at a time, in hash order: ~2x cheaper than a batch's few dozen between
      // other work (the 1 GiB 10% deletion's commit looks up ~60k old chunks).
      this.located = this.repo.objects.packs.prefetchAhead(this.loads, first, end, this.located);
      const region = here
        ? (this.inlineRegion ??= new SharedArrayBuffer(BATCH_BYTES))
        : (this.regions[slot] ??= new SharedArrayBuffer(BATCH_BYTES));
      read = this.repo.objects.packs.readEncodedShared(this.loads.slice(first, end), region);
      // A larger one if the batch did not fit.
      if (here) this.inlineRegion = read.buffer;
      else this.regions[slot] = read.buffer;
    } catch {
      read = undefined;
    }
    let raw = 0;
    for (let k = first; k < end; k++) {
      const h = this.loads[k]!;
      const loc = read?.locations[k - first];
      const at = read?.at[k - first] ?? -1;
      // Not in a sealed pack (missing, or still being written), or its pack unreadable: read through the
      // object store (undefined if it cannot be read).
      if (!loc || at < 0) inline.set(k, this.readInline(h));
      else if (loc.kind !== KIND.chunk) inline.set(k, undefined);
      else if (loc.codec !== CODEC_NONE && loc.codec !== CODEC_ZSTD) inline.set(k, this.readInline(h));
      else {
        const bytes = new Uint8Array(read!.buffer, at, loc.length);
        const e: Encoded = { codec: loc.codec, bytes, rawLength: loc.raw_length, hash: h };
        raw += decodedSize(e);
        items.push(e);
      }
    }
    const pool = items.length && !here ? (this.pool ??= sharedCompressPool()) : undefined;
    const out = pool?.parallel ? this.outFor(slot, raw) : undefined;
    // A batch decoded here goes into a region of its own, reused like the slots' (a fresh buffer per batch
    // was ~1 MiB of garbage each, which raised the deletion commit's peak RSS by ~25 MB). The batch decoded
    // here before is no longer queued when another is (get() decodes here only when every queued batch is
    // the pool's), so outFor's copying out of the chunks still remembered keeps them whole.
    const decoded = here
      ? Promise.resolve(decodeHere(items, raw, this.quoted, this.outFor(AHEAD + 1, raw)))
      : pool
        ? pool.decodeKeyed(items, MIN_RECORD, out, this.quoted)
        : Promise.resolve<Decoded>({ data: [] });
    decoded.catch(() => undefined); // observed in get()
    const result = decoded.then(({ data, records }) => {
      const all: (OldChunk | undefined)[] = [];
      let j = 0;
      for (let k = first; k < end; k++) {
        if (inline.has(k)) {
          const d = inline.get(k);
          all.push(d ? { data: d } : undefined);
          continue;
        }
        const d = data[j];
        all.push(d ? { data: d, ...(records ? { recs: records[j]! } : {}) } : undefined);
        j++;
      }
      return all;
    });
    result.catch(() => undefined); // observed in get(), unless the caller stopped before
    const batch: Batch = { first, result, ready: here, pooled: !here };
    if (!here) {
      this.pooled++;
      const ready = (): void => void (batch.ready = true);
      result.then(ready, ready);
    }
    this.batches.push(batch);
  }

  /**
   * The slot's region for the decoded bytes (`raw` of them), which the worker decodes into (no buffer per
   * batch moved back, to be collected). Chunks decoded into it before and still remembered are copied out
   * first.
   */
  private outFor(slot: number, raw: number): SharedArrayBuffer {
    let out = this.outs[slot];
    if (out) {
      for (const [k, d] of this.done)
        if (d?.data.buffer === out) this.done.set(k, { ...d, data: Uint8Array.prototype.slice.call(d.data) });
    }
    if (!out || out.byteLength < raw) {
      out = new SharedArrayBuffer(Math.max(raw, BATCH_BYTES + (BATCH_BYTES >> 2)));
      this.outs[slot] = out;
    }
    return out;
  }

  /** A chunk stored otherwise (delta-coded) is read in this thread, through its pack store. */
  private readInline(h: string): Uint8Array | undefined {
    try {
      return this.repo.objects.chunk(h);
    } catch {
      return undefined;
    }
  }
}

/** Appends a span, merging it into the previous one when it continues it in the same chunk. */
export function pushSpan(out: Span[], s: Span): void {
  const last = out[out.length - 1];
  if (last && last[0] === s[0] && last[1] + last[2] === s[1]) last[2] += s[2];
  else out.push([s[0], s[1], s[2]]);
}

/**
 * An open-addressing hash table from 53-bit record keys to record numbers: slots hold record number + 1 (0:
 * empty) in one Int32Array, the keys live in the encoder's per-record array. A JS Map of a million non-Smi
 * keys costs ~60 MB and a heap number per key; this costs 4 bytes a slot, at most half full, plus 8 a record.
 */
class RecordTable {
  private slots: Int32Array;
  /** Per record number: its key (the encoder's array, replaced when it grows). */
  keys: Float64Array = new Float64Array(0);
  size = 0;

  constructor(expected: number) {
    let n = 1 << 12;
    while (n < expected * 2) n *= 2;
    this.slots = new Int32Array(n);
  }

  private slot(key: number): number {
    const mask = this.slots.length - 1;
    const hi = (key / 0x200000) | 0;
    let i = Math.imul(hi ^ Math.imul(key % 0x200000, 0x9e3779b1), 0x85ebca6b) & mask;
    for (let v = this.slots[i]!; v !== 0 && this.keys[v - 1] !== key; v = this.slots[i]!) i = (i + 1) & mask;
    return i;
  }

  /** The first record with this key, or -1. */
  get(key: number): number {
    return this.slots[this.slot(key)]! - 1;
  }

  /** Adds record r (its key set in `keys`) unless its key is present; returns the key's first record. */
  addOrGet(r: number): number {
    const i = this.slot(this.keys[r]!);
    if (this.slots[i] !== 0) return this.slots[i]! - 1;
    this.slots[i] = r + 1;
    if (++this.size * 2 > this.slots.length) this.grow();
    return r;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    for (const v of old) if (v !== 0) this.slots[this.slot(this.keys[v - 1]!)] = v;
  }
}
