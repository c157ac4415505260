/**
 * The naive baseline for strata's diff (issue 3): a line-by-line diff of the same two version files, run
 * right after strata diffs the pair (same run, same page-cache state).
 *
 *   GNU diff   `diff --unchanged-line-format= --old-line-format=< --new-line-format=> A B`: the same
 *              algorithm and the same count as `diff A B | grep -c '^[<>]'`, but one byte of output per
 *              changed line, so that piping ~2 GiB of changed lines (the shuffle) into the bench does not
 *              inflate its time. Counts: lines removed (<) and added (>).
 *   git        `git diff --no-index --numstat A B` (the counting behind `--stat`; numstat is parseable).
 *              core.bigFileThreshold is raised above the file sizes: at its default (512 MiB) git calls a
 *              1 GiB file binary and diffs nothing. xdiff still refuses a file of 1 GiB or more ("unable to
 *              generate diffstat", after ~30 s here): recorded as that pair's error.
 *
 * A line diff reports lines, not examples: an edited example is one line removed and one added, a shuffle
 * is every line moved; it knows no keys, no key order within an object and no fields.
 */
import type { CommandResult } from '../lib/exec.js';
import type { LineDiff } from '../lib/results.js';
import { runner, type BenchContext } from './common.js';

export const LINE_DIFF_TIMEOUT_MS = 900_000;

/** Counts '<' (removed) and '>' (added) in GNU diff's output with the one-byte line formats. */
export function countLineMarks(stdout: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (let i = 0; i < stdout.length; i++) {
    const c = stdout.charCodeAt(i);
    if (c === 62) added++;
    else if (c === 60) removed++;
  }
  return { added, removed };
}

/** `git diff --numstat` → {added, removed} summed over its lines; null for a binary ("-\t-") or no line. */
export function parseNumstat(stdout: string): { added: number; removed: number } | null {
  let found = false;
  let added = 0;
  let removed = 0;
  for (const line of stdout.split('\n')) {
    const m = /^(\d+|-)\t(\d+|-)\t/.exec(line);
    if (!m) continue;
    if (m[1] === '-' || m[2] === '-') return null;
    found = true;
    added += Number(m[1]);
    removed += Number(m[2]);
  }
  return found ? { added, removed } : null;
}

function result(tool: LineDiff['tool'], r: CommandResult, counts: LineDiff['lines'] | null): LineDiff {
  // diff and git diff exit 1 when the files differ: that is an answer, not an error.
  const error = r.ok
    ? counts
      ? undefined
      : `no counts in the output: ${r.stdout.slice(0, 120)}`
    : (r.error ?? `exit ${r.exitCode}`);
  return {
    tool,
    seconds: r.seconds,
    maxRssKiB: r.maxRssKiB,
    userSeconds: r.userSeconds ?? null,
    lines: counts,
    ...(error !== undefined ? { error } : {}),
  };
}

/** GNU diff and git diff --no-index of two files; failures (a missing tool, a timeout) are recorded. */
export async function lineDiffs(
  ctx: BenchContext,
  a: string,
  b: string,
  tools: LineDiff['tool'][] = ['diff', 'git'],
): Promise<LineDiff[]> {
  // A baseline is not worth an hour: GNU diff of a 1 GiB shuffle is quadratic-ish (its cost cap aside).
  const run = runner({ ...ctx, timeoutMs: Math.min(ctx.timeoutMs, LINE_DIFF_TIMEOUT_MS) }, ctx.dataDir);
  const out: LineDiff[] = [];
  for (const tool of tools) {
    if (tool === 'diff') {
      const r = await run(
        'diff',
        ['--unchanged-line-format=', '--old-line-format=<', '--new-line-format=>', a, b],
        [0, 1],
      );
      out.push(result('diff', r, r.ok ? countLineMarks(r.stdout) : null));
    } else {
      const r = await run(
        'git',
        ['-c', 'core.bigFileThreshold=64g', 'diff', '--no-index', '--no-color', '--numstat', a, b],
        [0, 1],
      );
      out.push(result('git', r, r.ok ? parseNumstat(r.stdout) : null));
    }
  }
  return out;
}
