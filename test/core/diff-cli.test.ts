import { SHARED_DATA } from '../helpers/shared-data.js';
import { copyFileSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, strata, tempDir } from './helpers.js';

const DATA = SHARED_DATA;
const jsonl = (s: string): Record<string, unknown>[] =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('strata diff', () => {
  it('GSM8K test → socratic keyed by question: exactly 1,319 modified, between revisions and against the working tree', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    writeFileSync(join(dir, '.strataattributes'), '*.jsonl format=jsonl key=question\n');
    copyFileSync(join(DATA, 'gsm8k-test.jsonl'), join(dir, 'test.jsonl'));
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'original']);
    copyFileSync(join(DATA, 'gsm8k-test_socratic.jsonl'), join(dir, 'test.jsonl'));

    const wt = jsonl(ok(dir, ['diff', '--json']));
    const sum = wt.find((e) => e.type === 'summary') as { counts: Record<string, number> };
    expect(sum.counts).toEqual({ added: 0, removed: 0, modified: 1319 });
    expect(wt.filter((e) => e.type === 'change')).toHaveLength(1319);
    const change = wt.find((e) => e.type === 'change') as {
      kind: string;
      key: string;
      fields: { path: string }[];
    };
    expect(change.kind).toBe('modified');
    expect(change.fields.map((f) => f.path)).toEqual(['answer']);

    ok(dir, ['commit', '-a', '-m', 'socratic']);
    const revs = jsonl(ok(dir, ['diff', 'HEAD~1', 'HEAD', '--json', '--limit', '3']));
    expect(revs.filter((e) => e.type === 'change')).toHaveLength(3);
    expect((revs.at(-1) as { counts: unknown }).counts).toEqual({ added: 0, removed: 0, modified: 1319 });
    expect(ok(dir, ['diff', 'HEAD~1', 'HEAD', '--stat'])).toContain('~1319');
    expect(ok(dir, ['diff', 'HEAD~1', 'HEAD', '--name-only'])).toBe('test.jsonl\n');
    // No differences: nothing printed, and --exit-code says so.
    expect(ok(dir, ['diff'])).toBe('');
    expect(strata(dir, ['diff', 'HEAD~1', '--exit-code', '--stat']).code).toBe(1);
  });

  it('a one-example edit in a large file reads only the changed chunks', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    const lines = Array.from({ length: 20000 }, (_, i) =>
      JSON.stringify({ id: i, text: `example number ${i} `.repeat(4) }),
    );
    writeFileSync(join(dir, 'big.jsonl'), lines.join('\n') + '\n');
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'v1']);
    lines[12345] = JSON.stringify({ id: 12345, text: 'edited' });
    writeFileSync(join(dir, 'big.jsonl'), lines.join('\n') + '\n');
    ok(dir, ['commit', '-a', '-m', 'v2']);
    const ev = jsonl(ok(dir, ['diff', 'HEAD~1', 'HEAD', '--json']));
    const changes = ev.filter((e) => e.type === 'change') as { kind: string; fields: { path: string }[] }[];
    expect(changes).toHaveLength(1);
    expect(changes[0]!.fields.map((f) => f.path)).toEqual(['text']);
    const s = ev.at(-1) as { cost: { piecesShared: number; piecesRead: number } };
    expect(s.cost.piecesRead).toBeLessThanOrEqual(4);
    expect(s.cost.piecesShared).toBeGreaterThan(50);
    expect(readFileSync(join(dir, 'big.jsonl'), 'utf8')).toContain('edited');
  });

  it('reports added and removed files, and refuses more than two revisions', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    writeFileSync(join(dir, 'a.jsonl'), '{"a":1}\n');
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'a']);
    ok(dir, ['rm', 'a.jsonl']);
    writeFileSync(join(dir, 'b.csv'), 'x,y\n1,2\n');
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'b']);
    const stat = ok(dir, ['diff', 'HEAD~1', 'HEAD', '--stat']);
    expect(stat).toContain('a.jsonl');
    expect(stat).toContain('b.csv');
    expect(strata(dir, ['diff', 'HEAD', 'HEAD', 'HEAD']).code).toBe(2);
    // The same rows in another order: no example changed, but the file did: shown, and a difference.
    writeFileSync(join(dir, 'b.csv'), 'x,y\n3,4\n1,2\n');
    ok(dir, ['commit', '-a', '-m', 'rows']);
    writeFileSync(join(dir, 'b.csv'), 'x,y\n1,2\n3,4\n');
    ok(dir, ['commit', '-a', '-m', 'reordered']);
    const moved = strata(dir, ['diff', 'HEAD~1', 'HEAD', '--stat', '--exit-code']);
    expect(moved.code).toBe(1);
    expect(moved.stdout).toContain(' b.csv | +0 -0 ~0 | 12 B → 12 B (same examples, bytes differ');
    expect(strata(dir, ['diff', 'HEAD', 'HEAD', '--exit-code']).code).toBe(0);
  });

  it('--staged (--cached): what commit would record against HEAD or a revision; a new repository diffs against nothing', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    writeFileSync(join(dir, 'a.jsonl'), '{"id":1,"t":"one"}\n{"id":2,"t":"two"}\n');
    // No commit yet: the working tree (and the index) against an empty tree.
    expect(ok(dir, ['diff', '--stat'])).toContain('a.jsonl | +2 -0 ~0');
    expect(ok(dir, ['diff', '--staged', '--stat'])).toBe('');
    ok(dir, ['add', 'a.jsonl']);
    expect(ok(dir, ['diff', '--staged', '--stat'])).toContain('a.jsonl | +2 -0 ~0');
    ok(dir, ['commit', '-m', 'a']);
    expect(ok(dir, ['diff', '--staged', '--stat'])).toBe('');
    // Staged: example 2 edited. Then unstaged: example 1 edited too.
    writeFileSync(join(dir, 'a.jsonl'), '{"id":1,"t":"one"}\n{"id":2,"t":"TWO"}\n');
    ok(dir, ['add', 'a.jsonl']);
    writeFileSync(join(dir, 'a.jsonl'), '{"id":1,"t":"ONE"}\n{"id":2,"t":"TWO"}\n');
    const staged = jsonl(ok(dir, ['diff', '--cached', '--json']));
    expect(staged.filter((e) => e.type === 'change').map((e) => e.after)).toEqual([{ id: 2, t: 'TWO' }]);
    const all = jsonl(ok(dir, ['diff', '--json']));
    expect(all.filter((e) => e.type === 'change')).toHaveLength(2);
    ok(dir, ['commit', '-m', 'b']);
    // Against a named revision: the index (b's two-edit version is not staged: only b's) against a.
    expect(ok(dir, ['diff', '--staged', 'HEAD~1', '--stat'])).toContain('a.jsonl | +0 -0 ~1');
    expect(strata(dir, ['diff', '--staged', 'HEAD~1', 'HEAD']).code).toBe(2);
    // show --stat: a commit's example counts against its first parent (a root commit: against nothing).
    expect(ok(dir, ['show', '--stat'])).toContain('a.jsonl | +0 -0 ~1');
    expect(ok(dir, ['show', 'HEAD~1', '--stat'])).toContain('a.jsonl | +2 -0 ~0');
    const shown = JSON.parse(ok(dir, ['show', '--stat', '--json'])) as { stat: { counts: unknown }[] };
    expect(shown.stat.map((x) => x.counts)).toEqual([{ added: 0, removed: 0, modified: 1 }]);
  });
});
