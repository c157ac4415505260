/**
 * The staging index: `add`, `rm` and the stat cache. An index entry holds the manifest a path will have
 * in the next commit plus the (size, mtime, ctime, inode) it had when hashed. An entry is trusted only if
 * the file's mtime is older than the moment it was recorded by more than the file system's timestamp
 * granularity (git's "racy timestamp" rule), so a same-size edit in the same clock tick is never missed.
 */
import { unlinkSync, type BigIntStats } from 'node:fs';
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import type { IndexEntry } from '../storage/index-db.js';
import type { WorktreeChunks } from './worktree/ingest.js';
import type { Repository } from './repository.js';
import { loadAttributes, type AttributeRules } from './worktree/attributes.js';
import { isUnder, safeJoin } from './worktree/paths.js';
import { scanWorktree, statFile } from './worktree/scan.js';

/** Coarser than any file system clock tick we know of (ext4/xfs use the ~4 ms kernel tick). */
const RACY_MARGIN_NS = 100_000_000n;

export interface Progress {
  onBytes?: (n: number) => void;
  onFile?: (path: string) => void;
}

export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export function entryMatchesStat(e: IndexEntry, st: BigIntStats): boolean {
  return (
    e.mtime_ns !== null &&
    e.recorded_ns !== null &&
    BigInt(e.size) === st.size &&
    e.mtime_ns === st.mtimeNs.toString() &&
    e.ctime_ns === st.ctimeNs.toString() &&
    e.ino === st.ino.toString() &&
    st.mtimeNs + RACY_MARGIN_NS <= BigInt(e.recorded_ns)
  );
}

/** An index entry; without `st` it carries no stat data, so the next status re-hashes the file. */
export function makeEntry(
  path: string,
  manifest: Hash,
  size: number,
  st?: BigIntStats,
  recorded = 0n,
): IndexEntry {
  return {
    path,
    manifest,
    size,
    mtime_ns: st ? st.mtimeNs.toString() : null,
    ctime_ns: st ? st.ctimeNs.toString() : null,
    ino: st ? st.ino.toString() : null,
    recorded_ns: st ? recorded.toString() : null,
  };
}

/**
 * `.strataattributes`, read and compiled on the first lookup: only a file that must be hashed needs its
 * format, so a no-op status or add (every stat cache entry trusted) never loads picomatch nor compiles a glob.
 */
export function lazyAttributes(root: string): AttributeRules {
  let rules: AttributeRules | undefined;
  return { lookup: (path) => (rules ??= loadAttributes(root)).lookup(path) };
}

export interface FileState {
  manifest: Hash;
  size: number;
  /** With `keepChunks`, when the file was hashed: how the chunker cut it (the diff reuses it). */
  chunks?: WorktreeChunks;
  /** A fresh index entry to cache when the file had to be hashed and did not change while it was read. */
  refreshed?: IndexEntry;
}

/**
 * The manifest a working-tree file has now, using the stat cache when it can be trusted, else hashing
 * (and, with `store`, storing) its content. Undefined if the file is missing.
 */
export async function fileState(
  repo: Repository,
  path: string,
  cached: IndexEntry | undefined,
  opts: {
    store: boolean;
    attrs?: AttributeRules;
    progress?: Progress;
    previous?: Hash;
    keepChunks?: boolean;
  },
): Promise<FileState | undefined> {
  const abs = safeJoin(repo.root, path);
  const st = statFile(abs);
  if (!st) return undefined;
  if (cached && entryMatchesStat(cached, st) && (!opts.store || repo.objects.has(cached.manifest))) {
    return { manifest: cached.manifest as Hash, size: cached.size };
  }
  const recorded = nowNs();
  // Hashing needs the chunker, the compressor and the format table: loaded only when the cache misses, so a
  // no-op status or add never loads them.
  const [{ formatFor }, { ingestFile }] = await Promise.all([
    import('./worktree/formats.js'),
    import('./worktree/ingest.js'),
  ]);
  const fmt = formatFor(path, (opts.attrs ?? loadAttributes(repo.root)).lookup(path));
  opts.progress?.onFile?.(path);
  const r = await ingestFile(repo, abs, fmt, {
    store: opts.store,
    onBytes: opts.progress?.onBytes,
    // The previous version, to span-code the new chunks against (FORMAT.md, "Span-coded versions").
    ...(opts.previous ? { previous: opts.previous } : {}),
    ...(opts.keepChunks ? { keepChunks: true } : {}),
  });
  // The same content as the cached entry's manifest, whatever its layout, is the same file: keep the entry's
  // (stored) manifest, since the one just computed may not be stored (`store` false) or be laid out anew.
  const manifest =
    cached && repo.objects.sameContent(r.manifest, cached.manifest) ? (cached.manifest as Hash) : r.manifest;
  const after = statFile(abs);
  const stable =
    after &&
    after.size === st.size &&
    after.mtimeNs === st.mtimeNs &&
    after.ino === st.ino &&
    BigInt(r.size) === st.size;
  return {
    manifest,
    size: r.size,
    ...(r.chunks ? { chunks: r.chunks } : {}),
    ...(stable ? { refreshed: makeEntry(path, manifest, r.size, st, recorded) } : {}),
  };
}

export interface AddResult {
  added: string[];
  updated: string[];
  removed: string[];
  skipped: string[];
}

/** Stages the given repository paths (files or directories; '' is everything), including deletions. */
export async function add(
  repo: Repository,
  paths: string[],
  progress?: Progress,
  opts: { like?: string } = {},
): Promise<AddResult> {
  return repo.withLock(async () => {
    const attrs = lazyAttributes(repo.root);
    const result: AddResult = { added: [], updated: [], removed: [], skipped: [] };
    const index = new Map(repo.db.indexEntries().map((e) => [e.path, e]));
    // `--like OLDPATH`: the version to span-code against, for files whose own previous version is unknown
    // (a renamed or copied file) or not the best match.
    const like = opts.like === undefined ? undefined : index.get(opts.like)?.manifest;
    if (opts.like !== undefined && like === undefined)
      throw new StrataError('NOT_FOUND', `--like ${opts.like}: not a tracked file`, { path: opts.like });
    const seen = new Set<string>();
    const updates: IndexEntry[] = [];
    for (const p of paths) {
      const scan = scanWorktree(repo.root, p);
      const tracked = [...index.keys()].filter((k) => isUnder(k, p));
      if (scan.files.length === 0 && tracked.length === 0 && scan.skipped.length === 0) {
        throw new StrataError('NOT_FOUND', `pathspec '${p || '.'}' did not match any files`, { path: p });
      }
      result.skipped.push(...scan.skipped);
      for (const f of scan.files) {
        if (seen.has(f.path)) continue;
        seen.add(f.path);
        const old = index.get(f.path);
        const s = await fileState(repo, f.path, old, {
          store: true,
          attrs,
          progress,
          ...(like || old ? { previous: (like ?? old!.manifest) as Hash } : {}),
        });
        if (!s) continue;
        const entry = s.refreshed ?? makeEntry(f.path, s.manifest, s.size);
        if (!old) result.added.push(f.path);
        else if (old.manifest !== s.manifest) result.updated.push(f.path);
        if (!old || old.manifest !== s.manifest || s.refreshed) updates.push(entry);
      }
      for (const t of tracked) {
        if (!seen.has(t) && !statFile(safeJoin(repo.root, t))) {
          result.removed.push(t);
          seen.add(t);
        }
      }
    }
    // Objects become durable before the index names them.
    repo.objects.flush();
    repo.db.transaction(() => {
      for (const u of updates) repo.db.upsertIndexEntry(u);
      for (const r of result.removed) repo.db.deleteIndexEntry(r);
    });
    return result;
  });
}

/** Unstages paths and (unless `cached`) deletes them from the working tree. */
export async function rm(
  repo: Repository,
  paths: string[],
  opts: { cached?: boolean; force?: boolean; recursive?: boolean } = {},
): Promise<string[]> {
  return repo.withLock(async () => {
    const entries = repo.db.indexEntries();
    const targets: IndexEntry[] = [];
    for (const p of paths) {
      const hit = entries.filter((e) => isUnder(e.path, p));
      if (hit.length === 0)
        throw new StrataError('NOT_FOUND', `pathspec '${p}' did not match any tracked files`, { path: p });
      if (hit.some((e) => e.path !== p) && !opts.recursive) {
        throw new StrataError('BAD_INPUT', `not removing '${p}' recursively without -r`, { path: p });
      }
      targets.push(...hit);
    }
    if (!opts.cached && !opts.force) {
      const dirty: string[] = [];
      for (const e of targets) {
        const s = await fileState(repo, e.path, e, { store: false });
        if (s && s.manifest !== e.manifest) dirty.push(e.path);
      }
      if (dirty.length) {
        throw new StrataError(
          'DIRTY_WORKTREE',
          `these files have local modifications (use --force or --cached): ${dirty.join(', ')}`,
          {
            paths: dirty,
          },
        );
      }
    }
    repo.db.transaction(() => {
      for (const e of targets) repo.db.deleteIndexEntry(e.path);
    });
    if (!opts.cached) {
      for (const e of targets) {
        try {
          unlinkSync(safeJoin(repo.root, e.path));
        } catch {
          /* already gone */
        }
      }
    }
    return targets.map((e) => e.path);
  });
}
