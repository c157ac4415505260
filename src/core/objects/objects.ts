/**
 * The object model (docs/FORMAT.md, "Objects"): file manifests (with segments for long span lists),
 * trees and commits, stored as canonical JSON naming their `type/version`. Chunks are raw bytes.
 * Decoding validates shape and refuses unknown versions.
 */
import { StrataError } from '../../storage/errors.js';
import { isHash, type Hash } from '../../storage/hash.js';
import { canonicalBytes } from './canonical-json.js';

/** (chunk hash, offset within the chunk, length). */
export type Span = [chunk: Hash, offset: number, length: number];

export interface SegmentRef {
  hash: Hash;
  /** Bytes of file data the segment covers. */
  size: number;
  /** Number of spans in the segment. */
  spans: number;
}

export interface FileManifest {
  type: 'file/v1';
  size: number;
  format: string;
  options?: Record<string, string>;
  /** Number of examples (records), where the format has them. */
  examples?: number;
  /** Inline spans for files with few spans ... */
  spans?: Span[];
  /** ... or segments for long span lists. Exactly one of the two is present. */
  segments?: SegmentRef[];
  /**
   * Present when the spans are not the file's canonical chunks (a span-coded version, FORMAT.md): the hash
   * of the canonical manifest, which is what identifies the file's content.
   */
  content?: Hash;
  /**
   * Record formats: the records longer than the maximum chunk size, as [start, length] in file offsets,
   * ascending and disjoint (FORMAT.md rule 5). Their pieces are the only chunk boundaries inside a record;
   * the diff glues them back together. Absent when there are none.
   */
  long?: [start: number, length: number][];
}

export interface Segment {
  type: 'segment/v1';
  spans: Span[];
}

export interface TreeEntry {
  name: string;
  kind: 'file' | 'tree';
  hash: Hash;
  size: number;
}

export interface Tree {
  type: 'tree/v1';
  entries: TreeEntry[];
}

export interface Identity {
  name: string;
  email: string;
}

export interface Commit {
  type: 'commit/v1';
  tree: Hash;
  parents: Hash[];
  author: Identity;
  /** Seconds since the epoch. */
  time: number;
  /** Minutes east of UTC of the author's clock. */
  tz: number;
  message: string;
  meta: Record<string, unknown>;
}

export type MetaObject = FileManifest | Segment | Tree | Commit;

export const encodeObject = (o: MetaObject): Buffer =>
  (o.type === 'segment/v1' ? encodeSegment(o) : undefined) ?? canonicalBytes(o);

/**
 * A segment's canonical JSON written directly (the inverse of scanSegment's fast path), ~5× faster than
 * canonicalBytes on 1000-span segments: an add of a 1 GiB file encodes ~150 of them. Undefined, for
 * canonicalBytes to encode (or refuse), unless the object is exactly {spans, type} and every span is
 * [64 lowercase hex digits, safe natural number, safe natural number].
 */
function encodeSegment(o: Segment): Buffer | undefined {
  if (Object.keys(o).length !== 2 || !Array.isArray(o.spans)) return undefined;
  let s = '{"spans":[';
  for (let i = 0; i < o.spans.length; i++) {
    const x = o.spans[i]!;
    if (x.length !== 3 || !isHashStr(x[0]) || !isNat(x[1]) || !isNat(x[2])) return undefined;
    s += (i === 0 ? '["' : ',["') + x[0] + '",' + x[1] + ',' + x[2] + ']';
  }
  return Buffer.from(s + '],"type":"segment/v1"}', 'latin1');
}

const bad = (what: string, data: { hash: string } & Record<string, unknown>): StrataError =>
  new StrataError('INTEGRITY', `object ${data.hash}: malformed ${what}`, data);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const isRecord = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v);

function parse(bytes: Uint8Array, hash: string): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw bad('object (not UTF-8)', { hash });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('object (not JSON)', { hash });
  }
  if (!isRecord(v)) throw bad('object (not a JSON object)', { hash });
  return v;
}

function expectType(o: Record<string, unknown>, kind: string, hash: string): void {
  const t = o.type;
  if (typeof t !== 'string' || !t.startsWith(kind + '/'))
    throw bad(`${kind} (type is ${JSON.stringify(t) ?? 'missing'})`, { hash });
  if (t !== `${kind}/v1`) {
    throw new StrataError(
      'UNSUPPORTED_VERSION',
      `object ${hash} has type ${t}, which this strata does not understand`,
      {
        hash,
        type: t,
      },
    );
  }
}

const isNat = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isHashStr = (h: unknown): h is Hash => typeof h === 'string' && isHash(h);

/** Checks a span list; returns the bytes it covers. */
function checkSpans(spans: unknown, hash: string): number {
  if (!Array.isArray(spans)) throw bad('span list', { hash });
  let total = 0;
  for (let i = 0; i < spans.length; i++) {
    const s: unknown = spans[i];
    if (!Array.isArray(s) || s.length !== 3 || !isHashStr(s[0]) || !isNat(s[1]) || !isNat(s[2]))
      throw bad(`span ${i}`, { hash, span: i });
    total += s[2];
  }
  return total;
}

/** Checks a manifest's `long` list: [start, length] pairs, ascending, disjoint, non-empty, within the file. */
function checkLong(long: unknown, size: number, hash: string): void {
  if (!Array.isArray(long) || long.length === 0) throw bad('file manifest (long records)', { hash });
  let end = 0;
  for (let i = 0; i < long.length; i++) {
    const r: unknown = long[i];
    if (!Array.isArray(r) || r.length !== 2 || !isNat(r[0]) || !isNat(r[1]) || r[1] === 0 || r[0] < end)
      throw bad(`file manifest (long record ${i})`, { hash });
    end = r[0] + r[1];
    if (end > size) throw bad(`file manifest (long record ${i} past the end)`, { hash });
  }
}

export function decodeManifest(bytes: Uint8Array, hash: string): FileManifest {
  const o = parse(bytes, hash);
  expectType(o, 'file', hash);
  if (!isNat(o.size) || typeof o.format !== 'string') throw bad('file manifest', { hash });
  if (o.examples !== undefined && !isNat(o.examples)) throw bad('file manifest (examples)', { hash });
  if (
    o.options !== undefined &&
    (!isRecord(o.options) || !Object.values(o.options).every((v) => typeof v === 'string'))
  )
    throw bad('file manifest (options)', { hash });
  if ((o.spans === undefined) === (o.segments === undefined))
    throw bad('file manifest (spans xor segments)', { hash });
  if (o.spans !== undefined) {
    const covered = checkSpans(o.spans, hash);
    if (covered !== o.size)
      throw bad(`file manifest (spans cover ${covered} bytes, size is ${o.size})`, { hash });
  }
  if (o.content !== undefined && (typeof o.content !== 'string' || !isHash(o.content)))
    throw bad('file manifest content hash', { hash });
  if (o.long !== undefined) checkLong(o.long, o.size, hash);
  if (o.segments !== undefined) {
    if (!Array.isArray(o.segments)) throw bad('file manifest segments', { hash });
    let covered = 0;
    for (let i = 0; i < o.segments.length; i++) {
      const s: unknown = o.segments[i];
      if (!isRecord(s) || !isHashStr(s.hash) || !isNat(s.size) || !isNat(s.spans))
        throw bad(`segment reference ${i}`, { hash });
      covered += s.size;
    }
    if (covered !== o.size)
      throw bad(`file manifest (segments cover ${covered} bytes, size is ${o.size})`, { hash });
  }
  return o as unknown as FileManifest;
}

export function decodeSegment(bytes: Uint8Array, hash: string): Segment {
  const o = parse(bytes, hash);
  expectType(o, 'segment', hash);
  checkSpans(o.spans, hash);
  return o as unknown as Segment;
}

/**
 * The fast path of decoding a segment, for readers that walk many of them (the diff): `bytes` must be
 * exactly the canonical encoding `{"spans":[["<64 hex>",N,N],...],"type":"segment/v1"}` (no blanks, numbers
 * as plain digits), which is how segments are written. Each span is handed to `visit` as the offset of its
 * 64 hash characters in `bytes`, its offset and its length; the hash characters are NOT checked, `visit`
 * must check them (ChunkTable.numberHex does) and return false if they are not 64 lowercase hex digits.
 * Returns the number of spans, or -1 when `bytes` is not in that exact form or `visit` refused a span: the
 * caller then decodes with decodeSegment, which accepts any valid encoding and names what is wrong.
 */
export function scanSegment(
  bytes: Uint8Array,
  visit: (hashAt: number, off: number, len: number) => boolean,
): number {
  const head = SCAN_HEAD;
  const tail = SCAN_TAIL;
  const n = bytes.length;
  if (n < head.length + tail.length) return -1;
  for (let i = 0; i < head.length; i++) if (bytes[i] !== head[i]) return -1;
  let at = head.length;
  let count = 0;
  // One natural number in plain digits (no leading zero), a safe integer (at most 16 digits: a larger value
  // never rounds down to one).
  const num = (): number => {
    const start = at;
    let v = 0;
    while (at < n) {
      const c = bytes[at]!;
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      at++;
    }
    const digits = at - start;
    if (digits === 0 || digits > 16 || v > Number.MAX_SAFE_INTEGER || (digits > 1 && bytes[start] === 0x30))
      return -1;
    return v;
  };
  if (bytes[at] === 0x5d)
    at++; // an empty list
  else
    for (;;) {
      // ["<64 hex>",
      if (at + 69 > n || bytes[at] !== 0x5b || bytes[at + 1] !== 0x22 || bytes[at + 66] !== 0x22) return -1;
      if (bytes[at + 67] !== 0x2c) return -1;
      const hashAt = at + 2;
      at += 68;
      const off = num();
      if (off < 0 || bytes[at++] !== 0x2c) return -1;
      const len = num();
      if (len < 0 || bytes[at++] !== 0x5d) return -1;
      if (!visit(hashAt, off, len)) return -1;
      count++;
      const c = bytes[at++];
      if (c === 0x5d) break;
      if (c !== 0x2c) return -1;
    }
  if (n - at !== tail.length) return -1;
  for (let i = 0; i < tail.length; i++) if (bytes[at + i] !== tail[i]) return -1;
  return count;
}

const SCAN_HEAD = Buffer.from('{"spans":[', 'latin1');
const SCAN_TAIL = Buffer.from(',"type":"segment/v1"}', 'latin1');

/** Checks a decoded segment against the manifest's reference to it (span count and bytes covered). */
export function checkSegmentRef(seg: Segment, ref: SegmentRef): void {
  const covered = seg.spans.reduce((a, s) => a + s[2], 0);
  if (seg.spans.length !== ref.spans || covered !== ref.size)
    throw bad(
      `segment (holds ${seg.spans.length} spans covering ${covered} bytes; its manifest says ${ref.spans} spans, ${ref.size} bytes)`,
      { hash: ref.hash },
    );
}

export function decodeTree(bytes: Uint8Array, hash: string): Tree {
  const o = parse(bytes, hash);
  expectType(o, 'tree', hash);
  if (!Array.isArray(o.entries)) throw bad('tree', { hash });
  let prev: Buffer | undefined;
  for (let i = 0; i < o.entries.length; i++) {
    const e: unknown = o.entries[i];
    if (!isRecord(e) || !isHashStr(e.hash) || !isNat(e.size) || (e.kind !== 'file' && e.kind !== 'tree'))
      throw bad(`tree entry ${i}`, { hash });
    try {
      checkName(e.name);
    } catch (err) {
      throw new StrataError(
        'UNSAFE_PATH',
        `tree ${hash}: refusing entry ${JSON.stringify(e.name)} (${(err as Error).message})`,
        { hash, name: e.name },
      );
    }
    const nb = Buffer.from(e.name, 'utf8');
    if (prev) {
      const c = Buffer.compare(prev, nb);
      if (c === 0) throw bad(`tree (duplicate entry ${JSON.stringify(e.name)})`, { hash });
      if (c > 0) throw bad(`tree (entries not sorted at ${JSON.stringify(e.name)})`, { hash });
    }
    prev = nb;
  }
  return o as unknown as Tree;
}

/**
 * What is wrong with a free-form JSON value, if anything: nested deeper than `limit` (1 for a scalar), or
 * holding a number canonical JSON cannot write (JSON.parse reads 1e999 as Infinity).
 */
function metaProblem(v: unknown, limit: number): string | undefined {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > limit) return `nested deeper than ${limit}`;
    if (typeof x === 'number' && !Number.isFinite(x)) return 'holds a non-finite number';
    if (x && typeof x === 'object')
      for (const c of Object.values(x as Record<string, unknown>)) stack.push([c, d + 1]);
  }
  return undefined;
}

/** Deepest `meta` a commit may carry (strata writes 3 levels); bounds recursion in every later encoder. */
const MAX_META_DEPTH = 64;

export function decodeCommit(bytes: Uint8Array, hash: string): Commit {
  const o = parse(bytes, hash);
  expectType(o, 'commit', hash);
  const a = o.author;
  if (
    !isHashStr(o.tree) ||
    !Array.isArray(o.parents) ||
    !o.parents.every(isHashStr) ||
    !isRecord(a) ||
    typeof a.name !== 'string' ||
    typeof a.email !== 'string' ||
    !Number.isSafeInteger(o.time) ||
    !Number.isSafeInteger(o.tz) ||
    typeof o.message !== 'string' ||
    !isRecord(o.meta)
  ) {
    throw bad('commit', { hash });
  }
  const problem = metaProblem(o.meta, MAX_META_DEPTH);
  if (problem) throw bad(`commit (meta ${problem})`, { hash });
  return o as unknown as Commit;
}

/** Deepest tree nesting read: a path of this many components is over 2 KiB, half of Linux's PATH_MAX. */
export const MAX_TREE_DEPTH = 1024;

/** The repository's own directory: no tree may hold an entry of this name, at any depth, in any case. */
const RESERVED_NAME = '.strata';

/**
 * A path component as stored in a tree: a well-formed Unicode string, never empty, '.', '..' or
 * '.strata' (in any letter case), never containing '/', '\\' or NUL.
 */
export function checkName(name: unknown): asserts name is string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    /[/\\\0]/.test(name) ||
    /[\uD800-\uDFFF]/u.test(name) || // a lone surrogate has no UTF-8 form
    name.toLowerCase() === RESERVED_NAME
  ) {
    throw new StrataError('UNSAFE_PATH', `invalid path component ${JSON.stringify(name)}`, { name });
  }
}

/** Sorts tree entries by the UTF-8 bytes of their names, the order FORMAT.md fixes. */
export function sortEntries(entries: TreeEntry[]): TreeEntry[] {
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')));
}
