/**
 * Reading history: `log` (newest first over the whole ancestry, like git), `show`'s file-level changes
 * between a commit and its first parent, and `ls-tree`.
 */
import type { Hash } from '../storage/hash.js';
import type { Commit, TreeEntry } from './objects/objects.js';
import type { Repository } from './repository.js';
import { lookupPath, resolveCommit } from './rev-parse.js';
import { flattenTree } from './tree-builder.js';
import { StrataError } from '../storage/errors.js';

export interface LogEntry extends Commit {
  hash: Hash;
}

/**
 * The commits reachable from `rev`, newest first. With `paths` (repository paths of files or directories;
 * '' is the whole tree), only those that changed something under them: a commit whose state of those paths
 * differs from each of its parents' (a merge that took them from one parent is not listed), or a root commit
 * that has any of them. The walk still goes through every parent. With `exclude`, commits reachable from
 * any of those revisions are left out (`log B --exclude A` is git's `A..B`).
 */
export function* log(
  repo: Repository,
  rev = 'HEAD',
  opts: { limit?: number; paths?: readonly string[]; exclude?: readonly string[] } = {},
): Generator<LogEntry> {
  const start = resolveCommit(repo, rev);
  // `exclude` (git's A..B, ^A): commits reachable from those are neither listed nor walked through.
  const seen = new Set<string>(opts.exclude?.length ? reachable(repo, opts.exclude) : []);
  if (seen.has(start)) return;
  seen.add(start);
  const queue: LogEntry[] = [{ hash: start, ...repo.objects.commit(start) }];
  const paths = opts.paths?.length ? opts.paths : undefined;
  /**
   * What each path names in a commit's tree: an object hash (a file's content hash), or '' for nothing. Kept
   * per commit: a commit's state is asked again as its children's parent.
   */
  const states = new Map<string, string[]>();
  const stateOf = (commit: string): string[] => {
    let st = states.get(commit);
    if (!st) {
      const tree = repo.objects.commit(commit).tree;
      st = paths!.map((p) => {
        const e = lookupPath(repo, tree, p);
        return !e ? '' : e.kind === 'file' ? repo.objects.contentOf(e.hash) : `tree:${e.hash}`;
      });
      states.set(commit, st);
    }
    return st;
  };
  const sameState = (a: string[], b: string[]): boolean => a.every((x, i) => x === b[i]);
  const touches = (c: LogEntry): boolean => {
    const mine = stateOf(c.hash);
    if (c.parents.length === 0) return mine.some((x) => x !== '');
    return c.parents.every((p) => !sameState(mine, stateOf(p)));
  };
  let n = 0;
  while (queue.length && (opts.limit === undefined || n < opts.limit)) {
    queue.sort((a, b) => b.time - a.time);
    const c = queue.shift()!;
    if (!paths || touches(c)) {
      yield c;
      n++;
    }
    for (const p of c.parents) {
      if (!seen.has(p)) {
        seen.add(p);
        queue.push({ hash: p, ...repo.objects.commit(p) });
      }
    }
  }
}

export interface FileChange {
  path: string;
  kind: 'added' | 'modified' | 'deleted';
  before?: { hash: Hash; size: number };
  after?: { hash: Hash; size: number };
}

/** File-level changes between two trees (either may be undefined for the empty tree). */
export function treeChanges(repo: Repository, a: Hash | undefined, b: Hash | undefined): FileChange[] {
  const fa = flattenTree(repo.objects, a);
  const fb = flattenTree(repo.objects, b);
  const out: FileChange[] = [];
  for (const [p, e] of fb) {
    const old = fa.get(p);
    if (!old) out.push({ path: p, kind: 'added', after: e });
    else if (!repo.objects.sameContent(old.hash, e.hash))
      out.push({ path: p, kind: 'modified', before: old, after: e });
  }
  for (const [p, e] of fa) if (!fb.has(p)) out.push({ path: p, kind: 'deleted', before: e });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

export function show(repo: Repository, rev = 'HEAD'): LogEntry & { changes: FileChange[] } {
  const hash = resolveCommit(repo, rev);
  const c = repo.objects.commit(hash);
  const parentTree = c.parents[0] ? repo.objects.commit(c.parents[0]).tree : undefined;
  return { hash, ...c, changes: treeChanges(repo, parentTree, c.tree) };
}

export interface LsTreeEntry extends TreeEntry {
  path: string;
}

export function lsTree(repo: Repository, tree: Hash, path = '', recursive = false): LsTreeEntry[] {
  const e = lookupPath(repo, tree, path);
  if (!e) throw new StrataError('NOT_FOUND', `path '${path}' not found`, { path });
  const base = path.replace(/\/+$/, '');
  if (e.kind === 'file') return [{ ...e, name: base.split('/').pop()!, path: base }];
  if (recursive) {
    return [...flattenTree(repo.objects, e.hash, base)].map(([p, f]) => ({
      name: p.split('/').pop()!,
      kind: 'file' as const,
      hash: f.hash,
      size: f.size,
      path: p,
    }));
  }
  return repo.objects.tree(e.hash).entries.map((x) => ({ ...x, path: base ? `${base}/${x.name}` : x.name }));
}

/** Every commit reachable from the revisions (each included). */
function reachable(repo: Repository, revs: readonly string[]): Set<string> {
  const out = new Set<string>();
  const stack = revs.map((r) => resolveCommit(repo, r));
  while (stack.length) {
    const h = stack.pop()!;
    if (out.has(h)) continue;
    out.add(h);
    for (const p of repo.objects.commit(h).parents) if (!out.has(p)) stack.push(p);
  }
  return out;
}
