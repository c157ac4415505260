/**
 * git's revision syntax: full or short (>= 4 hex digits) commit hashes, HEAD or @, branch, tag and
 * remote-tracking names, followed by any number of `~N`, `^`, `^N`, `^{commit}`, `^{tree}`; and
 * `REV:PATH` for the file or tree at a path.
 */
import { StrataError } from '../storage/errors.js';
import { isHash, type Hash } from '../storage/hash.js';
import type { TreeEntry } from './objects/objects.js';
import { HEAD, readHead } from './refs.js';
import type { Repository } from './repository.js';

const badRev = (rev: string, why: string): StrataError =>
  new StrataError('BAD_REVISION', `bad revision '${rev}': ${why}`, { rev });

/** Resolves a name (no suffixes) to a commit hash. */
function resolveBase(repo: Repository, name: string, full: string): Hash {
  if (name === HEAD || name === '@') {
    const c = readHead(repo).commit;
    if (!c) throw badRev(full, 'HEAD does not point at a commit yet (no commits on this branch)');
    return c;
  }
  const candidates = name.startsWith('refs/')
    ? [name]
    : [`refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`];
  for (const ref of candidates) {
    const t = repo.db.getRef(ref);
    if (t) return t as Hash;
  }
  if (/^[0-9a-f]{4,64}$/.test(name)) {
    if (isHash(name) && repo.objects.has(name)) return name;
    const hits = repo.db.commitsWithPrefix(name);
    if (hits.length === 1) return hits[0] as Hash;
    if (hits.length > 1)
      throw new StrataError('BAD_REVISION', `short hash ${name} is ambiguous`, {
        rev: full,
        candidates: hits,
      });
  }
  throw badRev(full, 'unknown revision');
}

/** Resolves a revision to a commit hash. */
export function resolveCommit(repo: Repository, rev: string): Hash {
  const r = resolveRevision(repo, rev);
  if (r.kind !== 'commit') throw badRev(rev, `names a ${r.kind}, not a commit`);
  return r.hash;
}

export type Resolved =
  | { kind: 'commit'; hash: Hash }
  | { kind: 'tree'; hash: Hash }
  | { kind: 'file'; hash: Hash; size: number; path: string };

/** Resolves any revision expression, including `REV^{tree}` and `REV:PATH`. */
export function resolveRevision(repo: Repository, rev: string): Resolved {
  const colon = rev.indexOf(':');
  if (colon >= 0) {
    const commit = resolveCommit(repo, rev.slice(0, colon) || HEAD);
    const path = rev.slice(colon + 1);
    const e = lookupPath(repo, repo.objects.commit(commit).tree, path);
    if (!e)
      throw new StrataError(
        'NOT_FOUND',
        `path '${path}' does not exist in '${rev.slice(0, colon) || HEAD}'`,
        { rev, path },
      );
    return e.kind === 'tree'
      ? { kind: 'tree', hash: e.hash }
      : { kind: 'file', hash: e.hash, size: e.size, path };
  }
  const m = /^(.*?)((?:[~^].*)?)$/.exec(rev);
  const base = m?.[1] ?? '';
  let suffix = m?.[2] ?? '';
  if (base === '') throw badRev(rev, 'empty revision');
  let hash = resolveBase(repo, base, rev);
  while (suffix) {
    let sm: RegExpExecArray | null;
    if ((sm = /^~(\d*)/.exec(suffix))) {
      const n = sm[1] === '' ? 1 : Number(sm[1]);
      for (let i = 0; i < n; i++) {
        const p = commitOf(repo, hash, rev).parents[0];
        if (!p) throw badRev(rev, 'walks past the root commit');
        hash = p;
      }
    } else if ((sm = /^\^\{(commit|tree)?\}/.exec(suffix))) {
      if (sm[1] === 'tree') {
        const tree = commitOf(repo, hash, rev).tree;
        if (sm[0].length !== suffix.length) throw badRev(rev, 'nothing may follow ^{tree}');
        return { kind: 'tree', hash: tree };
      }
    } else if ((sm = /^\^(\d*)/.exec(suffix))) {
      const n = sm[1] === '' ? 1 : Number(sm[1]);
      if (n > 0) {
        const p = commitOf(repo, hash, rev).parents[n - 1];
        if (!p) throw badRev(rev, `commit has no parent ${n}`);
        hash = p;
      }
    } else {
      throw badRev(rev, `cannot parse '${suffix}'`);
    }
    suffix = suffix.slice(sm[0].length);
  }
  commitOf(repo, hash, rev);
  return { kind: 'commit', hash };
}

function commitOf(repo: Repository, hash: Hash, rev: string) {
  try {
    return repo.objects.commit(hash);
  } catch (e) {
    if (e instanceof StrataError && (e.code === 'NOT_FOUND' || e.code === 'BAD_INPUT'))
      throw badRev(rev, `${hash} is not a commit`);
    throw e;
  }
}

/** Finds the entry at a '/'-separated path inside a tree, or undefined. The empty path is the tree itself. */
export function lookupPath(repo: Repository, tree: Hash, path: string): TreeEntry | undefined {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let entry: TreeEntry = { name: '', kind: 'tree', hash: tree, size: 0 };
  for (const part of parts) {
    if (entry.kind !== 'tree') return undefined;
    const next = repo.objects.tree(entry.hash).entries.find((e) => e.name === part);
    if (!next) return undefined;
    entry = next;
  }
  return entry;
}
