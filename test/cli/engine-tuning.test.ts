/**
 * `strata diff` leaves V8's optimizing compiler off functions of more than 16 KiB of bytecode
 * (src/cli/engine-tuning.ts): the diff engine's main generator is then never optimized. Not a timing test:
 * with --always-turbofan every function is optimized on its first call, unless it is over the limit, and
 * --trace-opt names each one optimized.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ok, tempDir } from '../core/helpers.js';

const lines = (tag: string): string =>
  Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, text: `${tag} ${i}` }) + '\n').join('');

/** The functions V8 optimized in `strata diff --stat`, run with every function optimized on first call. */
function optimizedInDiff(dir: string, env: Record<string, string>): string[] {
  const r = spawnSync(process.execPath, ['--always-turbofan', '--trace-opt', CLI, 'diff', '--stat'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    maxBuffer: 256 * 1024 * 1024,
  });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('50 modified');
  return [...r.stdout.matchAll(/completed (?:optimizing|compiling) [^<]*<JSFunction (\S+?)[ >]/g)].map(
    (m) => m[1]!,
  );
}

describe('the V8 settings of strata diff', () => {
  it("never optimizes the diff engine's main generator; STRATA_V8_TUNING=0 leaves V8's defaults", () => {
    const dir = tempDir();
    const env = { STRATA_AUTHOR: 'Test <test@example.com>', STRATA_NO_PROVENANCE: '1' };
    ok(dir, ['init']);
    writeFileSync(join(dir, 'a.jsonl'), lines('before'));
    ok(dir, ['add', 'a.jsonl'], env);
    ok(dir, ['commit', '-m', 'v0'], env);
    writeFileSync(join(dir, 'a.jsonl'), lines('after'));
    const tuned = optimizedInDiff(dir, {});
    // Every other function it ran was optimized (the flag is in effect, and only the large one is left).
    expect(tuned).toContain('diffFile');
    expect(tuned).not.toContain('diffFileIn');
    expect(optimizedInDiff(dir, { STRATA_V8_TUNING: '0' })).toContain('diffFileIn');
  }, 120_000);
});
