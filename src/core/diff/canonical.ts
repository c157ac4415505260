/**
 * Canonical JSON for example identity: object keys sorted, no white space, so that two examples that differ
 * only in key order (or number spelling) hash alike.
 */
import * as crypto from 'node:crypto';

/**
 * The diff's identities are 16 bytes of SHA-256 as a latin1 string (compact as a Map key). They live only
 * in memory and in a diff's temporary spill files, never in the repository, so they need not be BLAKE3 (the
 * content address): SHA-256 runs in hardware on current CPUs and costs ~3x less per small input than a call
 * into the BLAKE3 binding, and a diff computes one or two for every example it reads.
 */
const digest16: (data: string | Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'binary').slice(0, 16)
    : (data) => crypto.createHash('sha256').update(data).digest('binary').slice(0, 16);

/** Canonical JSON text of a value; Parquet's bigint, Date and bytes get stable spellings. */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object': {
      if (value === null) return 'null';
      // Built by appending (no intermediate arrays): this runs for every example a diff looks at.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += canonicalJson(value[i]);
        }
        return out + ']';
      }
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (value instanceof Uint8Array)
        return JSON.stringify({ $bytes: Buffer.from(value).toString('base64') });
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length > 1) keys.sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += JSON.stringify(k);
        out += ':';
        out += canonicalJson(v);
      }
      return out + '}';
    }
    default:
      return 'null';
  }
}

/** Short binary identity of a text under a tag (see digest16). */
export function identity(text: string, tag: string): string {
  return digest16(tag + text);
}

/** Identity of stored bytes as they are (a line of a record file): no copy, no tag. */
export function bytesIdentity(bytes: Uint8Array): string {
  return digest16(bytes);
}

/**
 * Identity of a parsed example: order of keys inside objects does not matter. Two values get the same
 * identity exactly when their canonicalJson texts are equal, but what is hashed is a length-prefixed binary
 * form of the same canonical value, written straight into a reused buffer: no escaped JSON text is built
 * (this runs for every example a diff looks at).
 */
export function contentId(value: unknown): string {
  enc.at = 0;
  enc.byte(0x63); // 'c': kept apart from the other identities' tags
  writeCanonical(value);
  return digest16(enc.buf.subarray(0, enc.at));
}

/** The reused buffer of contentId. */
const enc = {
  buf: Buffer.allocUnsafe(64 * 1024),
  at: 0,
  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  },
  byte(b: number): void {
    this.room(1);
    this.buf[this.at++] = b;
  },
  /** A tag, then the string's UTF-8 bytes prefixed by their length. */
  text(tag: number, s: string): void {
    this.room(5 + s.length * 3);
    this.buf[this.at] = tag;
    const n = this.buf.write(s, this.at + 5, 'utf8');
    this.buf.writeUInt32LE(n, this.at + 1);
    this.at += 5 + n;
  },
  count(tag: number, n: number): void {
    this.room(5);
    this.buf[this.at] = tag;
    this.buf.writeUInt32LE(n, this.at + 1);
    this.at += 5;
  },
};

/**
 * The canonical value in binary, with canonicalJson's equivalences: a number is its JSON spelling (so a
 * bigint equals the number it spells), non-finite numbers and undefined array elements are null, a Date is
 * its ISO string, bytes are the object {$bytes: base64}, and object members whose value is undefined are
 * left out.
 */
function writeCanonical(value: unknown): void {
  switch (typeof value) {
    case 'string':
      return enc.text(0x73, value);
    case 'number':
      return Number.isFinite(value) ? enc.text(0x6e, String(value)) : enc.byte(0x7a);
    case 'bigint':
      return enc.text(0x6e, value.toString());
    case 'boolean':
      return enc.byte(value ? 0x74 : 0x66);
    case 'object': {
      if (value === null) return enc.byte(0x7a);
      if (Array.isArray(value)) {
        enc.count(0x61, value.length);
        for (let i = 0; i < value.length; i++) writeCanonical(value[i]);
        return;
      }
      if (value instanceof Date) return enc.text(0x73, value.toISOString());
      if (value instanceof Uint8Array) {
        enc.count(0x6f, 1);
        enc.text(0x6b, '$bytes');
        return enc.text(0x73, Buffer.from(value).toString('base64'));
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      let sorted = true;
      let defined = 0;
      for (let i = 0; i < keys.length; i++) {
        if (i > 0 && keys[i - 1]! >= keys[i]!) sorted = false;
        if (obj[keys[i]!] !== undefined) defined++;
      }
      if (!sorted) keys.sort();
      enc.count(0x6f, defined);
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        enc.text(0x6b, k);
        writeCanonical(v);
      }
      return;
    }
    default:
      return enc.byte(0x7a);
  }
}
/** Identity of a line that is not a parsable example (kept apart from parsed ones). */
export const rawId = (text: string): string => identity(text, 'm\0');

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !(v instanceof Date) &&
  !(v instanceof Uint8Array);

/** Removes the dotted field paths from a copy of the value; arrays apply the rest of a path to each element. */
export function stripFields(value: unknown, paths: ReadonlyArray<ReadonlyArray<string>>): unknown {
  if (paths.length === 0) return value;
  if (Array.isArray(value)) return value.map((v) => stripFields(v, paths));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (paths.some((p) => p.length === 1 && p[0] === k)) continue;
    const rest = paths.filter((p) => p.length > 1 && p[0] === k).map((p) => p.slice(1));
    out[k] = rest.length ? stripFields(v, rest) : v;
  }
  return out;
}

export const splitPath = (p: string): string[] => p.split('.').filter((s) => s.length > 0);

/** Value at a dotted path, or undefined. */
export function getPath(value: unknown, path: ReadonlyArray<string>): unknown {
  let cur = value;
  for (const seg of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Appends an object key to a field path: `a.b`, or `a["odd key"]`. */
export const joinKey = (base: string, key: string): string =>
  IDENT_RE.test(key) ? (base ? `${base}.${key}` : key) : `${base}[${JSON.stringify(key)}]`;
export const joinIndex = (base: string, i: number): string => `${base}[${i}]`;
