// gc removes the scratch directories that diffs of processes that died left in .strata/tmp (a killed diff
// cannot remove its spill files), and keeps those of live processes.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpillDir } from '../../src/core/diff/spill.js';
import { ok, tempDir } from './helpers.js';

/** A pid no process has: one that was just used by a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((res) => child.on('exit', res));
  return child.pid!;
}

describe('gc and scratch directories', () => {
  it('removes spill directories of dead diffs, keeps live ones, and a dry run only reports', async () => {
    const dir = tempDir();
    ok(dir, ['init']);
    writeFileSync(join(dir, 'a.jsonl'), '{"a":1}\n');
    ok(dir, ['add', 'a.jsonl']);
    ok(dir, ['commit', '-m', 'one']);
    const tmp = join(dir, '.strata', 'tmp');
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const dead = `strata-diff-${await deadPid()}-AbC123`;
      const alive = `strata-diff-${live.pid}-XyZ789`;
      const other = 'not-ours';
      for (const d of [dead, alive, other]) {
        mkdirSync(join(tmp, d), { recursive: true });
        writeFileSync(join(tmp, d, '0'), 'spilled run');
      }
      const dry = JSON.parse(ok(dir, ['gc', '--dry-run', '--json'])) as { scratchRemoved: string[] };
      expect(dry.scratchRemoved).toEqual([dead]);
      expect(existsSync(join(tmp, dead))).toBe(true);
      const text = ok(dir, ['gc']);
      expect(text).toContain(`removed .strata/tmp/${dead}`);
      expect(existsSync(join(tmp, dead))).toBe(false);
      expect(existsSync(join(tmp, alive, '0'))).toBe(true);
      expect(existsSync(join(tmp, other, '0'))).toBe(true);
    } finally {
      live.kill();
    }
  });

  it("a diff's spill directory is named with its process id, which is what gc goes by", () => {
    const parent = tempDir();
    const dir = new SpillDir(parent);
    try {
      const file = dir.file();
      expect(file.startsWith(join(parent, `strata-diff-${process.pid}-`))).toBe(true);
    } finally {
      dir.close();
    }
  });
});
