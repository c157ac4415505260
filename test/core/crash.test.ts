import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ok, strata, tempDir } from './helpers.js';

function lines(seed: number, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++)
    out += `{"id":${seed * 1_000_000 + i},"text":"example ${i} of batch ${seed} ${'x'.repeat(i % 200)}"}\n`;
  return out;
}

/** Starts a commit and SIGKILLs it after `delayMs`; resolves when the process is gone. */
function killDuring(cwd: string, args: string[], delayMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, STRATA_AUTHOR: 'T <t@example.com>', STRATA_NO_PROVENANCE: '1' },
      stdio: 'ignore',
    });
    const t = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

describe('crash safety', () => {
  it(
    'SIGKILL at random moments during a commit never breaks fsck or loses an earlier commit',
    { timeout: 600_000 },
    async () => {
      const dir = tempDir();
      ok(dir, ['init']);
      for (let f = 0; f < 4; f++) writeFileSync(join(dir, `part-${f}.jsonl`), lines(f, 40_000));
      ok(dir, ['add', '.']);
      ok(dir, ['commit', '-m', 'base']);
      const base = ok(dir, ['rev-parse', 'HEAD']).trim();
      const baseBytes = ok(dir, ['cat', `${base}:part-0.jsonl`]);

      let seed = 100;
      let killed = 0;
      for (let round = 0; round < 8; round++) {
        for (let f = 0; f < 4; f++) appendFileSync(join(dir, `part-${f}.jsonl`), lines(seed++, 5_000));
        const delay = 50 + ((round * 7919) % 900);
        const code = await killDuring(dir, ['commit', '-a', '-m', `round ${round}`], delay);
        if (code === null) killed++;
        const fsck = strata(dir, ['fsck', '--json']);
        expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
        expect(JSON.parse(fsck.stdout).problems).toEqual([]);
        const log = ok(dir, ['log', '--oneline']);
        expect(log).toContain('base');
        expect(ok(dir, ['cat', `${base}:part-0.jsonl`])).toBe(baseBytes);
      }
      expect(killed).toBeGreaterThan(0);
      // The repository is still fully usable afterwards.
      ok(dir, ['commit', '-a', '-m', 'after crashes', '--allow-empty']);
      expect(JSON.parse(ok(dir, ['fsck', '--json'])).problems).toEqual([]);
    },
  );
});
