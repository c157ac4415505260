/**
 * Positional alignment. Examples matched on both sides (and shared pieces) are anchors; the longest run of
 * anchors that keep their order (a longest increasing subsequence, as in patience diff) splits each side into
 * gaps, and the unmatched examples of one gap are the candidates for "modified" pairs.
 */
import { diffArrays } from 'diff';
import type { IntLog } from './spill.js';

/** Indices (into `seq`) of one longest strictly increasing subsequence. O(n log n). */
export function longestIncreasing(seq: ArrayLike<number>): number[] {
  const tails: number[] = []; // index into seq of the smallest tail of an increasing run of each length
  const prev = new Int32Array(seq.length).fill(-1);
  for (let i = 0; i < seq.length; i++) {
    const v = seq[i]!;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seq[tails[mid]!]! < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1]!;
    tails[lo] = i;
  }
  const out: number[] = new Array<number>(tails.length);
  let k = tails.length ? tails[tails.length - 1]! : -1;
  for (let j = tails.length - 1; j >= 0; j--) {
    out[j] = k;
    k = prev[k]!;
  }
  return out;
}

/** Number of elements of the sorted array that are < v. */
export function countBelow(sorted: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Beyond this many edits inside one gap, examples are paired purely by position. */
const MAX_GAP_EDITS = 4_000;

/**
 * Pairs removed and added examples of one gap: diff's diffArrays aligns them (similar examples line up),
 * then a removed run next to an added run pairs off position by position; the rest stay removed / added.
 */
export function pairGap<T>(
  removed: T[],
  added: T[],
  similar: (a: T, b: T) => boolean,
): { pairs: Array<[T, T]>; removed: T[]; added: T[] } {
  const out = { pairs: [] as Array<[T, T]>, removed: [] as T[], added: [] as T[] };
  if (removed.length === 0 || added.length === 0) {
    out.removed = removed;
    out.added = added;
    return out;
  }
  // One removed and one added example pair whether or not they are similar (a removed run next to an added
  // run pairs position by position), so the comparison is skipped.
  if (removed.length === 1 && added.length === 1) {
    out.pairs.push([removed[0]!, added[0]!]);
    return out;
  }
  const parts = diffArrays(removed, added, { comparator: similar, maxEditLength: MAX_GAP_EDITS });
  let bi = 0;
  let ai = 0;
  let r: T[] = [];
  let a: T[] = [];
  const flush = (): void => {
    const n = Math.min(r.length, a.length);
    for (let k = 0; k < n; k++) out.pairs.push([r[k]!, a[k]!]);
    out.removed.push(...r.slice(n));
    out.added.push(...a.slice(n));
    r = [];
    a = [];
  };
  if (!parts) {
    r = removed;
    a = added;
    flush();
    return out;
  }
  for (const part of parts) {
    const count = part.count ?? part.value.length;
    if (part.removed) r.push(...removed.slice(bi, (bi += count)));
    else if (part.added) a.push(...added.slice(ai, (ai += count)));
    else {
      flush();
      for (let k = 0; k < count; k++) out.pairs.push([removed[bi++]!, added[ai++]!]);
    }
  }
  flush();
  return out;
}

/**
 * `longestIncreasing` over values given one at a time (same algorithm, so the same subsequence): the
 * back-pointers go to an IntLog (memory up to its budget, then a file), the rest is O(length of the run).
 * `result()` gives the indices of the chosen values, ascending.
 */
export class StreamingLis {
  n = 0;
  private len = 0;
  private tailV = new Float64Array(1024);
  private tailI = new Int32Array(1024);
  constructor(private readonly prev: IntLog) {}

  push(v: number): void {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tailV[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    this.prev.push(lo > 0 ? this.tailI[lo - 1]! : -1);
    if (lo === this.tailV.length) {
      const v2 = new Float64Array(lo * 2);
      const i2 = new Int32Array(lo * 2);
      v2.set(this.tailV);
      i2.set(this.tailI);
      this.tailV = v2;
      this.tailI = i2;
    }
    this.tailV[lo] = v;
    this.tailI[lo] = this.n++;
    if (lo === this.len) this.len++;
  }

  result(): Uint32Array {
    const out = new Uint32Array(this.len);
    let k = this.len ? this.tailI[this.len - 1]! : -1;
    for (let j = this.len - 1; j >= 0; j--) {
      out[j] = k;
      k = this.prev.get(k);
    }
    return out;
  }
}
