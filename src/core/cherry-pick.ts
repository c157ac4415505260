/**
 * `cherry-pick`: applies one commit's changes onto the current branch as a new commit with one parent: the
 * three-way merge (merge.ts `threeWay`) of the commit into HEAD against the commit's parent. `revert`
 * (revert.ts) applies the inverse the same way. Keyed JSONL, CSV and TSV files take the changes example by example, so
 * picking a fix of a few examples onto another branch changes those examples and nothing else there.
 * Conflicts change nothing and are listed (CONFLICT); `favor` (-X ours|theirs) settles them.
 */
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import { commit } from './commit.js';
import { threeWay, writeMerged, type MergeResult } from './merge.js';
import type { Repository } from './repository.js';
import { readHead } from './refs.js';
import { resolveCommit } from './rev-parse.js';
import { isClean, status } from './status.js';

export interface ApplyOptions {
  /** For a merge commit: the parent (1-based, as git's -m) whose side its changes are taken against. */
  mainline?: number;
  /** Key field(s) for example-level merging (default: each file's key= attribute). */
  key?: string[];
  /** Settle conflicts for this side: 'ours' keeps HEAD's version, 'theirs' takes the applied change. */
  favor?: 'ours' | 'theirs';
  /** Extra provenance recorded in the new commit (the command line). */
  meta?: Record<string, unknown>;
}

export interface ApplyResult {
  /** The new commit. */
  commit: Hash;
  /** The commit whose changes (or their inverse) were applied. */
  applied: Hash;
  /** Files whose content changed. */
  updated: string[];
  exampleMerges: MergeResult['exampleMerges'];
  resolved: MergeResult['resolved'];
}

/**
 * Applies commit `rev`'s change onto HEAD and commits it with `message`: cherry-pick takes the change from its
 * parent to it (for a merge commit, the `mainline` parent; for a root commit, the empty tree), revert the
 * change from it back to that parent.
 */
export async function applyChange(
  repo: Repository,
  rev: string,
  kind: 'cherry-pick' | 'revert',
  opts: ApplyOptions,
  message: (c: { hash: Hash; message: string }) => string,
): Promise<ApplyResult> {
  return repo.withLock(async () => {
    const head = readHead(repo).commit;
    if (!head)
      throw new StrataError('BAD_INPUT', `nothing to ${kind} onto: the current branch has no commits`, {});
    const hash = resolveCommit(repo, rev);
    const c = repo.objects.commit(hash);
    let parent: Hash | null;
    if (c.parents.length > 1) {
      const m = opts.mainline;
      if (m === undefined)
        throw new StrataError(
          'BAD_INPUT',
          `${rev} is a merge commit: name the parent its changes are taken against with --mainline N (1..${c.parents.length})`,
          { rev, parents: c.parents },
        );
      if (!Number.isInteger(m) || m < 1 || m > c.parents.length)
        throw new StrataError('BAD_INPUT', `--mainline ${m}: ${rev} has parents 1..${c.parents.length}`, {
          rev,
          mainline: m,
        });
      parent = c.parents[m - 1]!;
    } else {
      if (opts.mainline !== undefined)
        throw new StrataError('BAD_INPUT', `--mainline given but ${rev} is not a merge commit`, { rev });
      parent = c.parents[0] ?? null;
    }
    if (!isClean(await status(repo)))
      throw new StrataError('DIRTY_WORKTREE', `commit or discard your changes before ${kind}`, {});
    const [base, theirs] = kind === 'cherry-pick' ? [parent, hash] : [hash, parent];
    const r = await threeWay(repo, base, head, theirs, opts);
    if (r.conflicts.length)
      throw new StrataError(
        'CONFLICT',
        `${kind} of ${rev} has ${r.conflicts.length} conflict(s); nothing was changed`,
        { conflicts: r.conflicts },
      );
    if (r.writes.length === 0)
      throw new StrataError(
        'NOTHING_TO_COMMIT',
        kind === 'cherry-pick'
          ? `the changes of ${rev} are already in HEAD: nothing to cherry-pick`
          : `the changes of ${rev} are not in HEAD: nothing to revert`,
        { rev },
      );
    await writeMerged(repo, r.writes);
    const done = await commit(repo, {
      message: message({ hash, message: c.message }),
      ...(kind === 'cherry-pick' ? { author: c.author } : {}),
      ...(opts.meta ? { meta: opts.meta } : {}),
    });
    return {
      commit: done.commit,
      applied: hash,
      updated: r.writes.map((w) => w.path),
      exampleMerges: r.exampleMerges,
      resolved: r.resolved,
    };
  });
}

/**
 * Applies commit `rev`'s changes onto the current branch as a new commit (its message and author; with
 * `recordOrigin`, as git's -x, a line naming the commit it came from).
 */
export function cherryPick(
  repo: Repository,
  rev: string,
  opts: ApplyOptions & { recordOrigin?: boolean } = {},
): Promise<ApplyResult> {
  return applyChange(repo, rev, 'cherry-pick', opts, (c) =>
    opts.recordOrigin
      ? `${c.message.replace(/\n+$/, '')}\n\n(cherry picked from commit ${c.hash})`
      : c.message,
  );
}
