/**
 * The canonical chunks of a span-coded previous version (objects/canonical-chunks.ts), for `add` of its next
 * version: a new chunk equal to one of them holds bytes the previous version already stores, as the stored
 * spans over the same range of the previous file. Without this, those chunks (never stored whole: they were
 * span-coded) would be keyed record by record and matched against the previous version again, so a version
 * written after a span-coded one cost in proportion to the file, not to the change.
 */
import type { Hash } from '../../storage/hash.js';
import { canonicalChunks } from '../objects/canonical-chunks.js';
import type { FileManifest, Span } from '../objects/objects.js';
import type { Repository } from '../repository.js';

export class PreviousChunks {
  /** Canonical chunk `<hash>+<length>` → its offset in the previous file (the first, if repeated). */
  private readonly at = new Map<string, number>();
  /** The previous version's stored spans, flat: span n is names[n], [offs[n], offs[n] + lens[n]) of it. */
  private readonly names: Hash[] = [];
  private readonly offs: number[] = [];
  private readonly lens: number[] = [];
  /** File offset where span n starts. */
  private readonly starts: number[] = [];

  private spansRead = false;

  private constructor(
    private readonly repo: Repository,
    private readonly m: FileManifest,
    canonical: readonly Span[],
  ) {
    let pos = 0;
    for (const [h, , len] of canonical) {
      const k = `${h}+${len}`;
      if (!this.at.has(k)) this.at.set(k, pos);
      pos += len;
    }
  }

  /**
   * The stored spans, read at the first chunk found (a version that shares none, a shuffle, never holds
   * them: ~60 MB for a span-coded GiB).
   */
  private readSpans(): void {
    this.spansRead = true;
    let pos = 0;
    for (const [h, off, len] of this.repo.objects.spans(this.m)) {
      this.names.push(h);
      this.offs.push(off);
      this.lens.push(len);
      this.starts.push(pos);
      pos += len;
    }
  }

  /** For a span-coded previous version whose canonical chunks the index remembers; else undefined. */
  static load(repo: Repository, previous: Hash): PreviousChunks | undefined {
    let m: FileManifest;
    try {
      m = repo.objects.manifest(previous);
    } catch {
      return undefined;
    }
    const canonical = canonicalChunks(repo, m);
    return canonical ? new PreviousChunks(repo, m, canonical) : undefined;
  }

  /**
   * The previous version's stored spans covering the bytes of its canonical chunk `hash` of `length` bytes
   * (fresh arrays, clipped to the chunk's range), or undefined if it had no such chunk.
   */
  spansOf(hash: string, length: number): Span[] | undefined {
    const start = this.at.get(`${hash}+${length}`);
    if (start === undefined) return undefined;
    if (!this.spansRead) this.readSpans();
    const end = start + length;
    // The last span starting at or before `start`.
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    const out: Span[] = [];
    for (let n = lo; n < this.starts.length && this.starts[n]! < end; n++) {
      const s = Math.max(start, this.starts[n]!);
      const e = Math.min(end, this.starts[n]! + this.lens[n]!);
      if (e > s) out.push([this.names[n]!, this.offs[n]! + (s - this.starts[n]!), e - s]);
    }
    return out;
  }
}
