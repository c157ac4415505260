import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  add,
  commit,
  isClean,
  isStrataError,
  merge,
  Repository,
  status,
  switchTo,
} from '../../src/core/index.js';
import { ok, strata, tempDir } from './helpers.js';

const rows = (rs: object[]): string => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';
const read = (dir: string, p: string): Record<string, unknown>[] =>
  readFileSync(join(dir, p), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

function setup(): string {
  const dir = tempDir();
  ok(dir, ['init']);
  writeFileSync(join(dir, '.strataattributes'), '*.jsonl format=jsonl key=id\n');
  writeFileSync(join(dir, 'data.jsonl'), rows([1, 2, 3, 4].map((id) => ({ id, text: `t${id}` }))));
  writeFileSync(join(dir, 'notes.txt'), 'base\n');
  ok(dir, ['add', '.']);
  ok(dir, ['commit', '-m', 'base']);
  return dir;
}

describe('strata merge', () => {
  it('fast-forwards, and says when already up to date', () => {
    const dir = setup();
    ok(dir, ['switch', '-c', 'feature']);
    writeFileSync(join(dir, 'notes.txt'), 'feature\n');
    ok(dir, ['commit', '-a', '-m', 'f']);
    ok(dir, ['switch', 'main']);
    expect(JSON.parse(ok(dir, ['merge', 'feature', '--json'])).status).toBe('fast-forward');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('feature\n');
    expect(ok(dir, ['rev-parse', 'main']).trim()).toBe(ok(dir, ['rev-parse', 'feature']).trim());
    expect(JSON.parse(ok(dir, ['merge', 'feature', '--json'])).status).toBe('up-to-date');
  });

  it('combines disjoint example changes of a keyed JSONL file into a two-parent commit', () => {
    const dir = setup();
    ok(dir, ['switch', '-c', 'theirs']);
    writeFileSync(
      join(dir, 'data.jsonl'),
      rows([
        { id: 1, text: 'T1' },
        { id: 2, text: 't2' },
        { id: 3, text: 't3' },
        { id: 4, text: 't4' },
        { id: 6, text: 't6' },
      ]),
    );
    ok(dir, ['commit', '-a', '-m', 'theirs edits 1, adds 6']);
    ok(dir, ['switch', 'main']);
    writeFileSync(
      join(dir, 'data.jsonl'),
      rows([
        { id: 1, text: 't1' },
        { id: 2, text: 't2' },
        { text: 'O3', id: 3 },
        { id: 5, text: 't5' },
      ]),
    );
    writeFileSync(join(dir, 'notes.txt'), 'ours\n');
    ok(dir, ['commit', '-a', '-m', 'ours edits 3, deletes 4, adds 5']);
    const r = JSON.parse(ok(dir, ['merge', 'theirs', '--json']));
    expect(r.status).toBe('merged');
    expect(read(dir, 'data.jsonl')).toEqual([
      { id: 1, text: 'T1' },
      { id: 2, text: 't2' },
      { text: 'O3', id: 3 },
      { id: 5, text: 't5' },
      { id: 6, text: 't6' },
    ]);
    const head = JSON.parse(ok(dir, ['show', '--json']));
    expect(head.parents).toHaveLength(2);
    expect(JSON.parse(ok(dir, ['status', '--json'])).unstaged).toEqual([]);
    expect(JSON.parse(ok(dir, ['fsck', '--json'])).problems).toEqual([]);
  });

  it('lists an example changed differently on both sides with both versions, and changes nothing', () => {
    const dir = setup();
    ok(dir, ['switch', '-c', 'theirs']);
    writeFileSync(
      join(dir, 'data.jsonl'),
      rows([1, 2, 3, 4].map((id) => ({ id, text: id === 2 ? 'THEIRS' : `t${id}` }))),
    );
    ok(dir, ['commit', '-a', '-m', 't']);
    ok(dir, ['switch', 'main']);
    writeFileSync(
      join(dir, 'data.jsonl'),
      rows([1, 2, 3, 4].map((id) => ({ id, text: id === 2 ? 'OURS' : `t${id}` }))),
    );
    ok(dir, ['commit', '-a', '-m', 'o']);
    const before = ok(dir, ['rev-parse', 'HEAD']).trim();
    const r = strata(dir, ['merge', 'theirs', '--json']);
    expect(r.code).toBe(5);
    const err = JSON.parse(r.stdout).error;
    expect(err.code).toBe('CONFLICT');
    expect(err.data.conflicts).toEqual([
      {
        path: 'data.jsonl',
        level: 'example',
        key: 2,
        base: { id: 2, text: 't2' },
        ours: { id: 2, text: 'OURS' },
        theirs: { id: 2, text: 'THEIRS' },
        reason: 'changed differently on both sides',
      },
    ]);
    expect(ok(dir, ['rev-parse', 'HEAD']).trim()).toBe(before);
    expect(read(dir, 'data.jsonl')[1]).toEqual({ id: 2, text: 'OURS' });
    const human = strata(dir, ['merge', 'theirs']);
    expect(human.stdout).toContain('CONFLICT data.jsonl key 2');
  });

  it('a file without a key changed on both sides is a file-level conflict; a dirty tree is refused', () => {
    const dir = setup();
    ok(dir, ['switch', '-c', 'theirs']);
    writeFileSync(join(dir, 'notes.txt'), 'theirs\n');
    ok(dir, ['commit', '-a', '-m', 't']);
    ok(dir, ['switch', 'main']);
    writeFileSync(join(dir, 'notes.txt'), 'ours\n');
    expect(strata(dir, ['merge', 'theirs']).code).toBe(6);
    ok(dir, ['commit', '-a', '-m', 'o']);
    const r = strata(dir, ['merge', 'theirs', '--json']);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout).error.data.conflicts[0]).toMatchObject({ path: 'notes.txt', level: 'file' });
  });

  it('-X theirs / -X ours settle conflicts for one side; the rest merges as usual', () => {
    const make = (): string => {
      const dir = setup();
      ok(dir, ['switch', '-c', 'theirs']);
      // Theirs: example 2 edited (conflict), example 4 edited (theirs only), notes.txt changed (file conflict).
      writeFileSync(
        join(dir, 'data.jsonl'),
        rows([1, 2, 3, 4].map((id) => ({ id, text: id === 2 ? 'THEIRS' : id === 4 ? 'four' : `t${id}` }))),
      );
      writeFileSync(join(dir, 'notes.txt'), 'theirs\n');
      ok(dir, ['commit', '-a', '-m', 't']);
      ok(dir, ['switch', 'main']);
      // Ours: example 2 edited differently, example 1 deleted (ours only), notes.txt changed.
      writeFileSync(
        join(dir, 'data.jsonl'),
        rows([2, 3, 4].map((id) => ({ id, text: id === 2 ? 'OURS' : `t${id}` }))),
      );
      writeFileSync(join(dir, 'notes.txt'), 'ours\n');
      ok(dir, ['commit', '-a', '-m', 'o']);
      return dir;
    };
    const t = make();
    expect(strata(t, ['merge', 'theirs']).code).toBe(5);
    const out = ok(t, ['merge', 'theirs', '-X', 'theirs']);
    expect(out).toContain('data.jsonl: 1 conflicting example(s) settled for theirs');
    expect(out).toContain(
      "notes.txt: changed on both sides (text, no key declared: not mergeable by example): took theirs's version",
    );
    expect(read(t, 'data.jsonl')).toEqual([
      { id: 2, text: 'THEIRS' },
      { id: 3, text: 't3' },
      { id: 4, text: 'four' },
    ]);
    expect(readFileSync(join(t, 'notes.txt'), 'utf8')).toBe('theirs\n');
    expect(ok(t, ['status', '--short'])).toBe('');
    expect(ok(t, ['show', 'HEAD', '--json'])).toContain('"parents":[');

    const o = make();
    const r = JSON.parse(ok(o, ['merge', 'theirs', '--strategy-option', 'ours', '--json']));
    expect(r.resolved).toEqual([
      { path: 'data.jsonl', examples: 1 },
      {
        path: 'notes.txt',
        file: true,
        reason: 'changed on both sides (text, no key declared: not mergeable by example)',
      },
    ]);
    expect(read(o, 'data.jsonl')).toEqual([
      { id: 2, text: 'OURS' },
      { id: 3, text: 't3' },
      { id: 4, text: 'four' },
    ]);
    expect(readFileSync(join(o, 'notes.txt'), 'utf8')).toBe('ours\n');
    expect(strata(o, ['merge', 'theirs', '-X', 'mine']).code).toBe(2);
  });
});

describe('example-level merge of keyed CSV and TSV files', () => {
  /** A repository with `file` at base on main, `ours` committed on main and `theirs` on branch theirs. */
  async function diverged(
    file: string,
    base: string,
    ours: string,
    theirs: string,
    attrs = '*.csv format=csv key=id\n*.tsv format=tsv key=id\n',
  ): Promise<{ dir: string; repo: Repository }> {
    const dir = tempDir();
    const repo = Repository.init(dir);
    writeFileSync(join(dir, '.strataattributes'), attrs);
    writeFileSync(join(dir, file), base);
    await add(repo, ['.strataattributes', file]);
    await commit(repo, { message: 'base' });
    await switchTo(repo, 'theirs', { create: true });
    writeFileSync(join(dir, file), theirs);
    await commit(repo, { message: 'theirs', all: true });
    await switchTo(repo, 'main');
    writeFileSync(join(dir, file), ours);
    await commit(repo, { message: 'ours', all: true });
    return { dir, repo };
  }

  it('combines disjoint row changes, keeping every row as stored (quotes, embedded newlines, CRLF, BOM)', async () => {
    const base = '\uFEFFid,text,score\r\n1,"a, b",1\r\n2,"two\nlines",2\r\n3,c,3\r\n4,d,4\r\n';
    const ours =
      '\uFEFFid,text,score\r\n1,"a, b",1\r\n2,"TWO\nlines",2\r\n3,c,3\r\n4,d,4\r\n5,"new ""five""",5\r\n';
    const theirs = '\uFEFFid,text,score\r\n1,"a, b",1\r\n2,"two\nlines",2\r\n3,c,33\r\n';
    const { dir, repo } = await diverged('t.csv', base, ours, theirs);
    try {
      const r = await merge(repo, 'theirs');
      expect(r.exampleMerges).toEqual([{ path: 't.csv', fromTheirs: 2, fromOurs: 2 }]);
      expect(readFileSync(join(dir, 't.csv'), 'utf8')).toBe(
        '\uFEFFid,text,score\r\n1,"a, b",1\r\n2,"TWO\nlines",2\r\n3,c,33\r\n5,"new ""five""",5\r\n',
      );
      expect(isClean(await status(repo))).toBe(true);
    } finally {
      repo.close();
    }
  });

  it('lists a row changed on both sides with its values; a changed header or a ragged row is a file conflict', async () => {
    const tsv = await diverged(
      't.tsv',
      'id\tx\n1\ta\n2\tb\n',
      'id\tx\n1\tOURS\n2\tb\n',
      'id\tx\n1\tTHEIRS\n2\tb\n',
    );
    try {
      const e = await merge(tsv.repo, 'theirs').catch((x: unknown) => x);
      expect(isStrataError(e, 'CONFLICT')).toBe(true);
      const conflicts = (e as { data: { conflicts: unknown[] } }).data.conflicts;
      expect(conflicts).toEqual([
        {
          path: 't.tsv',
          level: 'example',
          key: '1',
          base: { id: '1', x: 'a' },
          ours: { id: '1', x: 'OURS' },
          theirs: { id: '1', x: 'THEIRS' },
          reason: 'changed differently on both sides',
        },
      ]);
      expect(readFileSync(join(tsv.dir, 't.tsv'), 'utf8')).toBe('id\tx\n1\tOURS\n2\tb\n');
    } finally {
      tsv.repo.close();
    }
    const header = await diverged('t.csv', 'id,x\n1,a\n2,b\n', 'id,x\n1,A\n2,b\n', 'id,y\n1,a\n2,B\n');
    try {
      const e = await merge(header.repo, 'theirs').catch((x: unknown) => x);
      expect(
        (e as { data: { conflicts: { reason: string }[] } }).data.conflicts.map((c) => c.reason),
      ).toEqual(['cannot merge by example: the header row differs between versions']);
    } finally {
      header.repo.close();
    }
    const ragged = await diverged('t.csv', 'id,x\n1,a\n2,b\n', 'id,x\n1,A\n2,b\n', 'id,x\n1,a\n2,b,extra\n');
    try {
      const e = await merge(ragged.repo, 'theirs').catch((x: unknown) => x);
      expect((e as { data: { conflicts: { reason: string }[] } }).data.conflicts[0]!.reason).toMatch(
        /cannot merge by example: t\.csv is not well-formed CSV/,
      );
    } finally {
      ragged.repo.close();
    }
  });
});
