/**
 * `strata diff` over the repository: which files differ between two revisions (or a revision and the
 * working tree), then the example-level diff of each. Files whose manifests are equal are skipped without
 * reading anything; the working tree uses the stat cache.
 */
import { createReadStream, createWriteStream, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Hash } from '../../storage/hash.js';
import type { Repository } from '../repository.js';
import { StrataError } from '../../storage/errors.js';
import { headCommit } from '../refs.js';
import { resolveCommit } from '../rev-parse.js';
import { fileState } from '../stage.js';
import { flattenTree, type FlatEntry } from '../tree-builder.js';
import { loadAttributes } from '../worktree/attributes.js';
import { chunkFormatOf, formatFor } from '../worktree/formats.js';
import { gunzip, gzipContentFormat } from '../formats/gzip.js';
import { fileBytes } from '../pin/bytes.js';
import { LocalObjectReader } from '../object-reader.js';
import { SpillDir } from './spill.js';
import type { WorktreeChunks } from '../worktree/ingest.js';
import { safeJoin } from '../worktree/paths.js';
import { scanWorktree } from '../worktree/scan.js';
import { diffFile } from './diff-file.js';
import { canonicalChunks } from '../objects/canonical-chunks.js';
import {
  diffFormat,
  sameContent,
  sideFromCanonical,
  sideFromManifest,
  sidesFromManifests,
  sideFromWorktree,
} from './repo-sides.js';
import type { DiffEvent, DiffOptions, DiffSide, FileFormat, SummaryEvent } from './types.js';
import type { FileManifest } from '../objects/objects.js';
import { memoryLimit } from '../../storage/memory-limit.js';
import { ensureFileData, isPartial } from '../partial.js';

export interface DiffRevisionsOptions {
  /** Limit to these repository paths (files or directories). */
  paths?: string[];
  /** Key fields; default: each file's `key=` attribute. */
  key?: string[];
  ignoreFields?: string[];
  /** At most this many change events per file. */
  limit?: number;
  /** Only report which files changed (no example-level work). */
  nameOnly?: boolean;
  /** Compare the staged files (the index) with `a` (default HEAD), like `git diff --staged`; `b` must be unset. */
  staged?: boolean;
  /** The before side is empty (a root commit's changes), not `a`. */
  emptyBefore?: boolean;
  /**
   * Pair a removed file with an added one of the same content, or of at least half the same chunks, and diff
   * them as one renamed file (default true; git's rename detection).
   */
  renames?: boolean;
  signal?: AbortSignal;
}

type Version = { kind: 'commit'; files: Map<string, FlatEntry> } | { kind: 'worktree' };

const under = (p: string, paths?: string[]): boolean =>
  !paths?.length || paths.some((q) => q === '' || p === q || p.startsWith(q + '/'));

/**
 * Diffs revision `a` against `b`; `b` undefined means the working tree (like `git diff REV`), and both
 * undefined means HEAD against the working tree. With `staged`, `a` (default HEAD) against the index.
 */
export async function* diffRevisions(
  repo: Repository,
  a: string | undefined,
  b: string | undefined,
  opts: DiffRevisionsOptions = {},
): AsyncGenerator<DiffEvent> {
  const load = (rev: string): Version => ({
    kind: 'commit',
    files: flattenTree(repo.objects, repo.objects.commit(resolveCommit(repo, rev)).tree),
  });
  if (opts.staged && b !== undefined)
    throw new StrataError('BAD_INPUT', 'diff --staged takes at most one revision', { revs: [a, b] });
  // No revision named and no commit yet (a new repository): everything is added.
  const before: Version =
    opts.emptyBefore || (a === undefined && headCommit(repo) === undefined)
      ? { kind: 'commit', files: new Map() }
      : load(a ?? 'HEAD');
  const after: Version = opts.staged
    ? {
        kind: 'commit',
        files: new Map(
          repo.db.indexEntries().map((e) => [e.path, { hash: e.manifest as Hash, size: e.size }] as const),
        ),
      }
    : b
      ? load(b)
      : { kind: 'worktree' };
  const attrs = loadAttributes(repo.root);
  const beforeFiles = before.kind === 'commit' ? before.files : new Map<string, FlatEntry>();

  // Current manifests of the after side.
  const afterFiles = new Map<string, Hash | 'worktree'>();
  // How the files hashed just now were chunked: their diff reuses it instead of chunking them again.
  const worktreeChunks = new Map<string, WorktreeChunks>();
  if (after.kind === 'commit') for (const [p, e] of after.files) afterFiles.set(p, e.hash);
  else {
    const index = new Map(repo.db.indexEntries().map((e) => [e.path, e]));
    for (const f of scanWorktree(repo.root).files) {
      const st = await fileState(repo, f.path, index.get(f.path), { store: false, attrs, keepChunks: true });
      if (st) afterFiles.set(f.path, st.manifest);
      if (st?.chunks) worktreeChunks.set(f.path, st.chunks);
    }
  }

  const paths = [...new Set([...beforeFiles.keys(), ...afterFiles.keys()])]
    .filter((p) => under(p, opts.paths))
    .sort();
  // In a partial clone, the data of both stored versions of each changed file (core/partial.ts).
  if (!opts.nameOnly && isPartial(repo)) {
    const stored = (h: Hash | 'worktree' | undefined): Hash | undefined =>
      h && h !== 'worktree' && repo.objects.has(h) ? h : undefined;
    await ensureFileData(
      repo,
      paths
        .filter((p) => beforeFiles.get(p)?.hash !== afterFiles.get(p))
        .flatMap((p) => [beforeFiles.get(p)?.hash, stored(afterFiles.get(p))]),
    );
  }
  const renamed =
    opts.renames === false
      ? new Map<string, string>()
      : findRenames(repo, paths, beforeFiles, afterFiles, worktreeChunks, attrs);
  const renamedAway = new Set(renamed.values());
  for (const path of paths) {
    if (renamedAway.has(path)) continue;
    const from = renamed.get(path);
    const bh = beforeFiles.get(from ?? path)?.hash;
    const ah = afterFiles.get(path);
    if (from) {
      // A rename: the events of the file as diffed, each naming where it was; the same content says so.
      if (ah && bh && (ah === bh || repo.objects.contentOf(bh) === contentIdOf(repo, ah))) {
        const m = repo.objects.manifest(bh);
        yield {
          ...nameOnly(path, diffFormat(m.format), m, m.size),
          status: 'unchanged',
          identical: true,
          renamedFrom: from,
        };
        continue;
      }
    }
    if (bh && ah === bh) continue;
    const fileAttrs = attrs.lookup(path);
    const key = opts.key ?? (fileAttrs.key ? fileAttrs.key.split(',') : undefined);
    const bm = bh ? repo.objects.manifest(bh) : null;
    let beforeSide: DiffSide | null;
    let afterSide: DiffSide | null = null;
    // Both sides stored: a revision, or a working-tree file whose stored manifest the stat cache names.
    if (ah && (after.kind === 'commit' || (bm && repo.objects.has(ah)))) {
      const am = repo.objects.manifest(ah as Hash);
      // Same bytes stored another way (sub-chunk spans of a new version): unchanged, nothing to read.
      if (bh && bm && sameContent(bh, bm, ah, am)) continue;
      const gz = gzipContentFormat(path, am.format);
      if (opts.nameOnly) {
        yield renamedOf(nameOnly(path, gz ?? diffFormat(am.format), bm, am.size), from);
        continue;
      }
      if (gz) {
        const done = yield* withRenamedFrom(
          diffGzipped(repo, path, gz, bm, { manifest: am }, diffOptions(repo, key, opts)),
          from,
        );
        if (done) continue;
      }
      [beforeSide, afterSide] = gz
        ? sidesFromManifests(repo, path, bm && asBinary(bm), asBinary(am))
        : sidesFromManifests(repo, path, bm, am);
    } else {
      // The working tree's manifest hash is that of its canonical layout: equal to the stored version's
      // `content` means the same bytes.
      if (ah && bh && repo.objects.contentOf(bh) === ah) continue;
      if (opts.nameOnly) {
        // Changed (the hashes differ): no side is built, nothing is read. A file removed since the scan
        // (the events are yielded as the caller reads them) is named as it now is: removed, or not at all.
        const size = ah ? statSync(safeJoin(repo.root, path), { throwIfNoEntry: false })?.size : undefined;
        if (!bm && size === undefined) continue;
        const format = size !== undefined ? formatFor(path, fileAttrs).format : bm!.format;
        yield renamedOf(
          nameOnly(path, gzipContentFormat(path, format) ?? diffFormat(format), bm, size),
          from,
        );
        continue;
      }
      const fmt = ah ? formatFor(path, fileAttrs) : undefined;
      const gz = gzipContentFormat(path, fmt?.format ?? bm!.format);
      if (gz) {
        const file = ah ? { file: safeJoin(repo.root, path), options: fmt!.options } : null;
        const done = yield* withRenamedFrom(
          diffGzipped(repo, path, gz, bm, file, diffOptions(repo, key, opts)),
          from,
        );
        worktreeChunks.delete(path);
        if (done) continue;
      }
      if (fmt) {
        afterSide = await sideFromWorktree(
          safeJoin(repo.root, path),
          path,
          gz ? 'binary' : fmt.format,
          gz ? 'binary' : fmt.chunkFormat,
          repo,
          fmt.options,
          worktreeChunks.get(path),
        );
        worktreeChunks.delete(path);
      }
      const stored = bm && gz ? asBinary(bm) : bm;
      beforeSide = stored ? storedAgainstWorktree(repo, path, stored, afterSide ?? undefined) : null;
    }
    // Decoding the manifests left their segments' bytes and scans behind: collected now if memory is high.
    memoryLimit().check();
    yield* withRenamedFrom(diffFile(beforeSide, afterSide, diffOptions(repo, key, opts)), from);
  }
}

/** An event of a renamed file (`from` set): naming where the file was. */
function renamedOf<E extends DiffEvent>(ev: E, from: string | undefined): E {
  if (from) ev.renamedFrom = from;
  return ev;
}

/** A file's events, each naming where the file was when it was renamed; the generator's result passes through. */
async function* withRenamedFrom<R>(
  events: AsyncGenerator<DiffEvent, R>,
  from: string | undefined,
): AsyncGenerator<DiffEvent, R> {
  if (!from) return yield* events;
  for (;;) {
    const r = await events.next();
    if (r.done) return r.value;
    yield renamedOf(r.value, from);
  }
}

/**
 * The content id of an after side's manifest hash: a stored manifest's `content` (or its own hash), or the hash
 * itself for a working-tree file not stored (its canonical manifest's hash, which is the content id).
 */
function contentIdOf(repo: Repository, h: Hash | 'worktree'): string {
  return h !== 'worktree' && repo.objects.has(h) ? repo.objects.contentOf(h) : h;
}

/** Pairwise similarity is only looked for when (removed files) × (added files) is at most this. */
const RENAME_PAIRS_MAX = 10_000;

/**
 * Renames (git's rename detection): files only before paired with files only after, new path → old path.
 * Same content first (cheap: content ids); then, when there are not too many pairs to weigh, the pair whose
 * after side has the largest share of its bytes in chunks the before side has (spans of the manifests, or the
 * working tree file's chunks as hashed), at least half, same format.
 */
function findRenames(
  repo: Repository,
  paths: readonly string[],
  beforeFiles: Map<string, FlatEntry>,
  afterFiles: Map<string, Hash | 'worktree'>,
  worktreeChunks: Map<string, WorktreeChunks>,
  attrs: ReturnType<typeof loadAttributes>,
): Map<string, string> {
  const out = new Map<string, string>();
  const gone = paths.filter((p) => beforeFiles.has(p) && !afterFiles.has(p));
  const added = paths.filter((p) => afterFiles.has(p) && !beforeFiles.has(p));
  if (gone.length === 0 || added.length === 0) return out;
  const byContent = new Map<string, string[]>();
  for (const p of gone) {
    const c = repo.objects.contentOf(beforeFiles.get(p)!.hash);
    byContent.set(c, [...(byContent.get(c) ?? []), p]);
  }
  const taken = new Set<string>();
  for (const p of added) {
    const c = contentIdOf(repo, afterFiles.get(p)!);
    const from = byContent.get(c)?.find((q) => !taken.has(q));
    if (from) {
      out.set(p, from);
      taken.add(from);
    }
  }
  const left = gone.filter((p) => !taken.has(p));
  const right = added.filter((p) => !out.has(p));
  if (left.length === 0 || right.length === 0 || left.length * right.length > RENAME_PAIRS_MAX) return out;
  const format = (p: string, m?: FileManifest): string =>
    diffFormat(m?.format ?? formatFor(p, attrs.lookup(p)).format);
  /** A file's chunks: [hash, bytes] per span, from its manifest or as the working tree's file was hashed. */
  const chunksOf = (
    p: string,
    side: 'before' | 'after',
  ): { fmt: string; size: number; spans: [string, number][] } | undefined => {
    const h = side === 'before' ? beforeFiles.get(p)!.hash : afterFiles.get(p);
    if (h && h !== 'worktree' && repo.objects.has(h)) {
      const m = repo.objects.manifest(h);
      return { fmt: format(p, m), size: m.size, spans: [...repo.objects.spans(m)].map(([c, , n]) => [c, n]) };
    }
    const w = worktreeChunks.get(p);
    if (!w) return undefined;
    const spans = w.canonical.map(([c, , n]): [string, number] => [c, n]);
    return { fmt: format(p), size: spans.reduce((n, s) => n + s[1], 0), spans };
  };
  const olds = left.map((p) => {
    const c = chunksOf(p, 'before');
    return { p, c, set: new Set(c?.spans.map((s) => s[0])) };
  });
  const scored: { from: string; to: string; score: number }[] = [];
  for (const to of right) {
    const n = chunksOf(to, 'after');
    if (!n || n.size === 0) continue;
    for (const o of olds) {
      if (!o.c || o.c.fmt !== n.fmt || o.c.size === 0) continue;
      let shared = 0;
      for (const [c, len] of n.spans) if (o.set.has(c)) shared += len;
      const score = shared / Math.max(n.size, o.c.size);
      if (score >= 0.5) scored.push({ from: o.p, to, score });
    }
  }
  scored.sort((a, b) => b.score - a.score || a.to.localeCompare(b.to) || a.from.localeCompare(b.from));
  for (const s of scored)
    if (!taken.has(s.from) && !out.has(s.to)) {
      out.set(s.to, s.from);
      taken.add(s.from);
    }
  return out;
}

function diffOptions(repo: Repository, key: string[] | undefined, opts: DiffRevisionsOptions): DiffOptions {
  return {
    ...(key ? { key } : {}),
    ...(opts.ignoreFields ? { ignoreFields: opts.ignoreFields } : {}),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    // Spilled identities stay inside the repository (removed when the diff ends).
    tmpDir: join(repo.strataDir, 'tmp'),
  };
}

/**
 * Free disk space a gzip file's diff leaves untouched (its decompressed sides are written to disk): 1 GiB, or
 * STRATA_DISK_RESERVE bytes.
 */
function diskReserve(): number {
  const env = process.env.STRATA_DISK_RESERVE;
  if (env === undefined || env === '') return 1024 * 1024 * 1024;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new StrataError('BAD_INPUT', `STRATA_DISK_RESERVE=${env}: expected a number of bytes`, { env });
  return n;
}

/** A manifest read as a binary file (a gzip file whose content is not readable gzip). */
const asBinary = (m: FileManifest): FileManifest => ({ ...m, format: 'binary' });

/**
 * The diff of a gzip-compressed record file (formats/gzip.ts): each side's content is decompressed, streamed,
 * into a temporary file inside the repository, then diffed example by example as that format (chunked as
 * `add` would chunk it, so that its unchanged stretches cancel unread). Sizes in the summary are the stored
 * (compressed) ones. False, after a warning, when a side is not readable gzip: the caller then compares the
 * file as a binary file.
 */
async function* diffGzipped(
  repo: Repository,
  path: string,
  format: FileFormat,
  before: FileManifest | null,
  after: { manifest: FileManifest } | { file: string; options: Record<string, string> } | null,
  options: DiffOptions,
): AsyncGenerator<DiffEvent, boolean> {
  const scratch = new SpillDir(options.tmpDir);
  const sides: DiffSide[] = [];
  try {
    const reader = new LocalObjectReader(repo.objects);
    // What the decompressed sides may take of the disk: its free space now, less a margin (a small file that
    // decompresses to terabytes must not fill the disk the repository is on).
    const fs = statfsSync(repo.strataDir);
    let room = fs.bavail * fs.bsize - diskReserve();
    const capped = async function* (src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const piece of src) {
        room -= piece.length;
        if (room < 0)
          throw new StrataError('BAD_INPUT', `${path}: decompresses to more than the free disk space`, {
            path,
          });
        yield piece;
      }
    };
    const side = async (
      bytes: () => AsyncIterable<Uint8Array> | Readable,
      sideOptions: Record<string, string> | undefined,
    ): Promise<DiffSide> => {
      const tmp = scratch.file();
      await pipeline(
        Readable.from(capped(gunzip(bytes(), path)), { objectMode: false }),
        createWriteStream(tmp),
      );
      const s = await sideFromWorktree(tmp, path, format, chunkFormatOf(format), repo, sideOptions);
      sides.push(s);
      return s;
    };
    let beforeSide: DiffSide | null = null;
    let afterSide: DiffSide | null = null;
    let afterSize = 0;
    try {
      if (before) beforeSide = await side(() => fileBytes(reader, before), before.options);
      if (after && 'manifest' in after) {
        const m = after.manifest;
        afterSize = m.size;
        afterSide = await side(() => fileBytes(reader, m), m.options);
      } else if (after) {
        afterSize = statSync(after.file).size;
        afterSide = await side(() => createReadStream(after.file), after.options);
      }
    } catch (e) {
      if (!(e instanceof StrataError && e.code === 'BAD_INPUT')) throw e;
      const reason = e.message.startsWith(`${path}: `) ? e.message.slice(path.length + 2) : e.message;
      yield { type: 'warning', path, message: `${reason}: compared as a binary file` };
      return false;
    }
    for await (const ev of diffFile(beforeSide, afterSide, options)) {
      if (ev.type === 'summary') ev.bytes = { before: before?.size ?? 0, after: afterSize };
      yield ev;
    }
    return true;
  } finally {
    for (const s of sides) s.close?.();
    scratch.close();
  }
}

/**
 * The stored side of a working-tree diff. A span-coded version is compared as the canonical chunks `add` cut
 * it into, when the index has them: the working tree's unchanged chunks then cancel against it, and only the
 * chunks it lacks are read. (The chunk list is not held while the diff runs: ~4 MB of a 1 GiB file's.)
 */
function storedAgainstWorktree(
  repo: Repository,
  path: string,
  bm: FileManifest,
  worktree: DiffSide | undefined,
): DiffSide {
  const canonical = canonicalChunks(repo, bm);
  return canonical
    ? sideFromCanonical(repo, path, bm, canonical, worktree)
    : sideFromManifest(repo, path, bm);
}

/**
 * `--name-only`'s summary of a changed file: status, format and sizes from the manifests (and the working
 * tree's file size), no counts: nothing is decoded beyond the file manifests, nothing read.
 */
function nameOnly(
  path: string,
  format: FileFormat,
  bm: FileManifest | null,
  afterSize: number | undefined,
): SummaryEvent {
  return {
    type: 'summary',
    path,
    format,
    status: !bm ? 'added' : afterSize === undefined ? 'removed' : 'modified',
    identical: false,
    counts: { added: 0, removed: 0, modified: 0 },
    bytes: { before: bm?.size ?? 0, after: afterSize ?? 0 },
    warnings: 0,
    cost: { piecesShared: 0, piecesRead: 0, bytesRead: 0, examplesRead: 0 },
  };
}
