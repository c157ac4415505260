/**
 * ObjectReader: verified object bytes by hash from wherever they live - the local repository's packs, or
 * a remote's packs read with ranged GETs. Pins, export and remote reads are written against this, so
 * they work the same on a local repository and straight from S3.
 */
import { StrataError } from '../storage/errors.js';
import { hashBytes } from '../storage/hash.js';
import {
  decodeCommit,
  decodeManifest,
  checkSegmentRef,
  decodeSegment,
  decodeTree,
  type Commit,
  type FileManifest,
  type Span,
  type Tree,
} from './objects/objects.js';
import type { ObjectDb } from './object-db.js';

export interface ObjectReader {
  /** The raw (decompressed) bytes of an object, hash-verified. NOT_FOUND if absent. */
  get(hash: string, opts?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /**
   * Many objects, yielded in the order asked, with bounded read-ahead. Remote readers coalesce
   * neighbouring ranges and fetch in parallel.
   */
  getMany(
    hashes: Iterable<string>,
    opts?: { signal?: AbortSignal },
  ): AsyncGenerator<{ hash: string; data: Uint8Array }>;
}

/** An ObjectReader over the local repository. */
export class LocalObjectReader implements ObjectReader {
  constructor(private readonly objects: ObjectDb) {}

  async get(hash: string): Promise<Uint8Array> {
    return this.objects.getRaw(hash);
  }

  async *getMany(hashes: Iterable<string>): AsyncGenerator<{ hash: string; data: Uint8Array }> {
    for (const hash of hashes) yield { hash, data: this.objects.getRaw(hash) };
  }
}

/** Checks that bytes hash to their name; throws INTEGRITY naming the object and its source. */
export function verifyObject(hash: string, data: Uint8Array, where: string): Uint8Array {
  if (hashBytes(data) !== hash) {
    throw new StrataError('INTEGRITY', `object ${hash} from ${where} is corrupt (hash mismatch)`, {
      hash,
      where,
    });
  }
  return data;
}

/** Typed reads of metadata objects through any ObjectReader. */
export const readCommit = async (r: ObjectReader, h: string): Promise<Commit> =>
  decodeCommit(await r.get(h), h);
export const readTree = async (r: ObjectReader, h: string): Promise<Tree> => decodeTree(await r.get(h), h);
export const readManifest = async (r: ObjectReader, h: string): Promise<FileManifest> =>
  decodeManifest(await r.get(h), h);

/** All spans of a manifest, reading its segments through the reader. */
export async function* manifestSpans(r: ObjectReader, m: FileManifest): AsyncGenerator<Span> {
  if (m.spans) {
    yield* m.spans;
    return;
  }
  for (const s of m.segments ?? []) {
    const seg = decodeSegment(await r.get(s.hash), s.hash);
    checkSegmentRef(seg, s);
    yield* seg.spans;
  }
}
