/**
 * Shared plumbing for commands: the working directory (-C), opening the repository, path conversion.
 * Core modules are imported by the actions that use them (`await import(...)`), never at the top of a
 * command file: a command pays only for what it runs (test/cli/startup.test.ts checks `status`).
 */
import { StrataError } from '../core/errors.js';
import type { OnDemandEvent } from '../core/partial.js';
import type { Repository } from '../core/repository.js';
import { toRepoPath } from '../core/worktree/paths.js';
import { Output } from './output.js';

export interface GlobalOpts {
  C?: string;
}

export const cwdOf = (g: GlobalOpts): string => g.C ?? process.cwd();

/** What a command tells its user when a partial clone downloaded data on demand (core/partial.ts). */
export const onDemandNote = (e: OnDemandEvent): void => {
  process.stderr.write(
    `strata: downloaded ${e.objects} object(s), ${(e.bytes / 1048576).toFixed(1)} MiB, from remote '${e.remote}' (this repository is a partial clone: data comes as needed)\n`,
  );
};

export async function withRepo<T>(g: GlobalOpts, fn: (repo: Repository) => Promise<T> | T): Promise<T> {
  const { Repository } = await import('../core/repository.js');
  const repo = Repository.open(cwdOf(g));
  repo.onDemand = onDemandNote;
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

/**
 * A command's operands split at `--` into revisions and paths (`diff A B -- PATHS`, `log REV -- PATHS`):
 * commander folds the operands after `--` into the same list, so they are counted from process.argv.
 */
export function revisionsAndPaths(args: readonly string[]): { revs: string[]; paths: string[] } {
  const dash = process.argv.indexOf('--');
  const nPaths = dash >= 0 ? process.argv.length - dash - 1 : 0;
  return { revs: args.slice(0, args.length - nPaths), paths: args.slice(args.length - nPaths) };
}

/** The two ends of git's range `A..B` (an empty side is HEAD); undefined for anything else (`A...B` too). */
export function rangeEnds(rev: string): [string, string] | undefined {
  const dots = rev.indexOf('..');
  if (dots < 0 || rev.includes('...')) return undefined;
  return [rev.slice(0, dots) || 'HEAD', rev.slice(dots + 2) || 'HEAD'];
}

/** User paths (relative to cwd) → repository paths; '.' at the root is ''. */
export const repoPaths = (repo: Repository, g: GlobalOpts, paths: string[]): string[] =>
  paths.map((p) => toRepoPath(repo.root, cwdOf(g), p));

export const output = (opts: { json?: boolean }): Output => new Output(!!opts.json);

/** The parser of a count option (`-n N`, `--limit N`): a non-negative integer, else BAD_INPUT naming it. */
export const countOption =
  (what: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
      throw new StrataError('BAD_INPUT', `${what} ${v}: expected a non-negative integer`, { value: v });
    return n;
  };

export const short = (h: string | null | undefined): string => (h ? h.slice(0, 12) : '(none)');
