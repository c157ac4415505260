/**
 * `commit`: the staged index becomes a tree and a commit. Ordering: every object is fsynced in its pack
 * and its index row committed before the ref moves, so a crash at any moment leaves the previous commit
 * or the new one, never a ref to missing data.
 */
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import type { Commit, Identity } from './objects/objects.js';
import { codeProvenance } from './provenance.js';
import { advanceHead, readHead } from './refs.js';
import type { Repository } from './repository.js';
import { add, type Progress } from './stage.js';
import { buildTree } from './tree-builder.js';

export interface CommitOptions {
  message: string;
  /** Stage modifications and deletions of tracked files first (`-a`). */
  all?: boolean;
  allowEmpty?: boolean;
  author?: Identity;
  /** Seconds since the epoch (default: now). */
  time?: number;
  /** The parents (default: HEAD); a merge passes HEAD and the commit it merges. */
  parents?: Hash[];
  /** Extra provenance (the command line, a transform's inputs ...). */
  meta?: Record<string, unknown>;
  progress?: Progress;
}

export interface CommitResult {
  commit: Hash;
  tree: Hash;
  parents: Hash[];
  branch: string | null;
}

export async function commit(repo: Repository, opts: CommitOptions): Promise<CommitResult> {
  if (!opts.message.trim()) throw new StrataError('BAD_INPUT', 'empty commit message', {});
  return repo.withLock(async () => {
    if (opts.all) {
      const tracked = repo.db.indexEntries().map((e) => e.path);
      if (tracked.length) await add(repo, tracked, opts.progress);
    }
    const head = readHead(repo);
    const parents = opts.parents ?? (head.commit ? [head.commit] : []);
    if (opts.parents && opts.parents[0] !== head.commit) {
      throw new StrataError('CONFLICT', 'the first parent of a commit must be HEAD', { head: head.commit });
    }
    const tree = buildTree(
      repo.objects,
      repo.db.indexEntries().map((e) => [e.path, { hash: e.manifest as Hash, size: e.size }]),
    ).hash;
    if (!opts.allowEmpty && head.commit && repo.objects.commit(head.commit).tree === tree) {
      throw new StrataError(
        'NOTHING_TO_COMMIT',
        'nothing to commit: the index matches HEAD (stage changes with "strata add", or commit -a for tracked files)',
        {},
      );
    }
    if (!opts.allowEmpty && !head.commit && repo.db.indexEntries().length === 0) {
      throw new StrataError(
        'NOTHING_TO_COMMIT',
        'nothing to commit: no file is tracked yet (create or copy files and use "strata add" to track them)',
        {},
      );
    }
    const { identity } = await import('./identity.js'); // child_process, os: not for a no-op commit
    const now = new Date();
    const provenance = await codeProvenance(repo.root);
    const c: Commit = {
      type: 'commit/v1',
      tree,
      parents,
      author: opts.author ?? identity(repo),
      time: opts.time ?? Math.floor(now.getTime() / 1000),
      tz: -now.getTimezoneOffset(),
      message: opts.message,
      meta: { ...(provenance ? { code: provenance } : {}), ...(opts.meta ?? {}) },
    };
    const hash = repo.objects.put(c);
    repo.objects.flush();
    repo.db.recordCommit(hash, tree, c.time, parents);
    advanceHead(repo, hash, `commit: ${opts.message.split('\n')[0]}`, head.commit ?? null);
    return { commit: hash, tree, parents, branch: head.kind === 'branch' ? head.branch : null };
  });
}
