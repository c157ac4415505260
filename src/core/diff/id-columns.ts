/**
 * Pass 1 without a key keeps, for every example read, only where it is and the identity of its bytes, in
 * typed columns (36 bytes an example, no object per example). Examples are then paired by those identities
 * (a sort of each side, then a merge): an example equal to one on the other side is an anchor and never
 * becomes an object; only the ones left over (the changes, or moved examples whose bytes differ) do.
 */
import type { ParsedRecord } from './records.js';

export class IdColumns {
  n = 0;
  tok = new Float64Array(1024);
  unit = new Int32Array(1024);
  ord = new Int32Array(1024);
  /** -1: unknown. */
  line = new Int32Array(1024);
  /** -1: none; allocated when a row first has one (JSON arrays, Parquet). */
  index: Int32Array | undefined;
  /** 16-byte identities, 4 words each. */
  ids = new Uint32Array(1024 * 4);
  /** Content ids computed while reading (the few lines left in changed regions), by row. */
  readonly cids = new Map<number, string>();
  /** Parse errors of rows whose content id was computed. */
  readonly errors = new Map<number, string>();
  /** Copies of lines kept from pass 1 (within the engine's budget), by row. */
  readonly src = new Map<number, ParsedRecord>();

  private grow(): void {
    const cap = this.tok.length * 2;
    const g = <T extends Float64Array | Int32Array | Uint32Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.tok = g(this.tok, cap);
    this.unit = g(this.unit, cap);
    this.ord = g(this.ord, cap);
    this.line = g(this.line, cap);
    if (this.index) this.index = g(this.index, cap);
    this.ids = g(this.ids, cap * 4);
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
    if (this.n === this.tok.length) this.grow();
    const r = this.n++;
    this.tok[r] = tok;
    this.unit[r] = unit;
    this.ord[r] = ord;
    this.line[r] = line ?? -1;
    if (index !== undefined && !this.index) this.index = new Int32Array(this.tok.length).fill(-1);
    if (this.index) this.index[r] = index ?? -1;
    put(this.ids, r, id);
    return r;
  }

  setCid(r: number, cid: string, error: string | undefined): void {
    this.cids.set(r, cid);
    if (error !== undefined) this.errors.set(r, error);
  }

  id(r: number): string {
    return get(this.ids, r);
  }

  cid(r: number): string | undefined {
    return this.cids.get(r);
  }

  /** Rows ordered by identity, then by row number (the order examples were read in). */
  sorted(): Uint32Array {
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    const ids = this.ids;
    order.sort((x, y) => {
      for (let k = 0; k < 4; k++) {
        const a = ids[x * 4 + k]!;
        const b = ids[y * 4 + k]!;
        if (a !== b) return a < b ? -1 : 1;
      }
      return x - y;
    });
    return order;
  }
}

function put(words: Uint32Array, r: number, id: string): void {
  for (let k = 0; k < 4; k++) {
    const o = k * 4;
    words[r * 4 + k] =
      ((id.charCodeAt(o) << 24) |
        (id.charCodeAt(o + 1) << 16) |
        (id.charCodeAt(o + 2) << 8) |
        id.charCodeAt(o + 3)) >>>
      0;
  }
}

function get(words: Uint32Array, r: number): string {
  let s = '';
  for (let k = 0; k < 4; k++) {
    const v = words[r * 4 + k]!;
    s += String.fromCharCode(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  return s;
}

const cmpId = (a: IdColumns, x: number, b: IdColumns, y: number): number => {
  for (let k = 0; k < 4; k++) {
    const u = a.ids[x * 4 + k]!;
    const v = b.ids[y * 4 + k]!;
    if (u !== v) return u < v ? -1 : 1;
  }
  return 0;
};

/**
 * Multiset matching by identity: the k-th row (in reading order) of an identity before pairs with its k-th
 * row after. Calls `pair(rowBefore, rowAfter)` for each pair; returns which rows of each side were paired.
 */
export function matchIds(
  b: IdColumns,
  a: IdColumns,
  pair: (rb: number, ra: number) => void,
): [Uint8Array, Uint8Array] {
  const mb = new Uint8Array(b.n);
  const ma = new Uint8Array(a.n);
  const ob = b.sorted();
  const oa = a.sorted();
  let i = 0;
  let j = 0;
  while (i < ob.length && j < oa.length) {
    const c = cmpId(b, ob[i]!, a, oa[j]!);
    if (c < 0) i++;
    else if (c > 0) j++;
    else {
      // Equal identities: rows of each side are in reading order, pair them one by one.
      let ie = i;
      while (ie < ob.length && cmpId(b, ob[ie]!, b, ob[i]!) === 0) ie++;
      let je = j;
      while (je < oa.length && cmpId(a, oa[je]!, a, oa[j]!) === 0) je++;
      const n = Math.min(ie - i, je - j);
      for (let k = 0; k < n; k++) {
        pair(ob[i + k]!, oa[j + k]!);
        mb[ob[i + k]!] = 1;
        ma[oa[j + k]!] = 1;
      }
      i = ie;
      j = je;
    }
  }
  return [mb, ma];
}
