/**
 * `revert`: a new commit that undoes an earlier one, keeping everything committed since: the three-way merge
 * (merge.ts `threeWay`) of the commit's parent into HEAD against the commit itself (cherry-pick.ts applies it).
 * Keyed JSONL, CSV and TSV files are undone example by example: reverting a relabelling commit gives those examples their
 * old labels back and keeps every later change to other examples; an example changed again since conflicts.
 */
import type { Repository } from './repository.js';
import { applyChange, type ApplyOptions, type ApplyResult } from './cherry-pick.js';

export function revert(
  repo: Repository,
  rev: string,
  opts: ApplyOptions & { message?: string } = {},
): Promise<ApplyResult> {
  return applyChange(
    repo,
    rev,
    'revert',
    opts,
    (c) => opts.message ?? `Revert "${c.message.split('\n')[0]}"\n\nThis reverts commit ${c.hash}.`,
  );
}
