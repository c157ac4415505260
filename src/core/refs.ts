/**
 * Refs: HEAD (symbolic `ref: refs/heads/NAME` or a detached commit hash), branches under refs/heads/,
 * tags under refs/tags/, remote-tracking refs under refs/remotes/. Stored in the SQLite index with a
 * reflog; names follow git's check-ref-format rules.
 */
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import type { Repository } from './repository.js';

export const HEAD = 'HEAD';
const SYMREF = 'ref: ';

/** Validates a short branch or tag name the way `git check-ref-format --branch` does. */
export function checkRefName(name: string, what = 'ref'): void {
  const bad =
    name === '' ||
    name === '@' ||
    name === HEAD ||
    name.startsWith('-') ||
    name.startsWith('/') ||
    name.endsWith('/') ||
    name.endsWith('.') ||
    name.endsWith('.lock') ||
    name.includes('..') ||
    name.includes('//') ||
    name.includes('@{') ||
    // eslint-disable-next-line no-control-regex -- git forbids control characters in ref names
    /[\x00-\x20\x7f~^:?*[\\]/.test(name) ||
    name.split('/').some((c) => c.startsWith('.') || c === '');
  if (bad) throw new StrataError('BAD_INPUT', `invalid ${what} name ${JSON.stringify(name)}`, { name });
}

export type HeadState =
  { kind: 'branch'; branch: string; commit: Hash | undefined } | { kind: 'detached'; commit: Hash };

export function readHead(repo: Repository): HeadState {
  const t = repo.db.getRef(HEAD);
  if (!t) throw new StrataError('INTEGRITY', 'HEAD is missing', {});
  if (t.startsWith(SYMREF)) {
    const ref = t.slice(SYMREF.length);
    const branch = ref.replace(/^refs\/heads\//, '');
    return { kind: 'branch', branch, commit: repo.db.getRef(ref) as Hash | undefined };
  }
  return { kind: 'detached', commit: t as Hash };
}

export const headCommit = (repo: Repository): Hash | undefined => readHead(repo).commit;

/** Moves whatever HEAD points at (the current branch, or HEAD itself when detached) to `commit`. */
export function advanceHead(repo: Repository, commit: Hash, message: string, expectOld?: Hash | null): void {
  const h = readHead(repo);
  const ref = h.kind === 'branch' ? `refs/heads/${h.branch}` : HEAD;
  repo.db.setRef(ref, commit, message, expectOld);
}

export function setHeadToBranch(repo: Repository, branch: string, message: string): void {
  repo.db.setRef(HEAD, `${SYMREF}refs/heads/${branch}`, message);
}

export function detachHead(repo: Repository, commit: Hash, message: string): void {
  repo.db.setRef(HEAD, commit, message);
}

export const branchRef = (name: string): string => `refs/heads/${name}`;
export const tagRef = (name: string): string => `refs/tags/${name}`;

export function listBranches(repo: Repository): { name: string; commit: Hash; current: boolean }[] {
  const h = readHead(repo);
  return repo.db.listRefs('refs/heads/').map((r) => ({
    name: r.name.slice('refs/heads/'.length),
    commit: r.target as Hash,
    current: h.kind === 'branch' && h.branch === r.name.slice('refs/heads/'.length),
  }));
}

export function listTags(repo: Repository): { name: string; commit: Hash }[] {
  return repo.db
    .listRefs('refs/tags/')
    .map((r) => ({ name: r.name.slice('refs/tags/'.length), commit: r.target as Hash }));
}

export function createBranch(repo: Repository, name: string, commit: Hash, force = false): void {
  checkRefName(name, 'branch');
  const existing = repo.db.getRef(branchRef(name));
  if (existing && !force)
    throw new StrataError('ALREADY_EXISTS', `branch ${name} already exists`, { branch: name });
  repo.db.setRef(branchRef(name), commit, `branch: created from ${commit}`);
}

export function deleteBranch(repo: Repository, name: string): Hash {
  const h = readHead(repo);
  if (h.kind === 'branch' && h.branch === name) {
    throw new StrataError('BAD_INPUT', `cannot delete branch ${name}: it is checked out`, { branch: name });
  }
  const c = repo.db.getRef(branchRef(name));
  if (!c) throw new StrataError('NOT_FOUND', `branch ${name} not found`, { branch: name });
  repo.db.setRef(branchRef(name), undefined, 'branch: deleted');
  return c as Hash;
}

export function renameBranch(repo: Repository, from: string, to: string, force = false): void {
  checkRefName(to, 'branch');
  repo.db.transaction(() => {
    const c = repo.db.getRef(branchRef(from));
    if (!c) throw new StrataError('NOT_FOUND', `branch ${from} not found`, { branch: from });
    if (repo.db.getRef(branchRef(to)) && !force)
      throw new StrataError('ALREADY_EXISTS', `branch ${to} already exists`, { branch: to });
    repo.db.setRef(branchRef(to), c, `branch: renamed from ${from}`);
    repo.db.setRef(branchRef(from), undefined, `branch: renamed to ${to}`);
    const h = readHead(repo);
    if (h.kind === 'branch' && h.branch === from)
      setHeadToBranch(repo, to, `branch: renamed ${from} to ${to}`);
  });
}

export function createTag(repo: Repository, name: string, commit: Hash, force = false): void {
  checkRefName(name, 'tag');
  if (repo.db.getRef(tagRef(name)) && !force)
    throw new StrataError('ALREADY_EXISTS', `tag ${name} already exists`, { tag: name });
  repo.db.setRef(tagRef(name), commit, 'tag');
}

export function deleteTag(repo: Repository, name: string): void {
  if (!repo.db.getRef(tagRef(name)))
    throw new StrataError('NOT_FOUND', `tag ${name} not found`, { tag: name });
  repo.db.setRef(tagRef(name), undefined, 'tag: deleted');
}
