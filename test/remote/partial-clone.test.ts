/** A clone without --all holds only the chunks of its checkout: fsck knows the rest live on the remote. */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonl, tmp, writeFiles } from './helpers.js';

const CLI = resolve(__dirname, '../../dist/cli/main.js');
const run = (cwd: string, args: string[]): { code: number; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, STRATA_NO_PROGRESS: '1', STRATA_NO_PROVENANCE: '1', STRATA_AUTHOR: 'T <t@e.x>' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

describe('partial clone', () => {
  it('fsck passes and counts remote-only chunks; fetch --all stores them', () => {
    const a = tmp('pc-a');
    run(a, ['init']);
    writeFiles(a, { 'v.jsonl': jsonl(300_000, 1) });
    run(a, ['add', '.']);
    run(a, ['commit', '-m', 'one']);
    writeFiles(a, { 'v.jsonl': jsonl(300_000, 2) });
    run(a, ['commit', '-a', '-m', 'two']);
    const url = `file://${join(tmp('pc-remote'), 'r')}`;
    run(a, ['remote', 'add', 'origin', url]);
    expect(run(a, ['push']).code).toBe(0);

    const parent = tmp('pc-b');
    expect(run(parent, ['clone', url, 'b']).code).toBe(0);
    const b = join(parent, 'b');
    const r = run(b, ['fsck', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.problems).toEqual([]);
    expect(report.remoteOnly).toBeGreaterThan(0);
    // Reading the other revision's data says where it is and what to run, not just "not found".
    const old = run(b, ['cat', 'HEAD~1:v.jsonl']);
    expect(old.code).toBe(4);
    expect(old.stderr).toMatch(
      /is not in this repository: it is a partial clone, and remote 'origin' holds the data of other revisions \(run 'strata fetch --all origin' to download it\) \[NOT_FOUND\]/,
    );
    expect(run(b, ['diff', 'HEAD~1', 'HEAD', '--stat']).stderr).toContain("run 'strata fetch --all origin'");
    expect(run(b, ['fetch', '--all']).code).toBe(0);
    expect(JSON.parse(run(b, ['fsck', '--json']).stdout).remoteOnly).toBe(0);
    const now = run(b, ['cat', 'HEAD~1:v.jsonl']);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stdout).toBe(jsonl(300_000, 1));
  });
});
