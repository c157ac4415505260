/**
 * DiffSides over the repository: a stored file's spans become pieces (equal ids = equal bytes, so spans
 * shared by both versions cancel unread), and a working-tree file is cut with the repository's own
 * chunker so that its unchanged chunks get the same ids as the stored ones.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { StrataError } from '../../storage/errors.js';
import { CODEC_NONE, CODEC_ZSTD } from '../../storage/codec.js';
import { sharedCompressPool, type Encoded } from '../../storage/compress-pool.js';
import { hashBytes } from '../../storage/hash.js';
import { KIND } from '../../storage/pack-format.js';
import { chunkStream, type ChunkFormat } from '../chunking/index.js';
import type { FileManifest, SegmentRef, Span } from '../objects/objects.js';
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
  starts: number[],
  lengths: number[],
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
 * Splits both span lists so that bytes the two versions share become identical pieces. For every chunk that
 * both lists reference, each span into it is cut at the union of both lists' span boundaries within that
 * chunk: a new version stored as sub-ranges of old chunks (plus new chunks for edited records) then has
 * pieces equal to pieces of the old version, and those cancel unread.
 *
 * Line files only (JSONL, text): there a boundary of one side's span is a record boundary of the chunk's
 * bytes whatever span contains it (it follows a '\n', or is the chunk's start), so refined pieces still hold
 * whole records. CSV records may contain quoted newlines, so whether an offset is a record boundary depends
 * on where parsing started: CSV span lists are left as they are (unshared spans are simply read).
 */
export function refineSpans(a: ReadonlyArray<Span>, b: ReadonlyArray<Span>): [Span[], Span[]] {
  const [ra, rb] = refineNumbered(a, b);
  return [ra.spans, rb.spans];
}

/** Refined spans and, for each, the number given to its chunk (both sides numbered together). */
interface Numbered {
  spans: Span[];
  nos: number[];
}

/** refineSpans, numbering chunks on the way: a chunk's hash is looked up once per span, here only. */
function refineNumbered(a: ReadonlyArray<Span>, b: ReadonlyArray<Span>): [Numbered, Numbered] {
  // Chunks by number; for each, the sides that reference it, the first (offset, length) seen, and whether a
  // span into it with another range exists. Only chunks that both sides reference with different ranges
  // (the chunks an edit touched) need cutting: typically a few percent of them.
  const no = new Map<string, number>();
  const sideMask: number[] = [];
  const firstOff: number[] = [];
  const firstLen: number[] = [];
  const mixed: boolean[] = [];
  const visit = (list: ReadonlyArray<Span>, bit: number): number[] => {
    const nos = new Array<number>(list.length);
    for (let i = 0; i < list.length; i++) {
      const [h, off, len] = list[i]!;
      let k = no.get(h);
      if (k === undefined) {
        no.set(h, (k = sideMask.length));
        sideMask.push(bit);
        firstOff.push(off);
        firstLen.push(len);
        mixed.push(false);
      } else {
        sideMask[k]! |= bit;
        if (firstOff[k] !== off || firstLen[k] !== len) mixed[k] = true;
      }
      nos[i] = k;
    }
    return nos;
  };
  const na = visit(a, 1);
  const nb = visit(b, 2);
  const cuts = new Map<number, number[]>();
  for (const [list, nos] of [
    [a, na],
    [b, nb],
  ] as const)
    for (let i = 0; i < list.length; i++) {
      const k = nos[i]!;
      if (sideMask[k] !== 3 || !mixed[k]) continue;
      const [, off, len] = list[i]!;
      let c = cuts.get(k);
      if (!c) cuts.set(k, (c = []));
      c.push(off, off + len);
    }
  if (cuts.size === 0)
    return [
      { spans: [...a], nos: na },
      { spans: [...b], nos: nb },
    ];
  for (const c of cuts.values()) {
    c.sort((x, y) => x - y);
    let n = 0;
    for (let i = 0; i < c.length; i++) if (i === 0 || c[i] !== c[n - 1]) c[n++] = c[i]!;
    c.length = n;
  }
  const refine = (list: ReadonlyArray<Span>, nos: number[]): Numbered => {
    const out: Numbered = { spans: [], nos: [] };
    for (let j = 0; j < list.length; j++) {
      const s = list[j]!;
      const k = nos[j]!;
      const [h, off, len] = s;
      const c = len === 0 || !mixed[k] ? undefined : cuts.get(k);
      if (!c) {
        out.spans.push(s);
        out.nos.push(k);
        continue;
      }
      // First boundary strictly inside the span, by binary search.
      let lo = 0;
      let hi = c.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (c[mid]! <= off) lo = mid + 1;
        else hi = mid;
      }
      let at = off;
      for (let i = lo; i < c.length && c[i]! < off + len; i++) {
        out.spans.push([h, at, c[i]! - at]);
        out.nos.push(k);
        at = c[i]!;
      }
      out.spans.push(at === off ? s : [h, at, off + len - at]);
      out.nos.push(k);
    }
    return out;
  };
  return [refine(a, na), refine(b, nb)];
}

const LINE_FORMATS = new Set<FileFormat>(['jsonl', 'text']);

/** A side's pieces before they become DiffPieces: a span, or a whole manifest segment that both sides share. */
type Part = Span | { segment: SegmentRef };
const isSegment = (p: Part): p is { segment: SegmentRef } => !Array.isArray(p);
/** Before refinement: a shared segment, or the byte count of an expanded one (its spans are refined apart). */
type Slot = { segment: SegmentRef } | { expanded: number };

/**
 * The DiffSides of two stored versions of a file (null: absent on that side). For line files, manifest
 * segments both versions hold become one piece each, which cancels without the segment even being decoded
 * (an append shares all segments but the last: the diff never expands them); the spans of the other
 * segments are expanded, and spans into chunks both versions reference are refined (`refineSpans`) so that
 * shared sub-ranges cancel unread.
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
  if (!lines) {
    return [
      before ? sideFromSpans(repo, path, before, [...repo.objects.spans(before)], cache) : null,
      after ? sideFromSpans(repo, path, after, [...repo.objects.spans(after)], cache) : null,
    ];
  }
  // Segments on both sides (as a multiset) stay whole; the others are expanded into spans.
  const segCount = new Map<string, number>();
  for (const r of before.segments ?? []) segCount.set(r.hash, (segCount.get(r.hash) ?? 0) + 1);
  const sharedSeg = new Map<string, number>();
  for (const r of after.segments ?? []) {
    const n = segCount.get(r.hash) ?? 0;
    if (n > (sharedSeg.get(r.hash) ?? 0)) sharedSeg.set(r.hash, (sharedSeg.get(r.hash) ?? 0) + 1);
  }
  const partsOf = (m: FileManifest): { slots?: Slot[]; spans: Span[] } => {
    if (!m.segments) return { spans: [...repo.objects.spans(m)] };
    const left = new Map(sharedSeg);
    const slots: Slot[] = [];
    const spans: Span[] = [];
    for (const r of m.segments) {
      const n = left.get(r.hash) ?? 0;
      if (n > 0) {
        left.set(r.hash, n - 1);
        slots.push({ segment: r });
        continue;
      }
      slots.push({ expanded: r.size });
      spans.push(...repo.objects.segmentSpans(r));
    }
    return { slots, spans };
  };
  const pb = partsOf(before);
  const pa = partsOf(after);
  const [rb, ra] = refineNumbered(pb.spans, pa.spans);
  const ab = assemble(pb.slots, rb);
  const aa = assemble(pa.slots, ra);
  const parts: [Part[], Part[]] = [ab.parts, aa.parts];
  const { ids, unmatched } = pairParts(parts, [ab.nos, aa.nos]);
  const plans = readPlans(parts, unmatched, cache.wanted);
  return [
    sideFromSpans(repo, path, before, parts[0], cache, ids[0], plans?.[0]),
    sideFromSpans(repo, path, after, parts[1], cache, ids[1], plans?.[1]),
  ];
}

/** Puts the refined spans of the expanded segments back in their places between the shared segments. */
function assemble(slots: Slot[] | undefined, refined: Numbered): { parts: Part[]; nos: number[] } {
  if (!slots) return { parts: refined.spans, nos: refined.nos }; // an inline span list: nothing was kept whole
  const parts: Part[] = [];
  const nos: number[] = [];
  let k = 0;
  for (const slot of slots) {
    if ('segment' in slot) {
      parts.push(slot);
      nos.push(-1);
      continue;
    }
    for (let left = slot.expanded; left > 0;) {
      const s = refined.spans[k];
      if (!s) throw new StrataError('INTEGRITY', 'segment spans do not cover the segment', {});
      parts.push(s);
      nos.push(refined.nos[k++]!);
      left -= s[2];
    }
  }
  if (k !== refined.spans.length)
    throw new StrataError('INTEGRITY', 'segment spans cover more than their segments', {});
  return { parts, nos };
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
/** Chunks decoded ahead of the reader, per side, and per batch sent to the decoding thread. */
const READ_AHEAD_CHUNKS = 256;
const READ_AHEAD_BATCH = 32;
/** Plans shorter than this are read inline: starting the decoding thread would cost more than it saves. */
const READ_AHEAD_MIN = 64;

/**
 * The chunks one side will read, in order (the pieces that do not cancel), and how far they have been sent
 * ahead to the decoding thread.
 */
interface ReadPlan {
  hashes: string[];
  /** Position in `hashes` of each part index that is in the plan. */
  at: Map<number, number>;
  sent: number;
}

class ChunkCache {
  private readonly map = new Map<string, Uint8Array>();
  /** Chunks sent ahead to the decoding thread: their bytes, or undefined when they must be read inline. */
  private readonly ahead = new Map<string, Promise<Uint8Array | undefined>>();
  /** How many planned pieces (both sides) read each chunk. */
  readonly wanted = new Map<string, number>();
  /** Whether a segment's last span may end inside a record (see glueRecords), by segment hash. */
  readonly openSegments = new Map<string, boolean>();
  private bytes = 0;
  constructor(private readonly repo: Repository) {}

  /**
   * A chunk's bytes. Sub-chunk spans make both sides read pieces of the same chunks in turn (an old chunk's
   * replaced range, then the new chunk holding several edited records): without this each would be
   * decompressed and verified once per piece.
   */
  async get(hash: string): Promise<Uint8Array> {
    const hit = this.map.get(hash);
    if (hit) {
      this.map.delete(hash);
      this.map.set(hash, hit);
      return hit;
    }
    const pending = this.ahead.get(hash);
    let data: Uint8Array | undefined;
    if (pending) {
      this.ahead.delete(hash);
      data = await pending;
      // A chunk no other planned piece reads is not kept: an old chunk around one edit is read once.
      const left = (this.wanted.get(hash) ?? 1) - 1;
      this.wanted.set(hash, left);
      if (data && left <= 0) return data;
    }
    // Read inline when not sent ahead, or when the decoding thread could not decode it (a delta-coded
    // chunk, or a damaged one: the inline read then reports what is wrong).
    data ??= this.repo.objects.chunk(hash);
    this.remember(hash, data);
    return data;
  }

  private remember(hash: string, data: Uint8Array): void {
    if (data.length > CHUNK_CACHE_BYTES / 4) return;
    // A chunk decoded on the pool is a view into its batch's buffer: kept alone, it would keep the batch.
    if (data.buffer.byteLength > 2 * data.length) data = Buffer.from(data);
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
      const batch: Encoded[] = [];
      const hashes: string[] = [];
      for (let i = plan.sent; i < end; i++) {
        const h = plan.hashes[i]!;
        if (this.map.has(h) || this.ahead.has(h) || hashes.includes(h)) continue;
        let e;
        try {
          e = this.repo.objects.packs.readEncoded(h);
        } catch {
          continue; // missing or unreadable: the inline read reports it when (if) the piece is read
        }
        if (e.kind !== KIND.chunk || (e.codec !== CODEC_NONE && e.codec !== CODEC_ZSTD)) continue;
        batch.push({ codec: e.codec, bytes: e.bytes, rawLength: e.rawLength, hash: h });
        hashes.push(h);
      }
      plan.sent = end;
      if (batch.length === 0) continue;
      // One shared buffer per batch: the decoding thread reads the stored bytes without a copy or a transfer.
      const shared = new Uint8Array(new SharedArrayBuffer(batch.reduce((n, e) => n + e.bytes.length, 0)));
      let off = 0;
      for (const e of batch) {
        shared.set(e.bytes, off);
        e.bytes = shared.subarray(off, (off += e.bytes.length));
      }
      // Chunks sent ahead but never asked for (the engine cancelled more than the plan foresaw) are dropped
      // oldest first: what is held ahead stays bounded.
      for (const k of this.ahead.keys()) {
        if (this.ahead.size + batch.length <= 4 * READ_AHEAD_CHUNKS) break;
        this.ahead.delete(k);
      }
      const decoded = sharedCompressPool().decode(batch);
      hashes.forEach((h, k) =>
        this.ahead.set(
          h,
          decoded.then(
            (out) => out[k],
            () => undefined,
          ),
        ),
      );
    }
  }
}

/** The read plan of each side: the chunks of the parts whose ids the other side does not hold. */
/**
 * Pairs the parts of two stored versions that hold the same bytes (the same chunk range, or the same
 * segment): as many pairs as each key allows (the smaller of its counts on the two sides), in order where
 * the versions keep it. The parts of a pair get one id string (the same object on both sides, so the
 * engine's matching compares pointers); every other part gets an id of its own. Matching here runs on
 * numbers, not on strings.
 */
function pairParts(
  parts: [Part[], Part[]],
  nos: [number[], number[]],
): { ids: [string[], string[]]; unmatched: [boolean[], boolean[]] } {
  // (chunk number, offset, length) packed in a double while each fits (a chunk range below 128 KiB and
  // fewer than 2^19 chunks); a string otherwise, and for segments.
  const keyOf = (p: Part, n: number): number | string => {
    if (isSegment(p)) return `segment:${p.segment.hash}+${p.segment.size}`;
    const [, off, len] = p;
    return off < 2 ** 17 && len < 2 ** 17 && n < 2 ** 19
      ? (n * 2 ** 17 + off) * 2 ** 17 + len
      : `${n}@${off}+${len}`;
  };
  const keys: [(number | string)[], (number | string)[]] = [
    parts[0].map((p, i) => keyOf(p, nos[0][i]!)),
    parts[1].map((p, i) => keyOf(p, nos[1][i]!)),
  ];
  const n0 = keys[0].length;
  const n1 = keys[1].length;
  const partner: [Int32Array, Int32Array] = [new Int32Array(n0).fill(-1), new Int32Array(n1).fill(-1)];
  const pair = (i: number, j: number): void => {
    partner[0][i] = j;
    partner[1][j] = i;
  };
  // 1. A walk in order: equal keys at the two positions pair at once; at a difference, a substitution,
  //    insertion or deletion of one part is stepped over (the edits of a span-coded version look so), else
  //    both sides step on. No map: most parts of an edit, an append or a deletion pair here.
  let i = 0;
  let j = 0;
  while (i < n0 && j < n1) {
    const a = keys[0][i];
    const b = keys[1][j];
    if (a === b) pair(i++, j++);
    else if (j + 1 < n1 && a === keys[1][j + 1]) j++;
    else if (i + 1 < n0 && keys[0][i + 1] === b) i++;
    else {
      i++;
      j++;
    }
  }
  // 2. The parts left pair as a multiset, in order (moved parts: a shuffle pairs here).
  const left = new Map<number | string, number[]>();
  for (let q = 0; q < n1; q++) {
    if (partner[1][q]! >= 0) continue;
    const list = left.get(keys[1][q]!);
    if (list) list.push(q);
    else left.set(keys[1][q]!, [q]);
  }
  if (left.size > 0) {
    const used = new Map<number | string, number>();
    for (let p = 0; p < n0; p++) {
      if (partner[0][p]! >= 0) continue;
      const k = keys[0][p]!;
      const list = left.get(k);
      if (!list) continue;
      const u = used.get(k) ?? 0;
      if (u >= list.length) continue;
      used.set(k, u + 1);
      pair(p, list[u]!);
    }
  }
  // 3. Ids: the two parts of a pair share one string; a segment's keeps a recognisable prefix (tests check
  //    that segment pieces cancel unread).
  const segPrefix = (k: number | string): string =>
    typeof k === 'string' && k.startsWith('segment:') ? 'segment:' : '';
  const ids: [string[], string[]] = [new Array<string>(n0), new Array<string>(n1)];
  const unmatched: [boolean[], boolean[]] = [new Array<boolean>(n0), new Array<boolean>(n1)];
  let pairs = 0;
  for (let p = 0; p < n0; p++) {
    const q = partner[0][p]!;
    unmatched[0][p] = q < 0;
    if (q < 0) {
      ids[0][p] = `${segPrefix(keys[0][p]!)}b${p}`;
      continue;
    }
    ids[0][p] = ids[1][q] = `${segPrefix(keys[0][p]!)}${pairs++}`;
  }
  for (let q = 0; q < n1; q++) {
    unmatched[1][q] = partner[1][q]! < 0;
    if (unmatched[1][q]) ids[1][q] = `${segPrefix(keys[1][q]!)}a${q}`;
  }
  return { ids, unmatched };
}

function readPlans(
  sides: [Part[], Part[]],
  unmatched: [boolean[], boolean[]],
  wanted: Map<string, number>,
): [ReadPlan, ReadPlan] | undefined {
  const plans = ([0, 1] as const).map((s): ReadPlan => {
    const plan: ReadPlan = { hashes: [], at: new Map(), sent: 0 };
    sides[s].forEach((p, i) => {
      if (!unmatched[s][i] || isSegment(p)) return;
      plan.at.set(i, plan.hashes.length);
      plan.hashes.push(p[0]);
      wanted.set(p[0], (wanted.get(p[0]) ?? 0) + 1);
    });
    return plan;
  }) as [ReadPlan, ReadPlan];
  return plans[0].hashes.length + plans[1].hashes.length >= READ_AHEAD_MIN ? plans : undefined;
}

export function sideFromManifest(repo: Repository, path: string, m: FileManifest): DiffSide {
  return sideFromSpans(repo, path, m, [...repo.objects.spans(m)], new ChunkCache(repo));
}

/** A part's piece id: equal ids mean equal bytes. */
const partId = (p: Part): string => {
  if (isSegment(p)) return `segment:${p.segment.hash}+${p.segment.size}`;
  const [h, off, len] = p;
  return off === 0 ? `${h}+${len}` : `${h}@${off}+${len}`;
};

function sideFromSpans(
  repo: Repository,
  path: string,
  m: FileManifest,
  parts: Part[],
  cache: ChunkCache,
  ids: string[] = parts.map(partId),
  plan?: ReadPlan,
): DiffSide {
  const starts: number[] = [];
  const lengths: number[] = [];
  let at = 0;
  const pieces: DiffPiece[] = parts.map((p, i) => {
    const len = isSegment(p) ? p.segment.size : p[2];
    starts.push(at);
    lengths.push(len);
    at += len;
    return { id: ids[i]!, length: len };
  });
  const readSpan = async ([h, off, len]: Span): Promise<Uint8Array> => {
    const c = await cache.get(h);
    if (off + len > c.length)
      throw new StrataError('INTEGRITY', `span exceeds chunk ${h}`, { hash: h, off, len });
    // A view into a batch decoded on the pool is copied: a piece the engine keeps must not keep the batch.
    return c.buffer.byteLength > 2 * c.length
      ? Buffer.from(c.subarray(off, off + len))
      : c.subarray(off, off + len);
  };
  const readPiece = async (i: number): Promise<Uint8Array> => {
    const p = parts[i]!;
    if (plan) {
      const pos = plan.at.get(i);
      if (pos !== undefined) cache.readAhead(plan, pos);
    }
    if (!isSegment(p)) return readSpan(p);
    // A shared segment is read only when it did not cancel (it occurs more often on one side).
    const spans = repo.objects.segmentSpans(p.segment);
    const out: Uint8Array[] = [];
    for (const s of spans) out.push(await readSpan(s));
    return Buffer.concat(out, p.segment.size);
  };
  const side: DiffSide = {
    path,
    format: diffFormat(m.format),
    size: m.size,
    pieces,
    readPiece,
    readRange: (offset, length) => readAcross(starts, lengths, readPiece, offset, length),
    ...(dialectOf(m.options) ? { dialect: dialectOf(m.options) } : {}),
  };
  if (!LINE_FORMATS.has(side.format)) return side;
  const max = repo.chunking.max;
  const openEnded = cache.openSegments;
  return glueRecords(
    side,
    parts.map((p) => {
      if (!isSegment(p)) return p[1] + p[2] >= max;
      // A segment ends inside a record if its last span does (decoded once per segment).
      let open = openEnded.get(p.segment.hash);
      if (open === undefined) {
        const last = repo.objects.segmentSpans(p.segment).at(-1);
        open = last !== undefined && last[1] + last[2] >= max;
        openEnded.set(p.segment.hash, open);
      }
      return open;
    }),
  );
}

/** The longest run of pieces glued into one unit (a record longer than this is compared in fragments). */
export const MAX_GLUED_BYTES = 8 * 1024 * 1024;

/**
 * The chunker cuts a record longer than the maximum chunk size (a long-context example) at that size, so a
 * piece that ends where such a cut may be (`open[i]`: it reaches the end of a chunk of the maximum size)
 * may end inside a record. Such a piece is glued to the pieces after it, up to one that ends at a record
 * boundary: every unit the engine cancels or reads then holds whole records (a long example is compared
 * whole, not as fragments that are "not JSON").
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

/** A working-tree file, chunked exactly as `add` would chunk it; pieces are re-read from disk on demand. */
export async function sideFromWorktree(
  absPath: string,
  path: string,
  format: string,
  chunkFormat: ChunkFormat,
  repo: Repository,
  options?: Record<string, string>,
): Promise<DiffSide> {
  const pieces: DiffPiece[] = [];
  const starts: number[] = [];
  let at = 0;
  for await (const c of chunkStream(
    createReadStream(absPath, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>,
    chunkFormat,
    repo.chunking,
  )) {
    pieces.push({ id: `${hashBytes(c)}+${c.length}`, length: c.length });
    starts.push(at);
    at += c.length;
  }
  const readPiece = async (i: number): Promise<Uint8Array> => {
    const fd = openSync(absPath, 'r');
    try {
      const buf = Buffer.alloc(pieces[i]!.length);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, starts[i]! + got);
        if (n === 0) throw new StrataError('CONFLICT', `${path} changed while it was being diffed`, { path });
        got += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  };
  const side: DiffSide = {
    path,
    format: diffFormat(format),
    size: at,
    pieces,
    readPiece,
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
  return LINE_FORMATS.has(side.format)
    ? glueRecords(
        side,
        pieces.map((p) => p.length >= repo.chunking.max),
      )
    : side;
}
