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

export const encodeObject = (o: MetaObject): Buffer => canonicalBytes(o);

const bad = (what: string, data: Record<string, unknown> = {}): StrataError =>
  new StrataError('INTEGRITY', `malformed ${what}`, data);

function parse(bytes: Uint8Array, hash: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw bad('object (not JSON)', { hash });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('object', { hash });
  return v as Record<string, unknown>;
}

function expectType(o: Record<string, unknown>, kind: string, hash: string): void {
  const t = o.type;
  if (typeof t !== 'string' || !t.startsWith(kind + '/'))
    throw bad(`${kind} (type is ${String(t)})`, { hash });
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

function checkSpans(spans: unknown, hash: string): Span[] {
  if (!Array.isArray(spans)) throw bad('span list', { hash });
  for (const s of spans) {
    if (
      !Array.isArray(s) ||
      s.length !== 3 ||
      typeof s[0] !== 'string' ||
      !isHash(s[0]) ||
      !isNat(s[1]) ||
      !isNat(s[2])
    ) {
      throw bad('span', { hash });
    }
  }
  return spans as Span[];
}

export function decodeManifest(bytes: Uint8Array, hash: string): FileManifest {
  const o = parse(bytes, hash);
  expectType(o, 'file', hash);
  if (!isNat(o.size) || typeof o.format !== 'string') throw bad('file manifest', { hash });
  if ((o.spans === undefined) === (o.segments === undefined))
    throw bad('file manifest (spans xor segments)', { hash });
  if (o.spans !== undefined) checkSpans(o.spans, hash);
  if (o.content !== undefined && (typeof o.content !== 'string' || !isHash(o.content)))
    throw bad('file manifest content hash', { hash });
  if (o.segments !== undefined) {
    if (!Array.isArray(o.segments)) throw bad('file manifest segments', { hash });
    for (const s of o.segments as SegmentRef[]) {
      if (!s || !isHash(s.hash) || !isNat(s.size) || !isNat(s.spans))
        throw bad('segment reference', { hash });
    }
  }
  return o as unknown as FileManifest;
}

export function decodeSegment(bytes: Uint8Array, hash: string): Segment {
  const o = parse(bytes, hash);
  expectType(o, 'segment', hash);
  checkSpans(o.spans, hash);
  return o as unknown as Segment;
}

export function decodeTree(bytes: Uint8Array, hash: string): Tree {
  const o = parse(bytes, hash);
  expectType(o, 'tree', hash);
  if (!Array.isArray(o.entries)) throw bad('tree', { hash });
  let prev: Buffer | undefined;
  for (const e of o.entries as TreeEntry[]) {
    if (!e || !isHash(e.hash) || !isNat(e.size) || (e.kind !== 'file' && e.kind !== 'tree'))
      throw bad('tree entry', { hash });
    checkName(e.name);
    const nb = Buffer.from(e.name, 'utf8');
    if (prev && Buffer.compare(prev, nb) >= 0) throw bad('tree (entries not sorted or duplicated)', { hash });
    prev = nb;
  }
  return o as unknown as Tree;
}

export function decodeCommit(bytes: Uint8Array, hash: string): Commit {
  const o = parse(bytes, hash);
  expectType(o, 'commit', hash);
  const a = o.author as Identity | undefined;
  if (
    typeof o.tree !== 'string' ||
    !isHash(o.tree) ||
    !Array.isArray(o.parents) ||
    !o.parents.every((p) => typeof p === 'string' && isHash(p)) ||
    !a ||
    typeof a.name !== 'string' ||
    typeof a.email !== 'string' ||
    typeof o.time !== 'number' ||
    typeof o.tz !== 'number' ||
    typeof o.message !== 'string' ||
    !o.meta ||
    typeof o.meta !== 'object'
  ) {
    throw bad('commit', { hash });
  }
  return o as unknown as Commit;
}

/** A path component as stored in a tree: never empty, '.', '..', or containing '/', '\\' or NUL. */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new StrataError('UNSAFE_PATH', `invalid path component ${JSON.stringify(name)}`, { name });
  }
}

/** Sorts tree entries by the UTF-8 bytes of their names, the order FORMAT.md fixes. */
export function sortEntries(entries: TreeEntry[]): TreeEntry[] {
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8')));
}
