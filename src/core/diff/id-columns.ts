/**
 * Pass 1 without a key keeps, for every example read, only where it is and the identity of its bytes: a
 * fixed-width record of 44 bytes (no object per example), in memory up to a budget and spilled to sorted runs
 * on disk beyond it (spill.ts). Examples are then paired by those identities (both sides in identity order,
 * merged): an example equal to one on the other side is an anchor and never becomes an object; only the ones
 * left over (the changes, or moved examples whose bytes differ) do.
 */
import type { ParsedRecord } from './records.js';
import { SortedRecords, type SpillDir } from './spill.js';

/** Record layout: identity (4 words), row, token (high, low), unit, ordinal, line, index. Sorted by identity, row. */
const WIDTH = 11;
const KEY_WORDS = 5;
const TWO32 = 2 ** 32;

/** A row as read back. */
export interface IdRow {
  row: number;
  tok: number;
  unit: number;
  ord: number;
  /** -1: unknown. */
  line: number;
  /** -1: none. */
  index: number;
  id: string;
}

export class IdColumns {
  private readonly recs: SortedRecords;
  private readonly w = new Uint32Array(WIDTH);
  /** Content ids computed while reading (the few lines left in changed regions), by row. */
  readonly cids = new Map<number, string>();
  /** Parse errors of rows whose content id was computed, or that were only parsed (setError). */
  readonly errors = new Map<number, string>();
  /** Copies of lines kept from pass 1 (within the engine's budget), by row. */
  readonly src = new Map<number, ParsedRecord>();

  constructor(budgetBytes: number, dir: SpillDir) {
    this.recs = new SortedRecords(WIDTH, KEY_WORDS, budgetBytes, dir);
  }

  get n(): number {
    return this.recs.n;
  }

  get spilled(): boolean {
    return this.recs.spilled;
  }

  /** Adds a row; `id` is a 16-character latin1 identity (canonical.ts). Returns the row number. */
  push(
    tok: number,
    unit: number,
    ord: number,
    line: number | undefined,
    index: number | undefined,
    id: string,
  ): number {
    const w = this.w;
    for (let k = 0; k < 4; k++) {
      const o = k * 4;
      w[k] =
        ((id.charCodeAt(o) << 24) |
          (id.charCodeAt(o + 1) << 16) |
          (id.charCodeAt(o + 2) << 8) |
          id.charCodeAt(o + 3)) >>>
        0;
    }
    const r = this.recs.n;
    w[4] = r;
    w[5] = Math.floor(tok / TWO32);
    w[6] = tok >>> 0;
    w[7] = unit;
    w[8] = ord;
    w[9] = (line ?? -1) >>> 0;
    w[10] = (index ?? -1) >>> 0;
    this.recs.push(w);
    return r;
  }

  /** Frees the buffer of spilled rows while the other side fills (SortedRecords.pause). */
  pause(): void {
    this.recs.pause();
  }

  /** A row whose content id is not needed (nothing to pair it with) but that does not parse. */
  setError(r: number, error: string): void {
    this.errors.set(r, error);
  }

  setCid(r: number, cid: string, error: string | undefined): void {
    this.cids.set(r, cid);
    if (error !== undefined) this.errors.set(r, error);
  }

  /** Rows in identity order, then row order (the order examples were read in). */
  reader(): { next(): boolean; readonly rec: Uint32Array } {
    return this.recs.reader();
  }

  clear(): void {
    this.recs.clear();
    this.cids.clear();
    this.errors.clear();
    this.src.clear();
  }
}

/** The row a record holds. */
export function rowOf(w: Uint32Array): IdRow {
  let id = '';
  for (let k = 0; k < 4; k++) {
    const v = w[k]!;
    id += String.fromCharCode(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  return {
    row: w[4]!,
    tok: w[5]! * TWO32 + w[6]!,
    unit: w[7]!,
    ord: w[8]!,
    line: w[9]! | 0,
    index: w[10]! | 0,
    id,
  };
}

const tokOf = (w: Uint32Array): number => w[5]! * TWO32 + w[6]!;

const cmpId = (x: Uint32Array, y: Uint32Array): number => {
  for (let k = 0; k < 4; k++) {
    const u = x[k]!;
    const v = y[k]!;
    if (u !== v) return u < v ? -1 : 1;
  }
  return 0;
};

/**
 * Multiset matching by identity: the k-th row (in reading order) of an identity before pairs with its k-th
 * row after. Calls `pair(tokBefore, tokAfter)` for each pair and `left(side, row)` for each row not paired
 * (in identity order). With `match: false` nothing pairs: every row is left.
 */
export function matchIds(
  b: IdColumns,
  a: IdColumns,
  pair: (tb: number, ta: number) => void,
  left: (side: 0 | 1, row: IdRow) => void,
  match = true,
): void {
  const rb = b.reader();
  const ra = a.reader();
  let hb = rb.next();
  let ha = ra.next();
  while (hb || ha) {
    const c = !match ? (hb ? -1 : 1) : !ha ? -1 : !hb ? 1 : cmpId(rb.rec, ra.rec);
    if (c < 0) {
      left(0, rowOf(rb.rec));
      hb = rb.next();
    } else if (c > 0) {
      left(1, rowOf(ra.rec));
      ha = ra.next();
    } else {
      // Equal identities: rows of each side come in reading order, so they pair one by one.
      pair(tokOf(rb.rec), tokOf(ra.rec));
      hb = rb.next();
      ha = ra.next();
    }
  }
}
