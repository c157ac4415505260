/**
 * Typed access to the repository's objects: chunks, manifests (with their segments), trees and commits
 * over the local pack store. Building a manifest from spans applies the segmenting rule of FORMAT.md.
 */
import { StrataError } from '../storage/errors.js';
import { hashBytes, type Hash } from '../storage/hash.js';
import type { LocalPacks } from '../storage/local-packs.js';
import { KIND } from '../storage/pack-format.js';
import {
  checkSegmentRef,
  decodeCommit,
  decodeManifest,
  decodeSegment,
  scanSegment,
  decodeTree,
  encodeObject,
  type Commit,
  type FileManifest,
  type MetaObject,
  type SegmentRef,
  type Span,
  type Tree,
} from './objects/objects.js';

/** Chunks ObjectDb.chunk keeps decoded (see `recent`). */
const RECENT_CHUNKS = 32;
/** Files with at most this many spans keep them inline in the manifest. */
export const INLINE_SPAN_LIMIT = 256;
const SEGMENT_MIN_SPANS = 16;
const SEGMENT_MAX_SPANS = 1024;
const SEGMENT_CUT_MODULUS = 128;

const kindOf = (o: MetaObject): number =>
  o.type === 'file/v1'
    ? KIND.file
    : o.type === 'segment/v1'
      ? KIND.segment
      : o.type === 'tree/v1'
        ? KIND.tree
        : KIND.commit;

export class ObjectDb {
  /**
   * The last few chunks read: spans of a span-coded file alternate between an old chunk and the new chunk
   * holding the edited records (old, new, old, ...), so one remembered chunk is not enough. Bounded:
   * RECENT_CHUNKS x the maximum chunk size.
   */
  private readonly recent = new Map<string, Uint8Array>();
  private readonly contents = new Map<string, string>();

  constructor(readonly packs: LocalPacks) {}

  has(hash: string): boolean {
    return this.packs.has(hash);
  }

  putChunk(data: Uint8Array, hash?: string): Hash {
    return this.packs.put(KIND.chunk, data, hash) as Hash;
  }

  put(o: MetaObject): Hash {
    return this.packs.put(kindOf(o), encodeObject(o)) as Hash;
  }

  /** Reads and verifies any object's raw bytes, checking its kind when given. */
  getRaw(hash: string, kind?: number): Uint8Array {
    let o: ReturnType<LocalPacks['get']>;
    try {
      o = this.packs.get(hash);
    } catch (e) {
      throw this.notLocal(e, hash);
    }
    if (kind !== undefined && o.kind !== kind) {
      // Callers check a user's revision's kind before; a mismatch here is an object naming the wrong kind.
      throw new StrataError(
        'INTEGRITY',
        `object ${hash} is a ${kindName(o.kind)} where a ${kindName(kind)} is expected`,
        { hash, kind: kindName(o.kind), expected: kindName(kind) },
      );
    }
    return o.data;
  }

  /**
   * `e`, or for an object missing here that a remote holds (the chunk data of other revisions in a clone
   * made without --all), an error saying so and what to run: the object is not lost, only not downloaded.
   */
  private notLocal(e: unknown, hash: string): unknown {
    if (!(e instanceof StrataError) || e.code !== 'NOT_FOUND') return e;
    let remote: string | undefined;
    try {
      remote = this.packs.db.remoteHolding(hash);
    } catch {
      return e;
    }
    if (remote === undefined) return e;
    return new StrataError(
      'NOT_FOUND',
      `object ${hash} is not in this repository: it is a partial clone, and remote '${remote}' holds the data ` +
        `of other revisions (run 'strata fetch --all ${remote}' to download it)`,
      { hash, remote },
      { cause: e },
    );
  }

  kindOf(hash: string): string {
    const loc = this.packs.location(hash);
    if (loc) return kindName(loc.kind);
    return kindName(this.packs.get(hash).kind);
  }

  chunk(hash: string): Uint8Array {
    let data = this.recent.get(hash);
    if (data) {
      this.recent.delete(hash);
    } else {
      data = this.getRaw(hash, KIND.chunk);
      if (this.recent.size >= RECENT_CHUNKS) this.recent.delete(this.recent.keys().next().value!);
    }
    this.recent.set(hash, data);
    return data;
  }

  /**
   * What identifies a file's content (FORMAT.md): its canonical manifest's hash, which is the manifest's own
   * hash unless the manifest is span-coded and says otherwise in `content`. A manifest that cannot be read
   * here (e.g. not fetched) stands for itself.
   */
  contentOf(manifest: string): string {
    let c = this.contents.get(manifest);
    if (c === undefined) {
      try {
        c = this.manifest(manifest).content ?? manifest;
      } catch {
        return manifest;
      }
      if (this.contents.size > 4096) this.contents.clear();
      this.contents.set(manifest, c);
    }
    return c;
  }

  /** Whether two manifests describe the same bytes (equal hashes, or equal content ids). */
  sameContent(a: string | undefined, b: string | undefined): boolean {
    if (a === b) return true;
    if (a === undefined || b === undefined) return false;
    return this.contentOf(a) === this.contentOf(b);
  }

  manifest(hash: string): FileManifest {
    return decodeManifest(this.getRaw(hash, KIND.file), hash);
  }

  tree(hash: string): Tree {
    return decodeTree(this.getRaw(hash, KIND.tree), hash);
  }

  commit(hash: string): Commit {
    return decodeCommit(this.getRaw(hash, KIND.commit), hash);
  }

  /** All spans of a file, expanding segments lazily. */
  *spans(m: FileManifest): Generator<Span> {
    if (m.spans) {
      yield* m.spans;
      return;
    }
    for (const s of m.segments ?? []) yield* this.segmentSpans(s);
  }

  /** The spans of one manifest segment, checked against the manifest's reference to it. */
  segmentSpans(ref: SegmentRef): Span[] {
    const seg = decodeSegment(this.getRaw(ref.hash, KIND.segment), ref.hash);
    checkSegmentRef(seg, ref);
    return seg.spans;
  }

  /**
   * The spans of one segment through `visit` without building them (objects.ts scanSegment: the hash as an
   * offset into the segment's bytes, which `visit` checks), checked against the manifest's reference. False
   * when the fast path does not apply (an encoding other than the canonical one, or a span `visit` refused):
   * the caller then uses segmentSpans, which names what is wrong. Spans already visited are the caller's to
   * discard.
   */
  scanSegmentSpans(
    ref: SegmentRef,
    visit: (bytes: Uint8Array, hashAt: number, off: number, len: number) => boolean,
  ): boolean {
    const bytes = this.getRaw(ref.hash, KIND.segment);
    let covered = 0;
    const count = scanSegment(bytes, (at, off, len) => {
      covered += len;
      return visit(bytes, at, off, len);
    });
    return count === ref.spans && covered === ref.size;
  }

  /** Builds (and stores) a manifest, segmenting long span lists at content-defined boundaries. */
  putManifest(fields: Omit<FileManifest, 'type' | 'spans' | 'segments'>, spans: Span[], store = true): Hash {
    const m: FileManifest = { type: 'file/v1', ...fields };
    if (spans.length <= INLINE_SPAN_LIMIT) m.spans = spans;
    else m.segments = this.segment(spans, store);
    return store ? this.put(m) : (hashMeta(m) as Hash);
  }

  private segment(spans: Span[], store: boolean): SegmentRef[] {
    const refs: SegmentRef[] = [];
    let cur: Span[] = [];
    let size = 0;
    const cut = (): void => {
      const seg = { type: 'segment/v1' as const, spans: cur };
      refs.push({ hash: store ? this.put(seg) : (hashMeta(seg) as Hash), size, spans: cur.length });
      cur = [];
      size = 0;
    };
    for (const s of spans) {
      cur.push(s);
      size += s[2];
      if (cur.length >= SEGMENT_MAX_SPANS || (cur.length >= SEGMENT_MIN_SPANS && isSegmentBoundary(s[0])))
        cut();
    }
    if (cur.length) cut();
    return refs;
  }

  flush(): void {
    this.packs.flush();
  }
}

/** A span list is cut after a span whose chunk hash's first 32 bits are 0 modulo 128 (FORMAT.md). */
export const isSegmentBoundary = (chunk: string): boolean =>
  parseInt(chunk.slice(0, 8), 16) % SEGMENT_CUT_MODULUS === 0;

const hashMeta = (o: MetaObject): string => hashBytes(encodeObject(o));

export function kindName(kind: number): string {
  return (['chunk', 'file', 'segment', 'tree', 'commit'] as const)[kind] ?? `kind-${kind}`;
}
