// `strata log --example KEY -- PATH`: the commits that added, removed or changed one example, and how.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, commit, isStrataError, Repository } from '../../src/core/index.js';
import { exampleLog, keyMatcher } from '../../src/core/example-log.js';
import { ok, tempDir } from './helpers.js';

type Row = { id: number; question: string; answer: string };
const rows = (rs: Row[]): string => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';
const base = (): Row[] =>
  Array.from({ length: 300 }, (_, i) => ({
    id: i,
    question: `q${i} ${'w '.repeat(i % 40)}`,
    answer: `${i}`,
  }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** v0 .. v4: 7's answer edited (v1), 9 edited (v2), 7 deleted (v3), 7 back (v4); notes.txt in v2. */
async function history(): Promise<{ dir: string; repo: Repository; commits: string[] }> {
  const dir = tempDir();
  const repo = Repository.init(dir);
  writeFileSync(join(dir, '.strataattributes'), 'data/*.jsonl format=jsonl key=id\n');
  const data = join(dir, 'data');
  const rs = base();
  const commits: string[] = [];
  const save = async (message: string, list: Row[], extra: string[] = []): Promise<void> => {
    writeFileSync(join(data, 'train.jsonl'), rows(list));
    await add(repo, ['.strataattributes', 'data/train.jsonl', ...extra]);
    commits.push((await commit(repo, { message })).commit);
  };
  mkdirSync(data);
  await save('v0', rs);
  rs[7] = { ...rs[7]!, answer: 'seven' };
  await save('v1: fix 7', rs);
  rs[9] = { ...rs[9]!, question: 'nine?' };
  writeFileSync(join(dir, 'notes.txt'), 'n\n');
  await save('v2: fix 9', rs, ['notes.txt']);
  const seven = rs.splice(7, 1)[0]!;
  await save('v3: drop 7', rs);
  rs.push(seven);
  await save('v4: 7 back', rs);
  return { dir, repo, commits };
}

describe('example history', () => {
  it('lists the commits that added, removed or changed the example, newest first, with the fields', async () => {
    const { repo, commits } = await history();
    try {
      const seven = await collect(exampleLog(repo, 'HEAD', 'data/train.jsonl', '7'));
      expect(seven.map((e) => [e.commit.hash, e.change.kind])).toEqual([
        [commits[4], 'added'],
        [commits[3], 'removed'],
        [commits[1], 'modified'],
        [commits[0], 'added'],
      ]);
      expect(seven[2]!.change.fields?.map((f) => [f.path, f.before, f.after])).toEqual([
        ['answer', '7', 'seven'],
      ]);
      const nine = await collect(exampleLog(repo, 'HEAD', 'data/train.jsonl', '9'));
      expect(nine.map((e) => e.commit.hash)).toEqual([commits[2], commits[0]]);
      expect(nine[0]!.change.fields?.map((f) => f.path)).toEqual(['question']);
      // A limit, a start revision, a directory, a key field named explicitly, and an example never changed.
      expect((await collect(exampleLog(repo, 'HEAD', 'data/train.jsonl', '7', { limit: 1 }))).length).toBe(1);
      expect((await collect(exampleLog(repo, commits[2]!, 'data/train.jsonl', '7'))).length).toBe(2);
      expect((await collect(exampleLog(repo, 'HEAD', 'data', '9'))).length).toBe(2);
      expect(
        (
          await collect(exampleLog(repo, 'HEAD', 'data/train.jsonl', 'nine?', { keyFields: ['question'] }))
        ).map((e) => e.change.kind),
      ).toEqual(['added']);
      expect(await collect(exampleLog(repo, 'HEAD', 'data/train.jsonl', '100'))).toHaveLength(1);
      expect(await collect(exampleLog(repo, 'HEAD', 'data/train.jsonl', '1000'))).toEqual([]);
      // A file without a key: say how to name one.
      await expect(collect(exampleLog(repo, 'HEAD', 'notes.txt', '1'))).rejects.toSatisfy((e) =>
        isStrataError(e, 'BAD_INPUT'),
      );
    } finally {
      repo.close();
    }
  });

  it('matches keys given as JSON or as a bare word', () => {
    expect(keyMatcher('17')(17)).toBe(true);
    expect(keyMatcher('17')('17')).toBe(true);
    expect(keyMatcher('"17"')('17')).toBe(true);
    expect(keyMatcher('"17"')(17)).toBe(false);
    expect(keyMatcher('q-17')('q-17')).toBe(true);
    expect(keyMatcher('[3,"en"]')([3, 'en'])).toBe(true);
    expect(keyMatcher('[3,"en"]')([3, 'fr'])).toBe(false);
    expect(keyMatcher('18')(17)).toBe(false);
  });

  it('strata log --example prints each commit with the change', async () => {
    const { dir, repo, commits } = await history();
    repo.close();
    const out = ok(dir, ['log', '--oneline', '--example', '9', '--', 'data/train.jsonl']);
    expect(out).toContain(`${commits[2]!.slice(0, 12)} v2: fix 9`);
    expect(out).toContain('~ question: ');
    expect(out.split('\n').filter((l) => /^[0-9a-f]{12} /.test(l))).toHaveLength(2);
  });
});
