// `strata revert` and `strata cherry-pick`: one commit's changes undone or applied as a new one-parent
// commit, through the three-way merge (keyed JSONL files example by example).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  add,
  commit,
  isStrataError,
  lsTree,
  merge,
  Repository,
  resolveCommit,
  restore,
  revert,
  switchTo,
} from '../../src/core/index.js';
import { ok, strata, tempDir } from './helpers.js';

const rows = (rs: object[]): string => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';
const labels = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(join(dir, 'data.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; label: string })
      .map((r) => [r.id, r.label]),
  );
const setLabels = (dir: string, l: Record<number, string>): void =>
  writeFileSync(
    join(dir, 'data.jsonl'),
    rows(Object.entries(l).map(([id, label]) => ({ id: Number(id), label }))),
  );
const head = (dir: string): string => ok(dir, ['rev-parse', 'HEAD']).trim();
const headFiles = (repo: Repository): string[] =>
  lsTree(repo, repo.objects.commit(resolveCommit(repo, 'HEAD')).tree, '', true).map((e) => e.path);
/** The code a promise fails with (undefined: it did not fail). */
const code = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (isStrataError(e) ? e.code : String(e)),
  );
const errorCode = (r: { stderr: string }): string | undefined => /\[([A-Z_]+)\]/.exec(r.stderr)?.[1];

/** v0: five labelled examples and a CSV; then a bad relabelling of 2 and 4; then more work on 5 and 6. */
function history(): { dir: string; relabel: string } {
  const dir = tempDir();
  ok(dir, ['init']);
  writeFileSync(join(dir, '.strataattributes'), '*.jsonl format=jsonl key=id\n');
  setLabels(dir, { 1: 'a', 2: 'b', 3: 'c', 4: 'd', 5: 'e' });
  writeFileSync(join(dir, 't.csv'), 'x,y\n1,2\n');
  ok(dir, ['add', '.']);
  ok(dir, ['commit', '-m', 'v0']);
  setLabels(dir, { 1: 'a', 2: 'BAD', 3: 'c', 4: 'BAD', 5: 'e' });
  ok(dir, ['commit', '-a', '-m', 'relabel']);
  const relabel = head(dir);
  setLabels(dir, { 1: 'a', 2: 'BAD', 3: 'c', 4: 'BAD', 5: 'E', 6: 'f' });
  ok(dir, ['commit', '-a', '-m', 'more']);
  return { dir, relabel };
}

describe('strata revert', () => {
  it('undoes one commit example by example, keeping what was committed since, as a one-parent commit', () => {
    const { dir, relabel } = history();
    const before = head(dir);
    const r = JSON.parse(ok(dir, ['revert', relabel, '--json'])) as {
      commit: string;
      applied: string;
      exampleMerges: { path: string; fromTheirs: number; fromOurs: number }[];
    };
    expect(r.applied).toBe(relabel);
    expect(r.exampleMerges).toEqual([{ path: 'data.jsonl', fromTheirs: 2, fromOurs: 2 }]);
    expect(labels(dir)).toEqual({ 1: 'a', 2: 'b', 3: 'c', 4: 'd', 5: 'E', 6: 'f' });
    const c = JSON.parse(ok(dir, ['show', '--json', 'HEAD'])) as { parents: string[]; message: string };
    expect(c.parents).toEqual([before]);
    expect(c.message).toBe(`Revert "relabel"\n\nThis reverts commit ${relabel}.`);
    expect(ok(dir, ['status', '--short'])).toBe('');
    // Already undone: nothing to revert, nothing changed.
    const again = strata(dir, ['revert', relabel]);
    expect(errorCode(again)).toBe('NOTHING_TO_COMMIT');
    expect(head(dir)).toBe(r.commit);
  });

  it('an example changed again since conflicts and changes nothing; -X settles it for either side', () => {
    const { dir, relabel } = history();
    setLabels(dir, { 1: 'a', 2: 'REDONE', 3: 'c', 4: 'BAD', 5: 'E', 6: 'f' });
    ok(dir, ['commit', '-a', '-m', 'redo 2']);
    const before = head(dir);
    const r = strata(dir, ['revert', relabel]);
    expect(errorCode(r)).toBe('CONFLICT');
    expect(r.stdout).toContain('CONFLICT data.jsonl key 2');
    expect(head(dir)).toBe(before);
    expect(labels(dir)[2]).toBe('REDONE');
    ok(dir, ['revert', relabel, '-X', 'ours']);
    expect(labels(dir)).toEqual({ 1: 'a', 2: 'REDONE', 3: 'c', 4: 'd', 5: 'E', 6: 'f' });
    ok(dir, ['reset', '--hard', before]);
    ok(dir, ['revert', relabel, '-X', 'theirs']);
    expect(labels(dir)).toEqual({ 1: 'a', 2: 'b', 3: 'c', 4: 'd', 5: 'E', 6: 'f' });
  });

  it('reverts a root commit (its files go), refuses a dirty tree and a merge commit without --mainline', async () => {
    const { dir } = history();
    const repo = Repository.open(dir);
    try {
      const root = resolveCommit(repo, 'HEAD~2');
      writeFileSync(join(dir, 't.csv'), 'x,y\n9,9\n');
      expect(await code(revert(repo, root))).toBe('DIRTY_WORKTREE');
      await restore(repo, ['t.csv']);
      // The root commit added every file; data.jsonl changed since (a conflict), the others did not (removed).
      expect(await code(revert(repo, root))).toBe('CONFLICT');
      await revert(repo, root, { favor: 'theirs' });
      expect(headFiles(repo)).toEqual([]);
    } finally {
      repo.close();
    }
    // A merge commit: which parent's changes?
    const m = tempDir();
    const r = Repository.init(m);
    try {
      const file = async (name: string): Promise<void> => {
        writeFileSync(join(m, name), `${name}\n`);
        await add(r, [name]);
        await commit(r, { message: name });
      };
      await file('a.txt');
      await switchTo(r, 'side', { create: true });
      await file('b.txt');
      await switchTo(r, 'main');
      await file('c.txt');
      await merge(r, 'side');
      expect(await code(revert(r, 'HEAD'))).toBe('BAD_INPUT');
      expect(await code(revert(r, 'HEAD', { mainline: 3 }))).toBe('BAD_INPUT');
      expect(await code(revert(r, 'HEAD~1', { mainline: 1 }))).toBe('BAD_INPUT');
      await revert(r, 'HEAD', { mainline: 1 }); // undo what the merge brought in from side
      expect(headFiles(r)).toEqual(['a.txt', 'c.txt']);
    } finally {
      r.close();
    }
  });
});

describe('strata cherry-pick', () => {
  it("applies only that commit's changes to another branch, with its message and author (-x: its origin)", () => {
    const { dir, relabel } = history();
    // A fix on main of example 3 only.
    setLabels(dir, { 1: 'a', 2: 'BAD', 3: 'C!', 4: 'BAD', 5: 'E', 6: 'f' });
    ok(dir, ['commit', '-a', '-m', 'fix 3']);
    const fix = head(dir);
    ok(dir, ['switch', '-c', 'release', `${relabel}~1`]);
    const r = JSON.parse(ok(dir, ['cherry-pick', '-x', 'main', '--json'])) as { applied: string };
    expect(r.applied).toBe(fix);
    expect(labels(dir)).toEqual({ 1: 'a', 2: 'b', 3: 'C!', 4: 'd', 5: 'e' });
    const c = JSON.parse(ok(dir, ['show', '--json', 'HEAD'])) as { message: string; parents: string[] };
    expect(c.message).toBe(`fix 3\n\n(cherry picked from commit ${fix})`);
    expect(c.parents).toEqual([ok(dir, ['rev-parse', `${relabel}~1`]).trim()]);
    // Picking it again: already there.
    expect(errorCode(strata(dir, ['cherry-pick', fix]))).toBe('NOTHING_TO_COMMIT');
  });
});
