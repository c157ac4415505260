import { readdirSync, writeFileSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repository, status } from '../../src/core/index.js';
import { flipByte, ok, strata, tempDir } from './helpers.js';

function repoWith(files: Record<string, string>): string {
  const dir = tempDir();
  ok(dir, ['init']);
  for (const [p, c] of Object.entries(files)) writeFileSync(join(dir, p), c);
  ok(dir, ['add', '.']);
  ok(dir, ['commit', '-m', 'base']);
  return dir;
}

describe('fsck', () => {
  it('fails on one flipped byte in a pack and names the object', () => {
    const dir = repoWith({
      'a.jsonl': Array.from({ length: 2000 }, (_, i) => `{"i":${i},"t":"row ${i}"}`).join('\n') + '\n',
    });
    const packs = join(dir, '.strata', 'packs');
    const pack = readdirSync(packs)
      .filter((f) => f.endsWith('.pack'))
      .map((f) => join(packs, f))
      .sort((x, y) => statSync(y).size - statSync(x).size)[0]!;
    flipByte(pack, Math.floor(statSync(pack).size / 2));
    const r = strata(dir, ['fsck', '--json']);
    expect(r.code).toBe(7);
    const report = JSON.parse(r.stdout.split('\n')[0]!);
    expect(report.problems.length).toBeGreaterThan(0);
    expect(report.problems.some((p: { object?: string }) => /^[0-9a-f]{64}$/.test(p.object ?? ''))).toBe(
      true,
    );
    const human = strata(dir, ['fsck']);
    expect(human.code).toBe(7);
    expect(human.stdout).toContain(report.problems[0].message);
    expect(human.stderr).toContain('INTEGRITY');
  });
});

describe('switch and checkout safety', () => {
  it('refuses to overwrite uncommitted changes, naming the files; --force overrides', () => {
    const dir = repoWith({ 'a.txt': 'one\n', 'b.txt': 'bee\n' });
    ok(dir, ['switch', '-c', 'other']);
    writeFileSync(join(dir, 'a.txt'), 'two\n');
    ok(dir, ['commit', '-a', '-m', 'a=two']);
    ok(dir, ['switch', 'main']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('one\n');
    writeFileSync(join(dir, 'a.txt'), 'local edit\n');
    const r = strata(dir, ['switch', 'other']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('a.txt');
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('local edit\n');
    // A change to a file the switch does not touch is carried over.
    writeFileSync(join(dir, 'a.txt'), 'one\n');
    writeFileSync(join(dir, 'b.txt'), 'local bee\n');
    ok(dir, ['switch', 'other']);
    expect(readFileSync(join(dir, 'b.txt'), 'utf8')).toBe('local bee\n');
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('two\n');
    // --force discards.
    writeFileSync(join(dir, 'a.txt'), 'scratch\n');
    ok(dir, ['switch', '--force', 'main']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('one\n');
  });

  it('refuses to clobber an untracked file in the way', () => {
    const dir = repoWith({ 'a.txt': 'one\n' });
    ok(dir, ['switch', '-c', 'x']);
    writeFileSync(join(dir, 'new.txt'), 'committed\n');
    ok(dir, ['add', 'new.txt']);
    ok(dir, ['commit', '-m', 'new']);
    ok(dir, ['switch', 'main']);
    writeFileSync(join(dir, 'new.txt'), 'precious untracked\n');
    const r = strata(dir, ['switch', 'x']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('new.txt');
  });

  it('checkout REV -- PATH, restore, reset --soft/--hard, detached HEAD', () => {
    const dir = repoWith({ 'a.txt': 'v1\n' });
    writeFileSync(join(dir, 'a.txt'), 'v2\n');
    ok(dir, ['commit', '-a', '-m', 'v2']);
    ok(dir, ['checkout', 'HEAD~1', '--', 'a.txt']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('v1\n');
    expect(JSON.parse(ok(dir, ['status', '--json'])).staged).toEqual([{ path: 'a.txt', kind: 'modified' }]);
    ok(dir, ['restore', '--staged', '--worktree', 'a.txt']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('v2\n');
    writeFileSync(join(dir, 'a.txt'), 'dirty\n');
    ok(dir, ['restore', 'a.txt']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('v2\n');

    const v2 = ok(dir, ['rev-parse', 'HEAD']).trim();
    ok(dir, ['reset', '--soft', 'HEAD~1']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('v2\n');
    expect(JSON.parse(ok(dir, ['status', '--json'])).staged).toEqual([{ path: 'a.txt', kind: 'modified' }]);
    ok(dir, ['reset', '--hard', v2.slice(0, 10)]);
    ok(dir, ['reset', '--hard', 'HEAD^']);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('v1\n');

    ok(dir, ['switch', '--detach', v2]);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('v2\n');
    const st = JSON.parse(ok(dir, ['status', '--json']));
    expect(st.branch).toBeNull();
    expect(st.head).toBe(v2);
  });
});

describe('stat cache', () => {
  it('a second status on an unchanged tree hashes no file data; a same-size edit is still seen', async () => {
    const dir = repoWith({ 'a.jsonl': '{"x":1}\n'.repeat(5000), 'b.txt': 'hello\n' });
    // Let the racy window pass, then one status refreshes racy entries.
    await new Promise((r) => setTimeout(r, 250));
    const repo = Repository.open(dir);
    try {
      await status(repo);
      repo.counters.bytesHashed = 0;
      repo.counters.filesHashed = 0;
      const s = await status(repo);
      expect(s.unstaged).toEqual([]);
      expect(repo.counters.filesHashed).toBe(0);
      expect(repo.counters.bytesHashed).toBe(0);
      // Same size, same mtime: the inode/ctime change still invalidates the entry.
      const p = join(dir, 'b.txt');
      const st = statSync(p);
      writeFileSync(p, 'HELLO\n');
      utimesSync(p, st.atime, st.mtime);
      const s2 = await status(repo);
      expect(s2.unstaged).toEqual([{ path: 'b.txt', kind: 'modified' }]);
    } finally {
      repo.close();
    }
  });
});

describe('revisions, refs and errors', () => {
  it('resolves git revision syntax', () => {
    const dir = repoWith({ 'a.txt': '1\n' });
    for (const n of [2, 3]) {
      writeFileSync(join(dir, 'a.txt'), `${n}\n`);
      ok(dir, ['commit', '-a', '-m', `c${n}`]);
    }
    const log = ok(dir, ['log', '--json'])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((c: { message: string }) => c.message)).toEqual(['c3', 'c2', 'base']);
    const [c3, c2, c1] = log.map((c: { hash: string }) => c.hash) as [string, string, string];
    const rp = (r: string): string => ok(dir, ['rev-parse', r]).trim();
    expect(rp('HEAD')).toBe(c3);
    expect(rp('@')).toBe(c3);
    expect(rp('main~2')).toBe(c1);
    expect(rp('HEAD^')).toBe(c2);
    expect(rp('HEAD^^')).toBe(c1);
    expect(rp('HEAD~1^1')).toBe(c1);
    expect(rp(c2.slice(0, 7))).toBe(c2);
    ok(dir, ['tag', 'v1', 'HEAD~2']);
    expect(rp('v1')).toBe(c1);
    expect(rp('v1^{tree}')).toMatch(/^[0-9a-f]{64}$/);
    expect(rp('HEAD:a.txt')).toMatch(/^[0-9a-f]{64}$/);
    expect(ok(dir, ['cat', 'v1:a.txt'])).toBe('1\n');
    expect(strata(dir, ['rev-parse', 'HEAD~5']).code).toBe(2);
    expect(strata(dir, ['rev-parse', 'nope']).code).toBe(2);
    expect(strata(dir, ['rev-parse', 'HEAD^2']).code).toBe(2);
    expect(ok(dir, ['log', '--oneline', '-n', '2']).trim().split('\n')).toHaveLength(2);
  });

  it('branches: create, list, rename, delete; invalid names refused', () => {
    const dir = repoWith({ 'a.txt': '1\n' });
    ok(dir, ['branch', 'feature']);
    expect(JSON.parse(ok(dir, ['branch', '--json'])).map((b: { name: string }) => b.name)).toEqual([
      'feature',
      'main',
    ]);
    ok(dir, ['branch', '-m', 'feature', 'feat2']);
    expect(strata(dir, ['branch', '-d', 'main']).code).toBe(2);
    ok(dir, ['branch', '-d', 'feat2']);
    expect(strata(dir, ['branch', 'bad..name']).code).toBe(2);
    expect(strata(dir, ['branch', 'main']).code).toBe(5);
  });

  it('errors carry stable codes in --json and exit codes', () => {
    const dir = tempDir();
    const r = strata(dir, ['status', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).error.code).toBe('NOT_A_REPOSITORY');
    ok(dir, ['init']);
    expect(strata(dir, ['init']).code).toBe(5);
    // Nothing tracked yet: no empty root commit (unless asked for), and the message says what to do.
    for (const args of [
      ['commit', '-m', 'empty'],
      ['commit', '-a', '-m', 'empty'],
    ]) {
      const empty = strata(dir, [...args, '--json']);
      expect(empty.code).toBe(1);
      expect(JSON.parse(empty.stdout).error.code).toBe('NOTHING_TO_COMMIT');
      expect(JSON.parse(empty.stdout).error.message).toContain('strata add');
    }
    expect(strata(dir, ['log']).code).not.toBe(0);
    writeFileSync(join(dir, 'a.txt'), 'x');
    ok(dir, ['add', 'a.txt']);
    ok(dir, ['commit', '-m', 'one']);
    const again = strata(dir, ['commit', '-m', 'two', '--json']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout).error.code).toBe('NOTHING_TO_COMMIT');
    expect(strata(dir, ['add', 'missing.txt']).code).toBe(4);
    expect(strata(dir, ['add', '../outside']).code).toBe(10);
  });

  it('honours .strataignore', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    writeFileSync(join(dir, '.strataignore'), '*.tmp\ncache/\n');
    writeFileSync(join(dir, 'keep.txt'), 'k');
    writeFileSync(join(dir, 'drop.tmp'), 'd');
    ok(dir, ['add', '.']);
    const st = JSON.parse(ok(dir, ['status', '--json']));
    expect(st.staged.map((s: { path: string }) => s.path).sort()).toEqual(['.strataignore', 'keep.txt']);
  });
});
