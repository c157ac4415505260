/**
 * The parts of stored file versions as typed columns, for the diff of two of them (repo-sides.ts): a part
 * is a chunk range (chunk number, offset, length) or a whole manifest segment both versions hold. Chunk
 * hashes are numbered once per diff (one string per chunk, shared by both sides), so a part costs ~20 bytes
 * instead of a span array holding its own copy of a 64-character hash. Refinement (cutting shared chunks at
 * both sides' boundaries) and pairing (which parts hold the same bytes) run on these columns.
 */
import type { ObjectDb } from '../object-db.js';
import type { SegmentRef, Span } from '../objects/objects.js';

/** Lowercase hex digit values by character code, -1 for any other character. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) HEX['0123456789abcdef'.charCodeAt(c)] = c;

/**
 * The chunk hashes of one diff, numbered in order of first sight, in an open-addressing table keyed by the
 * hash's 64 hex digits (its first 8, as a number, give the slot). A hash read from a segment's bytes is
 * numbered by comparing those bytes with the digits kept for each number: no string is made for it, not even
 * a new one, until `hash(k)` asks for it (the read plans and reads ask only for the chunks a diff reads, a
 * few percent of those its manifests name).
 */
export class ChunkTable {
  private n = 0;
  /** 64 hex digits per number (unused for a string that is not a hash). */
  private hex: Uint8Array;
  /** The first 8 digits' value per number; `isHash[k]` 0 for a string that is not a hash. */
  private first: Int32Array;
  private isHash: Uint8Array;
  /** The strings made so far (or given), by number. */
  private strs: (string | undefined)[] = [];
  private slots: Int32Array;

  /**
   * `expect`: about how many chunks the table will number (the manifests' span counts, an upper bound): its
   * columns are made that large at once, not grown by doubling (each growth copies them into new memory).
   */
  constructor(expect = 4096) {
    const cap = Math.max(4096, Math.min(expect, 1 << 20));
    this.hex = new Uint8Array(64 * cap);
    this.first = new Int32Array(cap);
    this.isHash = new Uint8Array(cap);
    let slots = 8192;
    while (slots < 2 * cap) slots *= 2;
    this.slots = new Int32Array(slots);
  }
  /** Strings that are not hashes (never in a valid manifest): numbered apart, so they stay distinct. */
  private readonly other = new Map<string, number>();

  /** How many numbers are given out (0 .. size - 1). */
  get size(): number {
    return this.n;
  }

  /** The string of number `k`. */
  hash(k: number): string {
    let s = this.strs[k];
    if (s === undefined) {
      s = Buffer.from(this.hex.buffer, this.hex.byteOffset + 64 * k, 64).toString('latin1');
      this.strs[k] = s;
    }
    return s;
  }

  /**
   * Every number's string, in order: builds them all (tests; the diff asks for one at a time with `hash`, a
   * getter here once made a loop over parts quadratic).
   */
  allHashes(): string[] {
    return Array.from({ length: this.n }, (_, k) => this.hash(k));
  }

  /** The number of `hash` (any string; a chunk hash is 64 lowercase hex digits). */
  number(hash: string): number {
    if (hash.length !== 64) return this.numberOther(hash);
    let v = 0;
    for (let i = 0; i < 8; i++) {
      const c = hash.charCodeAt(i);
      const d = c < 256 ? HEX[c]! : -1;
      if (d < 0) return this.numberOther(hash);
      v = (v << 4) | d;
    }
    const hex = this.hex;
    const mask = this.slots.length - 1;
    let s = v & mask;
    for (; ; s = (s + 1) & mask) {
      const k = this.slots[s]! - 1;
      if (k < 0) break;
      if (this.first[k] !== v || !this.isHash[k]) continue;
      const b = 64 * k;
      let i = 8;
      while (i < 64 && hex[b + i] === hash.charCodeAt(i)) i++;
      if (i === 64) return k;
    }
    for (let i = 8; i < 64; i++) {
      const c = hash.charCodeAt(i);
      if (c >= 256 || HEX[c]! < 0) return this.numberOther(hash);
    }
    const k = this.add(v, 1, s);
    const b = 64 * k;
    for (let i = 0; i < 64; i++) this.hex[b + i] = hash.charCodeAt(i);
    this.strs[k] = hash;
    return k;
  }

  /**
   * The number of the hash whose 64 hex digits are `src[at..at+64)`, or -1 if they are not 64 lowercase hex
   * digits.
   */
  numberHex(src: Uint8Array, at: number): number {
    let v = 0;
    for (let i = at; i < at + 8; i++) {
      const d = HEX[src[i]!]!;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    const hex = this.hex;
    const mask = this.slots.length - 1;
    let s = v & mask;
    for (; ; s = (s + 1) & mask) {
      const k = this.slots[s]! - 1;
      if (k < 0) break;
      if (this.first[k] !== v || !this.isHash[k]) continue;
      const b = 64 * k - at;
      let i = at + 8;
      const e = at + 64;
      while (i < e && hex[b + i] === src[i]) i++;
      if (i === e) return k;
    }
    for (let i = at + 8; i < at + 64; i++) if (HEX[src[i]!]! < 0) return -1;
    const k = this.add(v, 1, s);
    const b = 64 * k - at;
    for (let i = at; i < at + 64; i++) this.hex[b + i] = src[i]!;
    return k;
  }

  /** A new number (its slot `s` found free by the caller, or -1 for none); grows the columns. */
  private add(first: number, isHash: number, s: number): number {
    const k = this.n++;
    if (k === this.first.length) {
      const grow = <T extends Uint8Array | Int32Array>(a: T, n: number, make: (n: number) => T): T => {
        const b = make(n);
        b.set(a);
        return b;
      };
      this.first = grow(this.first, 2 * k, (n) => new Int32Array(n));
      this.isHash = grow(this.isHash, 2 * k, (n) => new Uint8Array(n));
      this.hex = grow(this.hex, 128 * k, (n) => new Uint8Array(n));
    }
    this.first[k] = first;
    this.isHash[k] = isHash;
    this.strs.push(undefined);
    if (isHash) {
      if (2 * (k + 1) > this.slots.length) this.rehash();
      else this.slots[s] = k + 1;
    }
    return k;
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    const mask = this.slots.length - 1;
    for (let k = 0; k < this.n; k++) {
      if (!this.isHash[k]) continue;
      let s = this.first[k]! & mask;
      while (this.slots[s] !== 0) s = (s + 1) & mask;
      this.slots[s] = k + 1;
    }
  }

  private numberOther(s: string): number {
    let k = this.other.get(s);
    if (k === undefined) {
      k = this.add(0, 0, -1);
      this.strs[k] = s;
      this.other.set(s, k);
    }
    return k;
  }
}

/**
 * One side's parts in order: `chunk[i]` is a chunk number, or -1 - j for the whole segment `segments[j]`
 * (then `len[i]` is its size and `off[i]` 0).
 */
export class Parts {
  n = 0;
  chunk: Int32Array;
  off: Float64Array;
  len: Float64Array;
  readonly segments: SegmentRef[] = [];

  /** `expect`: about how many parts will be pushed (columns made that large at once). */
  constructor(expect = 1024) {
    const cap = Math.max(1024, Math.min(expect, 1 << 21));
    this.chunk = new Int32Array(cap);
    this.off = new Float64Array(cap);
    this.len = new Float64Array(cap);
  }

  push(chunk: number, off: number, len: number): void {
    if (this.n === this.chunk.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.chunk = grow(this.chunk, (n) => new Int32Array(n));
      this.off = grow(this.off, (n) => new Float64Array(n));
      this.len = grow(this.len, (n) => new Float64Array(n));
    }
    this.chunk[this.n] = chunk;
    this.off[this.n] = off;
    this.len[this.n] = len;
    this.n++;
  }

  pushSpans(spans: ReadonlyArray<Span>, table: ChunkTable): void {
    for (const [h, off, len] of spans) this.push(table.number(h), off, len);
  }

  /**
   * The spans of a segment, read from its bytes without building them (ObjectDb.scanSegmentSpans); false
   * (and nothing pushed) when that fast path does not apply: then use pushSpans(objects.segmentSpans(ref)).
   */
  pushSegmentSpans(objects: ObjectDb, ref: SegmentRef, table: ChunkTable): boolean {
    const n = this.n;
    const ok = objects.scanSegmentSpans(ref, (bytes, at, off, len) => {
      const k = table.numberHex(bytes, at);
      if (k < 0) return false;
      this.push(k, off, len);
      return true;
    });
    if (!ok) this.n = n;
    return ok;
  }

  pushSegment(ref: SegmentRef): void {
    this.segments.push(ref);
    this.push(-this.segments.length, 0, ref.size);
  }

  isSegment(i: number): boolean {
    return this.chunk[i]! < 0;
  }

  segment(i: number): SegmentRef {
    return this.segments[-1 - this.chunk[i]!]!;
  }

  toSpans(table: ChunkTable): Span[] {
    const out: Span[] = [];
    for (let i = 0; i < this.n; i++) {
      if (this.isSegment(i)) throw new Error('toSpans: a whole segment has no span');
      out.push([table.hash(this.chunk[i]!) as Span[0], this.off[i]!, this.len[i]!]);
    }
    return out;
  }
}

/**
 * Cuts both sides' parts so that bytes the two versions share become equal parts: a chunk that both sides
 * reference with different ranges (one an edit touched) is cut, in every part into it, at the union of both
 * sides' boundaries within it. Whole segments and chunks referenced alike stay as they are.
 */
export function refineParts(a: Parts, b: Parts, chunks: number): [Parts, Parts] {
  const sideMask = new Uint8Array(chunks);
  const firstOff = new Float64Array(chunks).fill(-1);
  const firstLen = new Float64Array(chunks);
  const mixed = new Uint8Array(chunks);
  for (const [p, bit] of [
    [a, 1],
    [b, 2],
  ] as const) {
    for (let i = 0; i < p.n; i++) {
      const k = p.chunk[i]!;
      if (k < 0) continue;
      if (firstOff[k] === -1) {
        firstOff[k] = p.off[i]!;
        firstLen[k] = p.len[i]!;
      } else if (firstOff[k] !== p.off[i] || firstLen[k] !== p.len[i]) mixed[k] = 1;
      sideMask[k]! |= bit;
    }
  }
  // The cut points of each chunk both sides reference differently, as one column (chunk k's are
  // at[k] .. at[k] + count[k]), sorted and without repeats: no array or map entry per chunk.
  const count = new Int32Array(chunks);
  let total = 0;
  for (const p of [a, b])
    for (let i = 0; i < p.n; i++) {
      const k = p.chunk[i]!;
      if (k < 0 || sideMask[k] !== 3 || !mixed[k]) continue;
      count[k]! += 2;
      total += 2;
    }
  if (total === 0) return [a, b];
  const at = new Int32Array(chunks);
  for (let k = 0, n = 0; k < chunks; k++) {
    at[k] = n;
    n += count[k]!;
  }
  const cut = new Float64Array(total);
  const fill = at.slice();
  for (const p of [a, b])
    for (let i = 0; i < p.n; i++) {
      const k = p.chunk[i]!;
      if (k < 0 || sideMask[k] !== 3 || !mixed[k]) continue;
      cut[fill[k]!++] = p.off[i]!;
      cut[fill[k]!++] = p.off[i]! + p.len[i]!;
    }
  let cutCount = 0;
  for (let k = 0; k < chunks; k++) {
    const m = count[k]!;
    if (m === 0) continue;
    const from = at[k]!;
    cut.subarray(from, from + m).sort();
    let n = 1;
    for (let i = 1; i < m; i++) if (cut[from + i] !== cut[from + n - 1]) cut[from + n++] = cut[from + i]!;
    count[k] = n;
    cutCount += n;
  }
  const refine = (p: Parts): Parts => {
    const out = new Parts(p.n + cutCount);
    for (const s of p.segments) out.segments.push(s);
    for (let i = 0; i < p.n; i++) {
      const k = p.chunk[i]!;
      const off = p.off[i]!;
      const len = p.len[i]!;
      if (k < 0 || len === 0 || !mixed[k] || count[k] === 0) {
        out.push(k, off, len);
        continue;
      }
      const from = at[k]!;
      const end = from + count[k]!;
      // First boundary strictly inside the part, by binary search.
      let lo = from;
      let hi = end;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cut[mid]! <= off) lo = mid + 1;
        else hi = mid;
      }
      let pos = off;
      for (let j = lo; j < end && cut[j]! < off + len; j++) {
        out.push(k, pos, cut[j]! - pos);
        pos = cut[j]!;
      }
      out.push(k, pos, off + len - pos);
    }
    return out;
  };
  return [refine(a), refine(b)];
}

/** The id of each part of a side, made when asked (see StoredPiece in repo-sides.ts). */
export type PartIds = (i: number) => string;

/** Ids of both sides' parts (equal ids: equal bytes) and which parts have no partner on the other side. */
export interface Pairing {
  ids: [PartIds, PartIds];
  unmatched: [Uint8Array, Uint8Array];
  /** For each part, the index of its partner on the other side, or -1. */
  partner: [Int32Array, Int32Array];
}

/**
 * Pairs the parts of two sides that hold the same bytes (the same chunk range, or the same segment): as
 * many pairs as each range allows (the smaller of its counts on the two sides), in order where the versions
 * keep it. The parts of a pair get one id (their pair's number) on both sides; every other part gets an id
 * of its own. A segment's id keeps the prefix `segment:`. The engine pairs such sides by `partner`: ids are
 * made only when asked, not held (a string per part was ~10 MB of a 1 GiB deletion diff's heap).
 */
export function pairParts(a: Parts, b: Parts): Pairing {
  const same = (i: number, j: number): boolean => {
    const ka = a.chunk[i]!;
    const kb = b.chunk[j]!;
    if (ka >= 0 || kb >= 0) return ka === kb && a.off[i] === b.off[j] && a.len[i] === b.len[j];
    const sa = a.segment(i);
    const sb = b.segment(j);
    return sa.hash === sb.hash && sa.size === sb.size;
  };
  const partner: [Int32Array, Int32Array] = [new Int32Array(a.n).fill(-1), new Int32Array(b.n).fill(-1)];
  const pair = (i: number, j: number): void => {
    partner[0][i] = j;
    partner[1][j] = i;
  };
  // 1. A walk in order: equal parts at the two positions pair at once; at a difference, an insertion or a
  //    deletion of one part is stepped over (the edits of a span-coded version look so), else both sides
  //    step on. No map: most parts of an edit, an append or a deletion pair here.
  let i = 0;
  let j = 0;
  while (i < a.n && j < b.n) {
    if (same(i, j)) pair(i++, j++);
    else if (j + 1 < b.n && same(i, j + 1)) j++;
    else if (i + 1 < a.n && same(i + 1, j)) i++;
    else {
      i++;
      j++;
    }
  }
  // 2. The parts left pair as a multiset, in order (moved parts: a shuffle pairs here). Keys are numbers
  //    while a range fits in one (offsets and lengths below 2^17, fewer than 2^19 chunks), else strings.
  const keyOf = (p: Parts, x: number): number | string => {
    const k = p.chunk[x]!;
    if (k < 0) {
      const s = p.segment(x);
      return `s${s.hash}+${s.size}`;
    }
    const off = p.off[x]!;
    const len = p.len[x]!;
    return off < 2 ** 17 && len < 2 ** 17 && k < 2 ** 19
      ? (k * 2 ** 17 + off) * 2 ** 17 + len
      : `${k}@${off}+${len}`;
  };
  const left = new Map<number | string, number[]>();
  for (let q = 0; q < b.n; q++) {
    if (partner[1][q]! >= 0) continue;
    const k = keyOf(b, q);
    const list = left.get(k);
    if (list) list.push(q);
    else left.set(k, [q]);
  }
  if (left.size > 0) {
    const used = new Map<number | string, number>();
    for (let p = 0; p < a.n; p++) {
      if (partner[0][p]! >= 0) continue;
      const k = keyOf(a, p);
      const list = left.get(k);
      if (!list) continue;
      const u = used.get(k) ?? 0;
      if (u >= list.length) continue;
      used.set(k, u + 1);
      pair(p, list[u]!);
    }
  }
  // 3. Ids: a pair's number, or the side's tag and the part's index.
  const unmatched: [Uint8Array, Uint8Array] = [new Uint8Array(a.n), new Uint8Array(b.n)];
  const pairNo: [Int32Array, Int32Array] = [new Int32Array(a.n), new Int32Array(b.n)];
  let pairs = 0;
  for (let p = 0; p < a.n; p++) {
    const q = partner[0][p]!;
    if (q < 0) unmatched[0][p] = 1;
    else pairNo[0][p] = pairNo[1][q] = pairs++;
  }
  for (let q = 0; q < b.n; q++) if (partner[1][q]! < 0) unmatched[1][q] = 1;
  const idsOf =
    (s: 0 | 1, parts: Parts, tag: string): PartIds =>
    (i) =>
      `${parts.isSegment(i) ? 'segment:' : ''}${unmatched[s][i] ? `${tag}${i}` : pairNo[s][i]!}`;
  return { ids: [idsOf(0, a, 'b'), idsOf(1, b, 'a')], unmatched, partner };
}
