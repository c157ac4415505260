/**
 * Record keys for span-coding (src/core/worktree/span-encoder.ts): a record is a '\n'-terminated line (for
 * CSV/TSV, one whose '\n' is outside double quotes: recordEnd), its key a fast 53-bit hash of its bytes.
 * Here, below core, so that the compression pool's worker thread can key the old chunks it decodes while
 * the main thread looks the keys up.
 */

const NL = 0x0a;
const QUOTE = 0x22;

/**
 * The end of the record of `b` starting at s, looking in [s, to): just past the first '\n' — with `quoted`
 * (CSV/TSV), the first one preceded by an even number of '"' bytes since s, i.e. outside quotes (an RFC 4180
 * `""` escape toggles twice, so the parity is exact) — or `to` if there is none. -1 if there is none and
 * [s, to) holds an odd number of '"' (it ends inside quotes: a piece of an over-long record). Without
 * `quoted` one indexOf; with it, one per '"' and per '\n' up to the record's end.
 */
export function recordEnd(b: Buffer, s: number, to: number, quoted: boolean): number {
  let nl = b.indexOf(NL, s);
  if (nl >= to) nl = -1;
  if (!quoted) return nl < 0 ? to : nl + 1;
  for (let p = s; ;) {
    const open = b.indexOf(QUOTE, p);
    if (open < 0 || open >= to || (nl >= 0 && open > nl)) return nl < 0 ? to : nl + 1;
    const close = b.indexOf(QUOTE, open + 1);
    if (close < 0 || close >= to) return -1;
    p = close + 1;
    if (nl >= 0 && nl < p) {
      nl = b.indexOf(NL, p);
      if (nl >= to) nl = -1;
    }
  }
}

/**
 * A 53-bit hash of record bytes data[s, e), to find candidates: a match is then checked byte for byte against
 * the old chunk, so a collision (accidental or crafted) can only cost a missed match, never wrong bytes.
 * Written in plain JS because a native call per ~1 KiB record costs more than hashing it here.
 */
export function recordKey(data: Uint8Array, s: number, e: number): number {
  return recordKeyOf(new DataView(data.buffer, data.byteOffset, data.byteLength), s, e);
}

/**
 * recordKey of bytes [s, e) of the view `v` of the data (one view serves all the records of a chunk). Four independent multiply chains over 16 bytes a
 * round, read as little-endian words (DataView reads compile to single unaligned loads): about 0.5 ns a byte,
 * 2.5 times faster than one word a round read byte by byte. The key depends only on the bytes, not on where
 * they lie (alignment), so an old and a new copy of a record get the same key.
 */
export function recordKeyOf(v: DataView, s: number, e: number): number {
  const n = e - s;
  let h1 = 0x811c9dc5 ^ n;
  let h2 = 0x3c6ef372 ^ Math.imul(n, 0x9e3779b1);
  let h3 = 0x2545f491;
  let h4 = 0x61c88647;
  let i = s;
  for (; i + 16 <= e; i += 16) {
    h1 = Math.imul(h1 ^ v.getInt32(i, true), 0x01000193);
    h2 = Math.imul(h2 ^ v.getInt32(i + 4, true), 0x5bd1e995);
    h3 = Math.imul(h3 ^ v.getInt32(i + 8, true), 0x85ebca6b);
    h4 = Math.imul(h4 ^ v.getInt32(i + 12, true), 0xc2b2ae35);
    h1 ^= h1 >>> 15;
    h2 ^= h2 >>> 13;
    h3 ^= h3 >>> 16;
    h4 ^= h4 >>> 14;
  }
  for (; i + 4 <= e; i += 4) {
    h1 = Math.imul(h1 ^ v.getInt32(i, true), 0x01000193);
    h1 ^= h1 >>> 15;
  }
  for (; i < e; i++) h2 = Math.imul(h2 ^ v.getUint8(i), 0x5bd1e995);
  // Fold the four lanes into two, each depending on all four, then finalize both.
  h1 ^= Math.imul(h3, 0x27d4eb2f);
  h2 ^= Math.imul(h4, 0x165667b1);
  h1 ^= Math.imul(h2 ^ (h2 >>> 15), 0x2c1b3c6d);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 0x297a2d39);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0xc2b2ae35);
  h2 ^= h2 >>> 16;
  return (h1 >>> 0) * 0x200000 + (h2 >>> 11);
}

/** Record triples: start, end and key of each record, 3 numbers a record, in order. */
export type RecordTriples = Float64Array;

let scratch: Float64Array = new Float64Array(3 << 10);

/**
 * The records of `data` (split at '\n' from its start; `quoted`, for CSV/TSV: at '\n' outside quotes, see
 * recordEnd) at least `min` bytes long, as triples appended to `out` from index `at` (grown if needed);
 * returns the array and the index past the last triple. A quoted remainder that ends inside quotes is not
 * keyed.
 */
export function keyRecords(
  data: Uint8Array,
  min: number,
  out: Float64Array = scratch,
  at = 0,
  quoted = false,
): { out: Float64Array; at: number } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let s = 0, e = 0; s < data.length; s = e) {
    if (quoted) {
      e = recordEnd(b, s, data.length, true);
      if (e < 0) break;
    } else {
      const nl = b.indexOf(10, s);
      e = nl === -1 ? data.length : nl + 1;
    }
    if (e - s < min) continue;
    if (at + 3 > out.length) {
      const grown = new Float64Array(out.length * 2);
      grown.set(out);
      if (out === scratch) scratch = grown;
      out = grown;
    }
    out[at] = s;
    out[at + 1] = e;
    out[at + 2] = recordKeyOf(v, s, e);
    at += 3;
  }
  return { out, at };
}

/**
 * The records of each of `items` (undefined: none) keyed into one array: item i's triples are
 * keys[bounds[i], bounds[i + 1]) (splitKeys). `quoted`: CSV/TSV records (keyRecords).
 */
export function keyAll(
  items: readonly (Uint8Array | undefined)[],
  min: number,
  quoted = false,
): { keys: Float64Array<ArrayBuffer>; bounds: number[] } {
  const bounds: number[] = [];
  let r: { out: Float64Array; at: number } = { out: scratch, at: 0 };
  for (const d of items) {
    bounds.push(r.at);
    if (d) r = keyRecords(d, min, r.out, r.at, quoted);
  }
  bounds.push(r.at);
  return { keys: r.out.slice(0, r.at) as Float64Array<ArrayBuffer>, bounds };
}

/** Item i's triples of a keyAll result. */
export function splitKeys(keys: Float64Array, bounds: readonly number[]): RecordTriples[] {
  return bounds.slice(1).map((b, i) => keys.subarray(bounds[i]!, b));
}
