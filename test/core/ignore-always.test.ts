/** The built-in ignore rules answered without the `ignore` package agree with it (worktree/ignore.ts). */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALWAYS, alwaysIgnored, loadIgnore } from '../../src/core/worktree/ignore.js';
import { tempDir } from './helpers.js';

const ignore = createRequire(import.meta.url)('ignore') as typeof import('ignore');

describe('built-in ignore rules', () => {
  it('match what the ignore package says for them, for files and directories at any depth', () => {
    const ig = ignore().add(ALWAYS);
    const names = [
      'a',
      '.strata',
      '.git',
      '.strata-tmp-x1',
      '.strata-tmp-',
      'x.strata',
      '.gitignore',
      '.strata2',
    ];
    const paths: string[] = [];
    for (const a of names) {
      paths.push(a);
      for (const b of names) {
        paths.push(`${a}/${b}`);
        for (const c of ['f.jsonl', '.git', '.strata-tmp-y']) paths.push(`${a}/${b}/${c}`);
      }
    }
    let ignored = 0;
    for (const p of paths) {
      for (const isDir of [false, true]) {
        const want = ig.ignores(isDir ? p + '/' : p);
        expect(alwaysIgnored(p, isDir), `${p}${isDir ? '/' : ''}`).toBe(want);
        if (want) ignored++;
      }
    }
    expect(ignored).toBeGreaterThan(100); // both answers occur
    expect(ignored).toBeLessThan(paths.length * 2);
  });

  it('a .strataignore still goes through the ignore package, on top of them', () => {
    const dir = tempDir('strata-ignore-');
    try {
      mkdirSync(join(dir, 'logs'));
      expect(loadIgnore(dir)('logs', true)).toBe(false);
      writeFileSync(join(dir, '.strataignore'), 'logs/\n*.tmp\n');
      const ignored = loadIgnore(dir);
      expect(ignored('logs', true)).toBe(true);
      expect(ignored('a/b.tmp', false)).toBe(true);
      expect(ignored('a/.git', true)).toBe(true);
      expect(ignored('a/b.jsonl', false)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
