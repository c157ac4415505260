// `strata log [REV] -- PATHS`: only the commits that changed something under the paths, as `git log -- PATHS`
// does (a merge that took the paths from one parent unchanged is not listed).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, strata, tempDir } from './helpers.js';

/** The subjects of `log --oneline`, sorted: commits made within one second have equal times, and log orders
 * by time (as git does), so the order among them is not the point here. */
const subjects = (out: string): string[] =>
  out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(13))
    .sort();

describe('log -- PATHS', () => {
  it('lists the commits that changed a file or anything under a directory, through merges', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'a.jsonl'), '{"id":1,"t":"a"}\n{"id":2,"t":"b"}\n');
    writeFileSync(join(dir, 'notes.txt'), 'v0\n');
    writeFileSync(join(dir, '.strataattributes'), 'data/*.jsonl format=jsonl key=id\n');
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'base']);
    ok(dir, ['switch', '-c', 'feat']);
    writeFileSync(join(dir, 'data', 'b.csv'), 'x\n1\n');
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'feat adds b.csv']);
    ok(dir, ['switch', 'main']);
    writeFileSync(join(dir, 'notes.txt'), 'v1\n');
    ok(dir, ['commit', '-a', '-m', 'notes only']);
    writeFileSync(join(dir, 'data', 'a.jsonl'), '{"id":1,"t":"A"}\n{"id":2,"t":"b"}\n');
    ok(dir, ['commit', '-a', '-m', 'main edits a']);
    ok(dir, ['merge', 'feat', '-m', 'merge feat']);
    ok(dir, ['rm', 'data/b.csv']);
    ok(dir, ['commit', '-m', 'drop b.csv']);

    expect(subjects(ok(dir, ['log', '--oneline']))).toEqual([
      'base',
      'drop b.csv',
      'feat adds b.csv',
      'main edits a',
      'merge feat',
      'notes only',
    ]);
    // A file: created, edited; the merge took it from main unchanged.
    expect(subjects(ok(dir, ['log', '--oneline', '--', 'data/a.jsonl']))).toEqual(['base', 'main edits a']);
    // A file added on a branch and deleted after the merge (which took it from feat: not listed).
    expect(subjects(ok(dir, ['log', '--oneline', '--', 'data/b.csv']))).toEqual([
      'drop b.csv',
      'feat adds b.csv',
    ]);
    // A directory, from inside it (paths are relative to the current directory), and a revision.
    expect(subjects(ok(join(dir, 'data'), ['log', '--oneline', '--', '.']))).toEqual([
      'base',
      'drop b.csv',
      'feat adds b.csv',
      'main edits a',
      'merge feat',
    ]);
    expect(subjects(ok(dir, ['log', '--oneline', 'feat', '--', 'notes.txt']))).toEqual(['base']);
    expect(subjects(ok(dir, ['log', '--oneline', '-n', '1', '--', 'notes.txt', 'data/b.csv']))).toEqual([
      'drop b.csv',
    ]);
    // A path no commit has: nothing; two revisions: refused.
    expect(ok(dir, ['log', '--', 'nope.jsonl'])).toBe('');
    expect(strata(dir, ['log', 'main', 'feat']).code).toBe(2);
    // Ranges, as git: A..B (B's commits that A lacks; an empty side is HEAD), ^A; A...B is refused.
    expect(subjects(ok(dir, ['log', '--oneline', 'feat..main']))).toEqual([
      'drop b.csv',
      'main edits a',
      'merge feat',
      'notes only',
    ]);
    expect(subjects(ok(dir, ['log', '--oneline', 'main..feat']))).toEqual([]);
    // (HEAD~2 is main's 'main edits a': the merge brought feat's commit, which it lacks.)
    expect(subjects(ok(dir, ['log', '--oneline', 'HEAD~2..']))).toEqual([
      'drop b.csv',
      'feat adds b.csv',
      'merge feat',
    ]);
    expect(subjects(ok(dir, ['log', '--oneline', 'main', '^feat', '--', 'data/a.jsonl']))).toEqual([
      'main edits a',
    ]);
    expect(subjects(ok(dir, ['log', '--oneline', '^HEAD~1']))).toEqual(['drop b.csv']);
    expect(strata(dir, ['log', 'main...feat']).code).toBe(2);
    // diff takes A..B as A B.
    expect(ok(dir, ['diff', 'HEAD~1..HEAD', '--stat'])).toBe(ok(dir, ['diff', 'HEAD~1', 'HEAD', '--stat']));
  });
});
