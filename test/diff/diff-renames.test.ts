// Rename detection in `strata diff`: a file removed at one path and added at another with the same content,
// or with at least half of its bytes in the same chunks, is diffed as one renamed file.
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, commit, diffRevisions, Repository, rm } from '../../src/core/index.js';
import type { DiffEvent, SummaryEvent } from '../../src/core/diff/index.js';
import { ok, tempDir } from '../core/helpers.js';

const rows = (n: number, tag: string, edit = -1): string =>
  Array.from(
    { length: n },
    (_, i) =>
      JSON.stringify({
        id: `${tag}${i}`,
        text: `${i === edit ? 'EDITED ' : ''}${tag} example ${i} ${'word '.repeat(i % 30)}`,
      }) + '\n',
  ).join('');

async function events(repo: Repository, a?: string, b?: string, renames = true): Promise<DiffEvent[]> {
  const out: DiffEvent[] = [];
  for await (const e of diffRevisions(repo, a, b, { renames })) out.push(e);
  return out;
}
const summaries = (evs: DiffEvent[]): SummaryEvent[] =>
  evs.filter((e): e is SummaryEvent => e.type === 'summary');
const brief = (evs: DiffEvent[]): unknown[] =>
  summaries(evs).map((s) => [s.renamedFrom ?? null, s.path, s.status, s.counts]);

async function setup(): Promise<{ dir: string; repo: Repository }> {
  const dir = tempDir('strata-renames-');
  const repo = Repository.init(dir);
  writeFileSync(join(dir, 'train.jsonl'), rows(3000, 'a'));
  writeFileSync(join(dir, 'test.jsonl'), rows(3000, 'b'));
  writeFileSync(join(dir, 'copy1.jsonl'), rows(500, 'c'));
  writeFileSync(join(dir, 'copy2.jsonl'), rows(500, 'c'));
  await add(repo, ['train.jsonl', 'test.jsonl', 'copy1.jsonl', 'copy2.jsonl']);
  await commit(repo, { message: 'v0' });
  return { dir, repo };
}

describe('rename detection', () => {
  it('pairs a moved file with its old path: unchanged, or diffed example by example when also edited', async () => {
    const { dir, repo } = await setup();
    try {
      mkdirSync(join(dir, 'data'));
      renameSync(join(dir, 'train.jsonl'), join(dir, 'data', 'train.jsonl'));
      // test.jsonl moved and 2 examples edited: most chunks stay the same.
      writeFileSync(
        join(dir, 'data', 'test.jsonl'),
        rows(3000, 'b', 10).replace('b example 2000', 'b example 2000 EDITED'),
      );
      unlinkSync(join(dir, 'test.jsonl'));
      // Two identical copies removed, one added elsewhere: one of them is the rename, the other removed.
      renameSync(join(dir, 'copy1.jsonl'), join(dir, 'data', 'copy.jsonl'));
      unlinkSync(join(dir, 'copy2.jsonl'));
      // Unstaged, in the working tree:
      const work = await events(repo);
      expect(brief(work)).toEqual(
        [
          ['copy1.jsonl', 'data/copy.jsonl', 'unchanged', { added: 0, removed: 0, modified: 0 }],
          ['test.jsonl', 'data/test.jsonl', 'modified', { added: 0, removed: 0, modified: 2 }],
          ['train.jsonl', 'data/train.jsonl', 'unchanged', { added: 0, removed: 0, modified: 0 }],
          [null, 'copy2.jsonl', 'removed', { added: 0, removed: 500, modified: 0 }],
        ].sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
      );
      const changes = work.filter((e) => e.type === 'change' && e.path === 'data/test.jsonl');
      expect(changes.every((e) => e.renamedFrom === 'test.jsonl')).toBe(true);
      // Committed: the same between revisions.
      await add(repo, ['data', 'train.jsonl', 'test.jsonl', 'copy1.jsonl', 'copy2.jsonl']);
      await commit(repo, { message: 'moved' });
      expect(brief(await events(repo, 'HEAD~1', 'HEAD'))).toEqual(brief(work));
      // Without rename detection: removed and added files.
      const plain = brief(await events(repo, 'HEAD~1', 'HEAD', false));
      expect(plain).toContainEqual([
        null,
        'data/train.jsonl',
        'added',
        { added: 3000, removed: 0, modified: 0 },
      ]);
      expect(plain).toContainEqual([
        null,
        'train.jsonl',
        'removed',
        { added: 0, removed: 3000, modified: 0 },
      ]);
    } finally {
      repo.close();
    }
  });

  it('does not pair files that share less than half their chunks, or of different formats', async () => {
    const { dir, repo } = await setup();
    try {
      // A new file that is a third train's examples and two thirds new ones; test.jsonl's bytes as a .txt.
      writeFileSync(join(dir, 'mixed.jsonl'), rows(1000, 'a') + rows(2000, 'z'));
      writeFileSync(join(dir, 'test.txt'), rows(3000, 'b'));
      await rm(repo, ['train.jsonl', 'test.jsonl']);
      await add(repo, ['mixed.jsonl', 'test.txt']);
      const evs = brief(await events(repo));
      expect(evs).toContainEqual([null, 'mixed.jsonl', 'added', { added: 3000, removed: 0, modified: 0 }]);
      expect(evs).toContainEqual([null, 'train.jsonl', 'removed', { added: 0, removed: 3000, modified: 0 }]);
      expect(evs).toContainEqual([null, 'test.txt', 'added', { added: 3000, removed: 0, modified: 0 }]);
    } finally {
      repo.close();
    }
  });

  it('strata diff --stat names a rename old → new; --name-only the new path; --no-renames turns it off', async () => {
    const { dir, repo } = await setup();
    repo.close();
    renameSync(join(dir, 'train.jsonl'), join(dir, 'train-v1.jsonl'));
    expect(ok(dir, ['diff', '--stat'])).toMatch(
      /^ train\.jsonl → train-v1\.jsonl \| \+0 -0 ~0 \| (\d+\.\d kB) → \1\n 1 file changed, 0 added, 0 removed, 0 modified\n$/,
    );
    expect(ok(dir, ['diff', '--name-only'])).toBe('train-v1.jsonl\n');
    expect(ok(dir, ['diff', '--stat', '--no-renames'])).toContain(' train.jsonl    | +0 -3000 ~0 ');
  });
});
