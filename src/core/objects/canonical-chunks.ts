/**
 * The canonical chunk lists of span-coded versions, kept in the local index as a cache (never pushed).
 *
 * A span-coded manifest (FORMAT.md "Span-coded versions") names sub-ranges of older chunks, so a working-tree
 * file, which the diff cuts with the chunker into canonical chunks, shares almost no piece with it: `strata
 * diff` of an edited working tree against a span-coded HEAD read the whole file. With the version's canonical
 * chunks (as `add` cut it) the diff cancels every unchanged chunk and reads only the changed ones, through the
 * stored spans. A list is trusted only if it rebuilds the manifest hash the version names as its `content`.
 */
import type { Hash } from '../../storage/hash.js';
import type { Repository } from '../repository.js';
import type { FileManifest, Span } from './objects.js';

/** Bytes per chunk in a stored list: the raw 32-byte hash, then the length as a u32 (little-endian). */
const ENTRY = 36;

/** Remembers the canonical chunks (whole-chunk spans, in file order) of the file content `content`. */
export function rememberCanonicalChunks(repo: Repository, content: Hash, canonical: readonly Span[]): void {
  const out = Buffer.allocUnsafe(canonical.length * ENTRY);
  for (let i = 0; i < canonical.length; i++) {
    const [h, , len] = canonical[i]!;
    out.write(h, i * ENTRY, 32, 'hex');
    out.writeUInt32LE(len, i * ENTRY + 32);
  }
  repo.db.putCanonicalChunks(content, out);
}

/**
 * The canonical chunks of a span-coded manifest as whole-chunk spans, if the index remembers them and they
 * are exactly the canonical manifest whose hash is `m.content`; else undefined.
 */
export function canonicalChunks(repo: Repository, m: FileManifest): Span[] | undefined {
  if (!m.content) return undefined;
  const blob = repo.db.getCanonicalChunks(m.content);
  if (!blob || blob.length % ENTRY !== 0) return undefined;
  const spans: Span[] = new Array<Span>(blob.length / ENTRY);
  let size = 0;
  for (let i = 0; i < spans.length; i++) {
    const len = blob.readUInt32LE(i * ENTRY + 32);
    spans[i] = [blob.toString('hex', i * ENTRY, i * ENTRY + 32) as Hash, 0, len];
    size += len;
  }
  if (size !== m.size) return undefined;
  // The manifest `add` would write for these chunks must be the one the version names.
  const { type: _t, spans: _s, segments: _g, content: _c, ...fields } = m;
  return repo.objects.putManifest(fields, spans, false) === m.content ? spans : undefined;
}
