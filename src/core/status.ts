/**
 * `status`: staged changes (HEAD tree vs index), unstaged changes (index vs working tree) and untracked
 * files. With a warm stat cache it reads no file data. Entries whose cache was racy and had to be
 * re-hashed are refreshed opportunistically, as `git status` does.
 */
import type { Hash } from '../storage/hash.js';
import type { IndexEntry } from '../storage/index-db.js';
import { readHead } from './refs.js';
import type { Repository } from './repository.js';
import { fileState, lazyAttributes, type Progress } from './stage.js';
import { flattenTree } from './tree-builder.js';
import { scanWorktree } from './worktree/scan.js';

export type ChangeKind = 'added' | 'modified' | 'deleted';

export interface StatusReport {
  branch: string | null;
  head: Hash | null;
  staged: { path: string; kind: ChangeKind }[];
  unstaged: { path: string; kind: Exclude<ChangeKind, 'added'> }[];
  untracked: string[];
  skipped: string[];
}

export const isClean = (s: StatusReport): boolean => s.staged.length === 0 && s.unstaged.length === 0;

/** The staged changes: the index against a commit's tree (HEAD's, for status), by path. */
export function stagedChanges(
  repo: Repository,
  commit: Hash | null | undefined,
  index: IndexEntry[] = repo.db.indexEntries(),
): StatusReport['staged'] {
  const headFiles = flattenTree(repo.objects, commit ? repo.objects.commit(commit).tree : undefined);
  const indexed = new Set(index.map((e) => e.path));
  const staged: StatusReport['staged'] = [];
  for (const e of index) {
    const h = headFiles.get(e.path);
    if (!h) staged.push({ path: e.path, kind: 'added' });
    else if (!repo.objects.sameContent(h.hash, e.manifest)) staged.push({ path: e.path, kind: 'modified' });
  }
  for (const p of headFiles.keys()) if (!indexed.has(p)) staged.push({ path: p, kind: 'deleted' });
  return staged.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export async function status(repo: Repository, progress?: Progress): Promise<StatusReport> {
  const head = readHead(repo);
  const index = repo.db.indexEntries();
  const indexMap = new Map(index.map((e) => [e.path, e]));
  const staged = stagedChanges(repo, head.commit, index);

  const attrs = lazyAttributes(repo.root);
  const unstaged: StatusReport['unstaged'] = [];
  const refresh: IndexEntry[] = [];
  for (const e of index) {
    const s = await fileState(repo, e.path, e, { store: false, attrs, progress });
    if (!s) unstaged.push({ path: e.path, kind: 'deleted' });
    else if (s.manifest !== e.manifest) unstaged.push({ path: e.path, kind: 'modified' });
    else if (s.refreshed) refresh.push(s.refreshed);
  }
  if (refresh.length) {
    try {
      await repo.withLock(() =>
        repo.db.transaction(() => refresh.forEach((r) => repo.db.upsertIndexEntry(r))),
      );
    } catch {
      /* another process holds the lock: the cache is refreshed next time */
    }
  }
  const scan = scanWorktree(repo.root);
  const untracked = scan.files.map((f) => f.path).filter((p) => !indexMap.has(p));
  return {
    branch: head.kind === 'branch' ? head.branch : null,
    head: head.commit ?? null,
    staged,
    unstaged,
    untracked,
    skipped: scan.skipped,
  };
}
