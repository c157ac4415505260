/**
 * Everything that writes the working tree from stored objects: `switch`, `checkout REV -- PATHS`,
 * `restore`, `reset`. Files are written to a temp name beside their target and renamed into place; local
 * changes are never overwritten without `force`, and the refusal names the files.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import type { IndexEntry } from '../storage/index-db.js';
import { branchRef, createBranch, detachHead, readHead, setHeadToBranch, advanceHead } from './refs.js';
import { readFile } from './object-reader.js';
import type { Repository } from './repository.js';
import { resolveCommit } from './rev-parse.js';
import { fileState, makeEntry, nowNs } from './stage.js';
import { flattenTree, type FlatEntry } from './tree-builder.js';
import { loadAttributes } from './worktree/attributes.js';
import { isUnder, safeJoin } from './worktree/paths.js';
import { statFile } from './worktree/scan.js';
import { ensureFileData } from './partial.js';

/** Writes one file from its manifest and returns its fresh index entry. */
export async function writeWorktreeFile(repo: Repository, path: string, manifest: Hash): Promise<IndexEntry> {
  const m = repo.objects.manifest(manifest);
  const abs = safeJoin(repo.root, path);
  const tmp = join(dirname(abs), `.strata-tmp-${randomBytes(6).toString('hex')}`);
  const recorded = nowNs();
  let fd: number;
  try {
    mkdirSync(dirname(abs), { recursive: true });
    fd = openSync(tmp, 'wx', 0o644);
  } catch (e) {
    // e.g. a file where the path needs a directory (ENOTDIR, EEXIST)
    throw new StrataError(
      'IO',
      `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { path, errno: (e as NodeJS.ErrnoException).code },
      { cause: e },
    );
  }
  try {
    for await (const b of readFile(repo.objects, m)) {
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    }
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, abs);
  return makeEntry(path, manifest, m.size, statFile(abs), recorded);
}

function removeWorktreeFile(repo: Repository, path: string): void {
  const abs = safeJoin(repo.root, path);
  try {
    unlinkSync(abs);
  } catch {
    return;
  }
  // Prune directories left empty, up to the root.
  for (let d = dirname(abs); d.startsWith(repo.root) && d !== repo.root; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      break;
    }
  }
}

/** Paths whose working-tree or staged state differs from HEAD: what a checkout must not clobber. */
async function localChanges(
  repo: Repository,
  headFiles: Map<string, FlatEntry>,
): Promise<{ changed: Set<string>; index: Map<string, IndexEntry> }> {
  const index = new Map(repo.db.indexEntries().map((e) => [e.path, e]));
  const attrs = loadAttributes(repo.root);
  const changed = new Set<string>();
  for (const [p, e] of index) {
    const h = headFiles.get(p);
    if (!h || !repo.objects.sameContent(h.hash, e.manifest)) changed.add(p);
    else {
      const s = await fileState(repo, p, e, { store: false, attrs });
      if (!s || s.manifest !== e.manifest) changed.add(p);
    }
  }
  for (const p of headFiles.keys()) if (!index.has(p)) changed.add(p);
  return { changed, index };
}

export interface SwitchResult {
  commit: Hash | null;
  branch: string | null;
  written: number;
  removed: number;
}

/**
 * Moves HEAD to a branch (or, with `detach`, a commit) and updates index and working tree. Paths with
 * local changes are carried over when the target leaves them alone, refused otherwise.
 */
export async function switchTo(
  repo: Repository,
  target: string,
  opts: { create?: boolean; startPoint?: string; detach?: boolean; force?: boolean } = {},
): Promise<SwitchResult> {
  return repo.withLock(async () => {
    const head = readHead(repo);
    let targetCommit: Hash | undefined;
    let branch: string | null = null;
    if (opts.create) {
      const start = opts.startPoint ? resolveCommit(repo, opts.startPoint) : head.commit;
      branch = target;
      if (start) createBranch(repo, target, start);
      else if (repo.db.getRef(branchRef(target)))
        throw new StrataError('ALREADY_EXISTS', `branch ${target} already exists`, { branch: target });
      targetCommit = start;
    } else if (!opts.detach && repo.db.getRef(branchRef(target))) {
      branch = target;
      targetCommit = repo.db.getRef(branchRef(target)) as Hash;
    } else if (!opts.detach && head.kind === 'branch' && head.branch === target) {
      branch = target; // unborn current branch
    } else {
      if (!opts.detach) {
        // Like git switch: a non-branch needs --detach, unless it resolves only as a commit.
        throw new StrataError(
          'BAD_INPUT',
          `'${target}' is not a branch; use --detach to switch to a commit`,
          { target },
        );
      }
      targetCommit = resolveCommit(repo, target);
    }
    const written = await moveWorktree(repo, head.commit, targetCommit, !!opts.force);
    if (branch) {
      if (opts.create && !targetCommit) setHeadToBranch(repo, branch, `switch: to new branch ${branch}`);
      else setHeadToBranch(repo, branch, `switch: to ${branch}`);
    } else {
      detachHead(repo, targetCommit!, `switch: detach at ${targetCommit}`);
    }
    return { commit: targetCommit ?? null, branch, ...written };
  });
}

/** Updates index and working tree from commit `from` to `to`, refusing to overwrite local changes. */
export const updateWorktree = (
  repo: Repository,
  from: Hash | undefined,
  to: Hash | undefined,
): Promise<{ written: number; removed: number }> => moveWorktree(repo, from, to, false);

async function moveWorktree(
  repo: Repository,
  from: Hash | undefined,
  to: Hash | undefined,
  force: boolean,
): Promise<{ written: number; removed: number }> {
  const fromFiles = flattenTree(repo.objects, from ? repo.objects.commit(from).tree : undefined);
  const toFiles = flattenTree(repo.objects, to ? repo.objects.commit(to).tree : undefined);
  const { changed, index } = await localChanges(repo, fromFiles);
  const touched: string[] = [];
  for (const p of new Set([...fromFiles.keys(), ...toFiles.keys()])) {
    if (fromFiles.get(p)?.hash !== toFiles.get(p)?.hash) touched.push(p);
  }
  if (!force) {
    const attrs = loadAttributes(repo.root);
    // A path whose file already holds the target version, with the old or the new version staged, loses
    // nothing when moved: that is what a switch or pull interrupted part-way leaves, and re-running it
    // must finish the job rather than refuse.
    const alreadyAtTarget = async (p: string): Promise<boolean> => {
      const t = toFiles.get(p);
      const e = index.get(p);
      const same = (a: string | undefined, b: string | undefined): boolean => repo.objects.sameContent(a, b);
      if (e && !same(e.manifest, fromFiles.get(p)?.hash) && !same(e.manifest, t?.hash)) return false;
      if (!t) return !statFile(safeJoin(repo.root, p));
      // Compared by content: a span-coded target's manifest is not the canonical one fileState computes.
      const s = await fileState(repo, p, same(e?.manifest, t.hash) ? e : undefined, { store: false, attrs });
      return !!s && same(s.manifest, t.hash);
    };
    const conflicts: string[] = [];
    for (const p of touched) {
      // An untracked file in the way of a file the target brings would be lost too.
      const inTheWay = !fromFiles.has(p) && !index.has(p) && toFiles.has(p) && !!statFile(join(repo.root, p));
      if ((changed.has(p) || inTheWay) && !(await alreadyAtTarget(p))) conflicts.push(p);
    }
    if (conflicts.length) {
      throw new StrataError(
        'DIRTY_WORKTREE',
        `your local changes to these files would be overwritten (commit them, or use --force): ${conflicts.sort().join(', ')}`,
        { paths: conflicts },
      );
    }
  }
  let written = 0;
  let removed = 0;
  const entries: IndexEntry[] = [];
  const deletions: string[] = [];
  // In a partial clone, the data of the files written that is not here yet (core/partial.ts).
  await ensureFileData(
    repo,
    [...touched, ...(force ? changed : [])].map((p) => toFiles.get(p)?.hash),
  );
  for (const p of touched) {
    const t = toFiles.get(p);
    if (t) {
      entries.push(await writeWorktreeFile(repo, p, t.hash));
      written++;
    } else {
      removeWorktreeFile(repo, p);
      deletions.push(p);
      removed++;
    }
  }
  if (force) {
    // Discard local changes everywhere else too.
    for (const p of changed) {
      if (touched.includes(p)) continue;
      const t = toFiles.get(p);
      if (t) entries.push(await writeWorktreeFile(repo, p, t.hash));
      else if (!index.has(p) || !fromFiles.has(p)) {
        removeWorktreeFile(repo, p);
        deletions.push(p);
      }
    }
  }
  repo.db.transaction(() => {
    for (const e of entries) repo.db.upsertIndexEntry(e);
    for (const d of deletions) repo.db.deleteIndexEntry(d);
  });
  return { written, removed };
}

/** Sets index and working tree of `paths` (files or directories) to their state in a revision. */
export async function checkoutPaths(repo: Repository, rev: string, paths: string[]): Promise<string[]> {
  return repo.withLock(async () => {
    const commit = resolveCommit(repo, rev);
    const files = flattenTree(repo.objects, repo.objects.commit(commit).tree);
    const out: string[] = [];
    const each = paths.map((p) => {
      const hits = [...files.entries()].filter(([k]) => isUnder(k, p));
      if (!hits.length)
        throw new StrataError('NOT_FOUND', `pathspec '${p}' did not match any file in ${rev}`, {
          path: p,
          rev,
        });
      return hits;
    });
    await ensureFileData(
      repo,
      each.flatMap((hits) => hits.map(([, e]) => e.hash)),
    );
    for (const hits of each) {
      for (const [k, e] of hits) {
        const entry = await writeWorktreeFile(repo, k, e.hash);
        repo.db.upsertIndexEntry(entry);
        out.push(k);
      }
    }
    return out;
  });
}

/**
 * `restore`: by default the working-tree files from the index; with `staged`, the index entries from
 * `source` (default HEAD); with both, both.
 */
export async function restore(
  repo: Repository,
  paths: string[],
  opts: { staged?: boolean; worktree?: boolean; source?: string } = {},
): Promise<string[]> {
  return repo.withLock(async () => {
    const worktree = opts.worktree ?? !opts.staged;
    const source =
      opts.source !== undefined || opts.staged
        ? flattenTree(
            repo.objects,
            (() => {
              const h = opts.source ? resolveCommit(repo, opts.source) : readHead(repo).commit;
              return h ? repo.objects.commit(h).tree : undefined;
            })(),
          )
        : undefined;
    const index = new Map(repo.db.indexEntries().map((e) => [e.path, e]));
    const done: string[] = [];
    if (source && worktree)
      await ensureFileData(
        repo,
        [...source].filter(([k]) => paths.some((p) => isUnder(k, p))).map(([, e]) => e.hash),
      );
    for (const p of paths) {
      const universe = new Set([...index.keys(), ...(source?.keys() ?? [])].filter((k) => isUnder(k, p)));
      if (!universe.size)
        throw new StrataError('NOT_FOUND', `pathspec '${p}' did not match any file known to strata`, {
          path: p,
        });
      for (const k of universe) {
        const ie = index.get(k);
        const want: FlatEntry | undefined = source
          ? source.get(k)
          : ie
            ? { hash: ie.manifest as Hash, size: ie.size }
            : undefined;
        if (opts.staged) {
          if (want)
            repo.db.upsertIndexEntry(
              index.get(k)?.manifest === want.hash ? index.get(k)! : makeEntry(k, want.hash, want.size),
            );
          else repo.db.deleteIndexEntry(k);
        }
        if (worktree) {
          if (want) {
            const e = await writeWorktreeFile(repo, k, want.hash);
            if (opts.staged || index.get(k)?.manifest === want.hash) repo.db.upsertIndexEntry(e);
          } else removeWorktreeFile(repo, k);
        }
        done.push(k);
      }
    }
    return done;
  });
}

/** `reset [--soft|--mixed|--hard] REV`: moves the current branch (or detached HEAD) to REV. */
export async function reset(repo: Repository, rev: string, mode: 'soft' | 'mixed' | 'hard'): Promise<Hash> {
  return repo.withLock(async () => {
    const target = resolveCommit(repo, rev);
    const head = readHead(repo);
    if (mode === 'hard') {
      await moveWorktree(repo, head.commit, target, true);
    }
    if (mode !== 'soft') {
      const files = flattenTree(repo.objects, repo.objects.commit(target).tree);
      const old = new Map(repo.db.indexEntries().map((e) => [e.path, e]));
      repo.db.replaceIndex(
        [...files].map(([p, f]) =>
          old.get(p)?.manifest === f.hash ? old.get(p)! : makeEntry(p, f.hash, f.size),
        ),
      );
    }
    advanceHead(repo, target, `reset: moving to ${rev}`);
    return target;
  });
}
