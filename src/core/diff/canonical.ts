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

/** A little-endian 32-bit length (Buffer#writeUInt32LE validates its arguments on every call). */
function put32(b: Uint8Array, at: number, n: number): void {
  b[at] = n & 0xff;
  b[at + 1] = (n >>> 8) & 0xff;
  b[at + 2] = (n >>> 16) & 0xff;
  b[at + 3] = n >>> 24;
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
    put32(this.buf, this.at + 1, n);
    this.at += 5 + n;
  },
  count(tag: number, n: number): void {
    this.room(5);
    this.buf[this.at] = tag;
    put32(this.buf, this.at + 1, n);
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

const utf8Text = new TextDecoder('utf-8');

/**
 * The canonical JSON text of the JSON value spelled by bytes [from, to), when the bytes are that text
 * already: a string with no escape and no control byte (JSON.stringify would write it back the same), or
 * an integer of at most 15 digits (not -0). Undefined for anything else (the caller parses it). Keys are
 * mostly such values: a keyed diff reads each example's key this way, without JSON.parse and canonicalJson.
 */
export function plainJsonText(bytes: Uint8Array, from: number, to: number): string | undefined {
  const n = to - from;
  if (n < 1) return undefined;
  const first = bytes[from]!;
  if (first === 0x22) {
    if (n < 2 || bytes[to - 1] !== 0x22) return undefined;
    for (let i = from + 1; i < to - 1; i++) {
      const b = bytes[i]!;
      if (b === 0x5c || b < 0x20 || b === 0x22) return undefined;
    }
    return utf8Text.decode(bytes.subarray(from, to));
  }
  let i = from;
  if (first === 0x2d) i++;
  const digits = to - i;
  if (digits < 1 || digits > 15) return undefined;
  if (bytes[i] === 0x30 && (digits > 1 || i > from)) return undefined; // a leading zero, or -0
  for (let k = i; k < to; k++) if (bytes[k]! < 0x30 || bytes[k]! > 0x39) return undefined;
  return utf8Text.decode(bytes.subarray(from, to));
}

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

/**
 * contentId of a JSON text given as UTF-8 bytes, computed from the bytes without JSON.parse: the same
 * length-prefixed canonical form is written straight from the tokens (object members re-ordered in place).
 * Undefined when the text is not in the subset this reads exactly as JSON.parse would: then parse it and
 * call contentId. Left to that path: invalid JSON or UTF-8, lone surrogates, object keys with escapes,
 * duplicate keys or characters beyond U+FFFF (where UTF-8 order is not JavaScript's string order), and
 * nesting deeper than 128. With `keys` (field names as UTF-8) and `keyRanges` (2 per key), a successful call
 * also says where the top-level object's members of those names have their values: [start, end) in `bytes`,
 * or -1 (absent, or the text is not an object).
 */
export function contentIdOfJson(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
  keys?: ReadonlyArray<Uint8Array>,
  keyRanges?: Int32Array,
): string | undefined {
  J.src = bytes;
  J.pos = start;
  J.lim = end;
  enc.at = 0;
  enc.byte(0x63);
  J.memTop = 0;
  J.keys = keys;
  J.keyRanges = keyRanges;
  if (keyRanges) keyRanges.fill(-1);
  if (!jValue(0)) return undefined;
  skipWs();
  if (J.pos !== J.lim) return undefined;
  return digest16(enc.buf.subarray(0, enc.at));
}

/**
 * The reader's state. Fields of one object, not module-level `let`s: V8 checks a module binding for its
 * temporal dead zone on every access, which made the byte loops below several times slower.
 */
const J = {
  src: new Uint8Array(0) as Uint8Array,
  pos: 0,
  lim: 0,
  /** Object members being re-ordered: (start, key length, end) triples, a stack shared by nested objects. */
  mem: new Int32Array(3 * 256),
  memTop: 0,
  order: new Int32Array(64),
  /**
   * Top-level field names (UTF-8) whose values' [start, end) in the source go to keyRanges (pairs, -1 when
   * absent): a key read without parsing the example (contentIdOfJson's `keys`).
   */
  keys: undefined as ReadonlyArray<Uint8Array> | undefined,
  keyRanges: undefined as Int32Array | undefined,
};

function skipWs(): void {
  while (J.pos < J.lim) {
    const c = J.src[J.pos]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
    J.pos++;
  }
}

function jValue(depth: number): boolean {
  skipWs();
  if (J.pos >= J.lim) return false;
  const c = J.src[J.pos]!;
  if (c === 0x22) return jString(0x73, false);
  if (c === 0x7b) return depth < 128 && jObject(depth + 1);
  if (c === 0x5b) return depth < 128 && jArray(depth + 1);
  if (c === 0x74) return jLiteral(TRUE, 0x74);
  if (c === 0x66) return jLiteral(FALSE, 0x66);
  if (c === 0x6e) return jLiteral(NULL, 0x7a);
  return jNumber();
}

const TRUE = Buffer.from('true', 'latin1');
const FALSE = Buffer.from('false', 'latin1');
const NULL = Buffer.from('null', 'latin1');

/** A literal (true, false, null) at J.pos; writes `tag`. */
function jLiteral(word: Uint8Array, tag: number): boolean {
  const src = J.src;
  const pos = J.pos;
  if (pos + word.length > J.lim) return false;
  for (let i = 0; i < word.length; i++) if (src[pos + i] !== word[i]) return false;
  J.pos = pos + word.length;
  enc.byte(tag);
  return true;
}

function jNumber(): boolean {
  const s = J.pos;
  if (J.src[J.pos] === 0x2d) J.pos++;
  const intStart = J.pos;
  if (J.pos < J.lim && J.src[J.pos] === 0x30) J.pos++;
  else if (J.pos < J.lim && J.src[J.pos]! >= 0x31 && J.src[J.pos]! <= 0x39) {
    while (J.pos < J.lim && J.src[J.pos]! >= 0x30 && J.src[J.pos]! <= 0x39) J.pos++;
  } else return false;
  const intDigits = J.pos - intStart;
  let plain = true;
  if (J.pos < J.lim && J.src[J.pos] === 0x2e) {
    plain = false;
    J.pos++;
    const f = J.pos;
    while (J.pos < J.lim && J.src[J.pos]! >= 0x30 && J.src[J.pos]! <= 0x39) J.pos++;
    if (J.pos === f) return false;
  }
  if (J.pos < J.lim && (J.src[J.pos] === 0x65 || J.src[J.pos] === 0x45)) {
    plain = false;
    J.pos++;
    if (J.pos < J.lim && (J.src[J.pos] === 0x2b || J.src[J.pos] === 0x2d)) J.pos++;
    const f = J.pos;
    while (J.pos < J.lim && J.src[J.pos]! >= 0x30 && J.src[J.pos]! <= 0x39) J.pos++;
    if (J.pos === f) return false;
  }
  // An integer of at most 15 digits is its own spelling, but -0 (which is 0).
  if (plain && intDigits <= 15 && !(J.src[s] === 0x2d && J.src[intStart] === 0x30)) {
    const n = J.pos - s;
    enc.room(5 + n);
    enc.buf[enc.at] = 0x6e;
    put32(enc.buf, enc.at + 1, n);
    for (let i = 0; i < n; i++) enc.buf[enc.at + 5 + i] = J.src[s + i]!;
    enc.at += 5 + n;
    return true;
  }
  const v = Number(Buffer.from(J.src.buffer, J.src.byteOffset + s, J.pos - s).toString('latin1'));
  if (Number.isFinite(v)) enc.text(0x6e, String(v));
  else enc.byte(0x7a);
  return true;
}

const hexVal = (c: number): number =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x61 && c <= 0x66
      ? c - 0x57
      : c >= 0x41 && c <= 0x46
        ? c - 0x37
        : -1;

function hex4(src: Uint8Array, at: number, lim: number): number {
  if (at + 4 > lim) return -1;
  const a = hexVal(src[at]!);
  const b = hexVal(src[at + 1]!);
  const c = hexVal(src[at + 2]!);
  const d = hexVal(src[at + 3]!);
  return a < 0 || b < 0 || c < 0 || d < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/** 1 for the bytes a JSON string holds as they are: ASCII from 0x20 but `"` and `\`. */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) if (c !== 0x22 && c !== 0x5c) PLAIN[c] = 1;

/**
 * A string at `J.pos` (its opening quote), written as `tag`, length, UTF-8. A key (`key`) must have no escape
 * and no 4-byte character, so that its bytes sort as JavaScript sorts its string.
 */
function jString(tag: number, key: boolean): boolean {
  const src = J.src;
  const lim = J.lim;
  let pos = J.pos + 1;
  // The decoded text is never longer than the encoded one.
  enc.room(5 + lim - pos);
  const buf = enc.buf;
  buf[enc.at] = tag;
  const body = enc.at + 5;
  let o = body;
  for (;;) {
    if (pos >= lim) return false;
    const c = src[pos]!;
    if (c === 0x22) {
      pos++;
      break;
    }
    if (PLAIN[c] === 1) {
      // A run of plain ASCII, copied as it is scanned.
      buf[o++] = c;
      pos++;
      while (pos < lim) {
        const d = src[pos]!;
        if (PLAIN[d] !== 1) break;
        buf[o++] = d;
        pos++;
      }
      continue;
    }
    if (c < 0x20) return false;
    if (c === 0x5c) {
      if (key || pos + 1 >= lim) return false;
      const e = src[pos + 1]!;
      pos += 2;
      let cp: number;
      switch (e) {
        case 0x22:
        case 0x5c:
        case 0x2f:
          buf[o++] = e;
          continue;
        case 0x62:
          buf[o++] = 8;
          continue;
        case 0x66:
          buf[o++] = 12;
          continue;
        case 0x6e:
          buf[o++] = 10;
          continue;
        case 0x72:
          buf[o++] = 13;
          continue;
        case 0x74:
          buf[o++] = 9;
          continue;
        case 0x75:
          cp = hex4(src, pos, lim);
          if (cp < 0) return false;
          pos += 4;
          break;
        default:
          return false;
      }
      if (cp >= 0xdc00 && cp <= 0xdfff) return false;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (pos + 6 > lim || src[pos] !== 0x5c || src[pos + 1] !== 0x75) return false;
        const lo = hex4(src, pos + 2, lim);
        if (lo < 0xdc00 || lo > 0xdfff) return false;
        pos += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      if (cp < 0x80) buf[o++] = cp;
      else if (cp < 0x800) {
        buf[o++] = 0xc0 | (cp >> 6);
        buf[o++] = 0x80 | (cp & 0x3f);
      } else if (cp < 0x10000) {
        buf[o++] = 0xe0 | (cp >> 12);
        buf[o++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[o++] = 0x80 | (cp & 0x3f);
      } else {
        buf[o++] = 0xf0 | (cp >> 18);
        buf[o++] = 0x80 | ((cp >> 12) & 0x3f);
        buf[o++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[o++] = 0x80 | (cp & 0x3f);
      }
      continue;
    }
    // A UTF-8 sequence, checked as strictly as a fatal decoder would (then copied as it is).
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4 && !key) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return false;
    if (pos + n >= lim) return false;
    const c1 = src[pos + 1]!;
    if (c1 < lo || c1 > hi) return false;
    for (let k = 2; k <= n; k++) {
      const ck = src[pos + k]!;
      if (ck < 0x80 || ck > 0xbf) return false;
    }
    for (let k = 0; k <= n; k++) buf[o++] = src[pos + k]!;
    pos += n + 1;
  }
  J.pos = pos;
  put32(buf, enc.at + 1, o - body);
  enc.at = o;
  return true;
}

function jArray(depth: number): boolean {
  J.pos++;
  enc.room(5);
  const head = enc.at;
  enc.buf[head] = 0x61;
  enc.at += 5;
  let count = 0;
  skipWs();
  if (J.pos < J.lim && J.src[J.pos] === 0x5d) J.pos++;
  else
    for (;;) {
      if (!jValue(depth)) return false;
      count++;
      skipWs();
      if (J.pos >= J.lim) return false;
      const c = J.src[J.pos++];
      if (c === 0x5d) break;
      if (c !== 0x2c) return false;
    }
  put32(enc.buf, head + 1, count);
  return true;
}

/** Key bytes of members x and y (indices into `J.mem`) compared: negative, 0 or positive. */
function cmpKeys(x: number, y: number): number {
  const buf = enc.buf;
  const ax = J.mem[3 * x]! + 5;
  const ay = J.mem[3 * y]! + 5;
  const nx = J.mem[3 * x + 1]!;
  const ny = J.mem[3 * y + 1]!;
  const n = Math.min(nx, ny);
  for (let i = 0; i < n; i++) {
    const d = buf[ax + i]! - buf[ay + i]!;
    if (d !== 0) return d;
  }
  return nx - ny;
}

/** Records where a top-level member's value lies if its key is one of J.keys (its bytes in enc at mem[3m]). */
function keyRange(m: number, valueAt: number): void {
  const keys = J.keys!;
  const at = J.mem[3 * m]! + 5;
  const n = J.mem[3 * m + 1]!;
  const buf = enc.buf;
  for (let k = 0; k < keys.length; k++) {
    const name = keys[k]!;
    if (name.length !== n) continue;
    let i = 0;
    while (i < n && buf[at + i] === name[i]) i++;
    if (i < n) continue;
    J.keyRanges![2 * k] = valueAt;
    J.keyRanges![2 * k + 1] = J.pos;
  }
}

function jObject(depth: number): boolean {
  J.pos++;
  enc.room(5);
  const head = enc.at;
  enc.buf[head] = 0x6f;
  enc.at += 5;
  const base = J.memTop;
  let count = 0;
  skipWs();
  if (J.pos < J.lim && J.src[J.pos] === 0x7d) J.pos++;
  else
    for (;;) {
      skipWs();
      if (J.pos >= J.lim || J.src[J.pos] !== 0x22) return false;
      const m = J.memTop++;
      if (3 * J.memTop > J.mem.length) {
        const next = new Int32Array(J.mem.length * 2);
        next.set(J.mem);
        J.mem = next;
      }
      J.mem[3 * m] = enc.at;
      if (!jString(0x6b, true)) return false;
      J.mem[3 * m + 1] = enc.at - J.mem[3 * m]! - 5;
      skipWs();
      if (J.pos >= J.lim || J.src[J.pos] !== 0x3a) return false;
      J.pos++;
      skipWs();
      const valueAt = J.pos;
      if (!jValue(depth)) return false;
      if (depth === 1 && J.keys) keyRange(m, valueAt);
      J.mem[3 * m + 2] = enc.at;
      count++;
      skipWs();
      if (J.pos >= J.lim) return false;
      const c = J.src[J.pos++];
      if (c === 0x7d) break;
      if (c !== 0x2c) return false;
    }
  put32(enc.buf, head + 1, count);
  // Members in key order (insertion sort of their indices: objects are small), then moved into place.
  let sorted = true;
  for (let m = base + 1; m < J.memTop; m++) {
    const d = cmpKeys(m - 1, m);
    if (d === 0) return false; // a duplicate key: JSON.parse keeps the last one
    if (d > 0) sorted = false;
  }
  if (!sorted) {
    const n = J.memTop - base;
    if (J.order.length < n) J.order = new Int32Array(2 * n);
    const order = J.order;
    for (let k = 0; k < n; k++) {
      const m = base + k;
      let i = k;
      while (i > 0 && cmpKeys(order[i - 1]!, m) > 0) {
        order[i] = order[i - 1]!;
        i--;
      }
      if (i > 0 && cmpKeys(order[i - 1]!, m) === 0) return false;
      order[i] = m;
    }
    const mem = J.mem;
    const from = mem[3 * base]!;
    const to = enc.at;
    // The members are copied past the end of the output, then back in order (copyWithin: no view object
    // per re-ordered object, and a chat line has one per message).
    enc.room(to - from);
    const buf = enc.buf;
    buf.copyWithin(to, from, to);
    let o = from;
    for (let k = 0; k < n; k++) {
      const m = order[k]!;
      const s = mem[3 * m]! - from + to;
      const e = mem[3 * m + 2]! - from + to;
      if (e - s <= 64) for (let x = s; x < e; x++) buf[o++] = buf[x]!;
      else {
        buf.copyWithin(o, s, e);
        o += e - s;
      }
    }
  }
  J.memTop = base;
  return true;
}
