/**
 * A deliberately naive, whole-input implementation of docs/FORMAT.md "Chunking", written from the spec
 * rather than from src/core/chunking: byte-at-a-time hashing, boundaries computed globally. The tests
 * check the fast incremental Chunker against it on many random inputs and parameter sets.
 */
import type { ChunkFormat, ChunkParams } from '../../src/core/chunking/index.js';
import { GEAR_VALUES } from '../../src/core/chunking/index.js';

const NL = 0x0a;
const QUOTE = 0x22;

/** Chunk lengths of `data` per the spec. */
export function referenceChunkLengths(data: Uint8Array, format: ChunkFormat, p: ChunkParams): number[] {
  const N = data.length;
  const bits = Math.log2(p.avg);
  // (h & mask) == 0 with a top-k-bits mask  <=>  h >>> (32 - k) == 0
  const shiftS = 32 - (bits + 2);
  const shiftL = 32 - (bits - 2);

  /** First i in [from, to) where the gear hash (reset at `from`) hits; maskS below `normal`. */
  const gear = (from: number, normal: number, to: number): number => {
    let h = 0;
    for (let i = from; i < to; i++) {
      h = (h * 2 + GEAR_VALUES[data[i]!]!) % 2 ** 32;
      if (Math.floor(h / 2 ** (i < normal ? shiftS : shiftL)) === 0) return i;
    }
    return -1;
  };
  const fastcdc = (s: number, regionEnd: number): number => {
    if (regionEnd - s <= p.min) return regionEnd;
    const to = Math.min(regionEnd, s + p.max);
    const i = gear(s + p.min, s + p.avg, to);
    return i >= 0 ? i + 1 : to;
  };

  const out: number[] = [];
  const emit = (s: number, e: number): number => {
    out.push(e - s);
    return e;
  };
  const fastcdcRegion = (s: number, e: number): number => {
    while (s < e) s = emit(s, fastcdc(s, e));
    return s;
  };

  if (format === 'binary') {
    fastcdcRegion(0, N);
    return out;
  }

  // Record boundaries: positions p where data[p-1] is '\n' (for CSV/TSV: preceded by an even number of
  // '"' bytes in the whole input), plus N itself.
  const quoted = format === 'csv' || format === 'tsv';
  const isBoundary = new Uint8Array(N + 1);
  let quotes = 0;
  for (let i = 0; i < N; i++) {
    if (data[i] === QUOTE) quotes++;
    else if (data[i] === NL && (!quoted || quotes % 2 === 0)) isBoundary[i + 1] = 1;
  }
  isBoundary[N] = 1;
  const nextBoundary = (x: number): number => {
    let q = x;
    while (!isBoundary[q]) q++;
    return q;
  };

  let s = 0;
  if (N === 0) return out;
  if (N <= p.min) return [N];
  if (quoted) {
    const r = nextBoundary(1);
    s = r - s <= p.max ? emit(0, r) : fastcdcRegion(0, r);
  }
  while (s < N) {
    const L = Math.min(s + p.max, N);
    const i = gear(s + p.min, s + p.avg, L);
    if (i >= 0) {
      const e = nextBoundary(i + 1);
      if (e <= L) {
        s = emit(s, e);
        continue;
      }
    }
    if (N - s <= p.max) {
      s = emit(s, N);
      continue;
    }
    let last = -1;
    for (let q = s + 1; q <= s + p.max; q++) if (isBoundary[q]) last = q;
    if (last > 0) {
      s = emit(s, last);
      continue;
    }
    s = fastcdcRegion(s, nextBoundary(s + 1));
  }
  return out;
}
