/**
 * Span-coding of a new version of a record file (docs/FORMAT.md, "Span-coded versions"): the chunks of the
 * new version that the repository does not have are described, record by record, as spans into the chunks
 * that held the same records in the previous version; only records found nowhere are stored, gathered into
 * new "literal" chunks.
 *
 * The encoder indexes the records (lines, '\n'-terminated) of the previous version's bytes that the new
 * version does not already reuse as whole chunks — the part of the old file that changed — by a fast
 * 53-bit hash of their bytes; every match is then verified byte for byte. Splitting at '\n' even inside quoted CSV fields only changes the granularity
 * of matches, never their correctness: a match is a byte-identical range.
 */
import type { Hash } from '../../storage/hash.js';
import type { Span } from '../objects/objects.js';
import type { Repository } from '../repository.js';

/** Records shorter than this are left literal: a span costs ~80 bytes of manifest. */
const MIN_RECORD = 16;
/** Bounds the record map (~100 bytes an entry) when a huge part of a file changed. */
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

/** A piece of a span-coded chunk: bytes of an old chunk, or bytes [start, end) of the new chunk itself. */
export type Piece =
  | { kind: 'ref'; chunk: string; offset: number; length: number }
  | { kind: 'lit'; start: number; end: number };

/** Byte ranges [start, end) of chunks, by chunk hash. */
export type Coverage = Map<string, [number, number][]>;

/**
 * A 53-bit hash of record bytes data[s, e), to find candidates: a match is then checked byte for byte against
 * the old chunk, so a collision (accidental or crafted) can only cost a missed match, never wrong bytes.
 * Written in plain JS because a native call per ~1 KiB record costs more than hashing it here.
 */
export function recordKey(data: Uint8Array, s: number, e: number): number {
  let h1 = 0x811c9dc5 ^ (e - s);
  let h2 = 0x3c6ef372 ^ Math.imul(e - s, 0x9e3779b1);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const w = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h1 ^= h1 >>> 15;
    h2 = Math.imul(h2 + w, 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  for (; i < e; i++) {
    h1 = Math.imul(h1 ^ data[i]!, 0x01000193);
    h2 = Math.imul(h2 + data[i]!, 0x5bd1e995);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  return (h1 >>> 0) * 0x200000 + (h2 >>> 11);
}

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

export class SpanEncoder {
  /** Record key -> entry number; entry n is at offset `offsets[n]` of chunk `chunks[chunkOf[n]]`. */
  private readonly map = new RecordTable();
  private readonly chunks: string[] = [];
  private readonly chunkIds = new Map<string, number>();
  private chunkOf = new Uint32Array(1 << 16);
  private offsets = new Uint32Array(1 << 16);
  /** Scratch space of encode(): record ends and the entries found for them. */
  private ends = new Uint32Array(1024);
  private found = new Int32Array(1024);
  /** Bytes of old records indexed. */
  indexedBytes = 0;

  private constructor(private readonly repo: Repository) {}

  /**
   * Indexes the records of `previous` (a file manifest) in the byte ranges the new version does not reuse
   * (`reused`: ranges of chunks the new version's manifest already holds). Undefined if nothing to match.
   */
  static async build(repo: Repository, previous: Hash, reused: Coverage): Promise<SpanEncoder | undefined> {
    const enc = new SpanEncoder(repo);
    let m;
    try {
      m = repo.objects.manifest(previous);
    } catch {
      return undefined;
    }
    for (const r of reused.values()) r.sort((x, y) => x[0] - y[0]);
    let n = 0;
    for (const [h, off, len] of repo.objects.spans(m)) {
      if (enc.map.size >= MAX_RECORDS) break;
      const todo = uncovered(off, off + len, reused.get(h));
      if (todo.length === 0 || !repo.objects.packs.has(h)) continue;
      if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
      let data: Uint8Array;
      try {
        data = repo.objects.chunk(h);
      } catch {
        continue; // an unreadable old chunk is just not matched against (fsck reports it)
      }
      if (off + len > data.length) continue;
      for (const [s, e] of todo) enc.index(h, data, s, e);
    }
    return enc.map.size > 0 ? enc : undefined;
  }

  private index(h: string, data: Uint8Array, from: number, to: number): void {
    this.indexedBytes += to - from;
    let c = this.chunkIds.get(h);
    if (c === undefined) {
      c = this.chunks.push(h) - 1;
      this.chunkIds.set(h, c);
    }
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (let s = from, e = from; s < to; s = e) {
      const nl = b.indexOf(10, s);
      e = nl === -1 || nl >= to ? to : nl + 1;
      if (e - s < MIN_RECORD) continue;
      const key = recordKey(data, s, e);
      const n = this.map.size;
      if (!this.map.add(key, n)) continue;
      if (n === this.offsets.length) {
        const grow = (a: Uint32Array): Uint32Array<ArrayBuffer> => {
          const b = new Uint32Array(a.length * 2);
          b.set(a);
          return b;
        };
        this.offsets = grow(this.offsets);
        this.chunkOf = grow(this.chunkOf);
      }
      this.offsets[n] = s;
      this.chunkOf[n] = c;
    }
  }

  /**
   * `data` (a new chunk) as pieces, if at least half of its bytes are records found in at most MAX_SOURCES
   * old chunks; else undefined (store it whole). Adjacent ranges of one old chunk are merged.
   */
  encode(data: Uint8Array): Piece[] | undefined {
    // Candidates first: a chunk drawing on too many old chunks is stored whole without reading any.
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let n = 0;
    const sources: number[] = [];
    for (let s = 0, e = 0; s < data.length; s = e, n++) {
      const nl = b.indexOf(10, s);
      e = nl === -1 ? data.length : nl + 1;
      if (n === this.ends.length) {
        const ends = new Uint32Array(n * 2);
        const found = new Int32Array(n * 2);
        ends.set(this.ends);
        found.set(this.found);
        this.ends = ends;
        this.found = found;
      }
      this.ends[n] = e;
      const entry = e - s >= MIN_RECORD ? this.map.get(recordKey(data, s, e)) : -1;
      this.found[n] = entry;
      if (entry >= 0 && !sources.includes(this.chunkOf[entry]!)) {
        sources.push(this.chunkOf[entry]!);
        if (sources.length > MAX_SOURCES) return undefined;
      }
    }
    const pieces: Piece[] = [];
    let matched = 0;
    for (let i = 0, s = 0; i < n; s = this.ends[i]!, i++) {
      const e = this.ends[i]!;
      const entry = this.found[i]!;
      const chunk = entry >= 0 ? this.chunks[this.chunkOf[entry]!]! : undefined;
      const offset = entry >= 0 ? this.offsets[entry]! : 0;
      const last = pieces[pieces.length - 1];
      if (chunk === undefined || !this.same(data, s, e, chunk, offset)) {
        if (last?.kind === 'lit') last.end = e;
        else pieces.push({ kind: 'lit', start: s, end: e });
        continue;
      }
      matched += e - s;
      if (last?.kind === 'ref' && last.chunk === chunk && last.offset + last.length === offset)
        last.length += e - s;
      else pieces.push({ kind: 'ref', chunk, offset, length: e - s });
    }
    return matched > 0 && matched * 2 >= data.length ? pieces : undefined;
  }

  /** Whether data[s, e) equals the bytes at `offset` of old chunk `chunk` (read through a small cache). */
  private same(data: Uint8Array, s: number, e: number, chunk: string, offset: number): boolean {
    let old: Uint8Array;
    try {
      old = this.repo.objects.chunk(chunk);
    } catch {
      return false;
    }
    if (offset + (e - s) > old.length) return false;
    return Buffer.from(data.buffer, data.byteOffset + s, e - s).equals(
      Buffer.from(old.buffer, old.byteOffset + offset, e - s),
    );
  }
}

/** Appends a span, merging it into the previous one when it continues it in the same chunk. */
export function pushSpan(out: Span[], s: Span): void {
  const last = out[out.length - 1];
  if (last && last[0] === s[0] && last[1] + last[2] === s[1]) last[2] += s[2];
  else out.push([s[0], s[1], s[2]]);
}

/**
 * An open-addressing hash table from 53-bit record keys to entry numbers, in typed arrays: a JS Map of a
 * million non-Smi keys costs ~60 MB and a heap number per key; this costs 12 bytes a slot at most half full.
 */
class RecordTable {
  private hi = new Uint32Array(1 << 17);
  private lo = new Uint32Array(1 << 17);
  private val = new Int32Array(1 << 17).fill(-1);
  size = 0;

  private slot(hi: number, lo: number): number {
    const mask = this.val.length - 1;
    let i = Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca6b) & mask;
    while (this.val[i]! >= 0 && (this.hi[i] !== hi || this.lo[i] !== lo)) i = (i + 1) & mask;
    return i;
  }

  get(key: number): number {
    return this.val[this.slot(Math.floor(key / 0x200000), key % 0x200000)]!;
  }

  /** Adds key -> value unless the key is present; returns whether it was added. */
  add(key: number, value: number): boolean {
    const hi = Math.floor(key / 0x200000);
    const lo = key % 0x200000;
    const i = this.slot(hi, lo);
    if (this.val[i]! >= 0) return false;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.val[i] = value;
    if (++this.size * 2 > this.val.length) this.grow();
    return true;
  }

  private grow(): void {
    const [hi, lo, val] = [this.hi, this.lo, this.val];
    this.hi = new Uint32Array(hi.length * 2);
    this.lo = new Uint32Array(hi.length * 2);
    this.val = new Int32Array(hi.length * 2).fill(-1);
    for (let j = 0; j < val.length; j++) {
      if (val[j]! < 0) continue;
      const i = this.slot(hi[j]!, lo[j]!);
      this.hi[i] = hi[j]!;
      this.lo[i] = lo[j]!;
      this.val[i] = val[j]!;
    }
  }
}
