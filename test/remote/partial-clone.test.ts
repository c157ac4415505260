/**
 * A clone without --all holds only the chunks of its checkout: fsck knows the rest live on the remote, and
 * commands that read other revisions download their data on demand.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  it('fsck passes and counts remote-only chunks; data comes on demand; fetch --all stores the rest', () => {
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
    expect(run(b, ['config', 'core.partial']).stdout).toBe('1\n');
    // A diff with the other revision downloads the data it reads, and says so.
    const diff = run(b, ['diff', 'HEAD~1', 'HEAD', '--stat']);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toMatch(/1 file changed/);
    expect(diff.stderr).toMatch(/downloaded \d+ object\(s\), [\d.]+ MiB, from remote 'origin'/);
    const old = run(b, ['cat', 'HEAD~1:v.jsonl']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toBe(jsonl(300_000, 1));
    expect(old.stderr).toBe(''); // already here

    // fetch, then merge (fast-forward) and switch to what it brought: the files are downloaded as written.
    writeFiles(a, { 'v.jsonl': jsonl(300_000, 3) });
    run(a, ['commit', '-a', '-m', 'three']);
    expect(run(a, ['push']).code).toBe(0);
    expect(run(b, ['fetch']).code).toBe(0);
    const ff = run(b, ['merge', 'origin/main']);
    expect(ff.code, ff.stderr).toBe(0);
    expect(ff.stderr).toMatch(/downloaded \d+ object\(s\)/);
    expect(readFileSync(join(b, 'v.jsonl'), 'utf8')).toBe(jsonl(300_000, 3));
    expect(run(b, ['switch', '--detach', 'HEAD~2']).code).toBe(0);
    expect(readFileSync(join(b, 'v.jsonl'), 'utf8')).toBe(jsonl(300_000, 1));
    expect(run(b, ['switch', 'main']).code).toBe(0);

    // export (and verify) of a revision fetched but never checked out.
    writeFiles(a, { 'v.jsonl': jsonl(300_000, 5) });
    run(a, ['commit', '-a', '-m', 'five']);
    expect(run(a, ['push']).code).toBe(0);
    expect(run(b, ['fetch']).code).toBe(0);
    const dest = join(tmp('pc-export'), 'out');
    const exp = run(b, ['export', 'origin/main', '--to', dest]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stderr).toMatch(/downloaded \d+ object\(s\)/);
    expect(readFileSync(join(dest, 'v.jsonl'), 'utf8')).toBe(jsonl(300_000, 5));
    expect(run(b, ['verify', dest, '--pin', 'origin/main']).code).toBe(0);

    // A partial clone that does not know it is one (made before data on demand): the read says where the data
    // is and what to run, not just "not found".
    writeFiles(a, { 'v.jsonl': jsonl(300_000, 6) });
    run(a, ['commit', '-a', '-m', 'four']);
    expect(run(a, ['push']).code).toBe(0);
    expect(run(b, ['fetch']).code).toBe(0);
    expect(run(b, ['config', '--unset', 'core.partial']).code).toBe(0);
    const unknown = run(b, ['cat', 'origin/main:v.jsonl']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(
      /is not in this repository: it is a partial clone, and remote 'origin' holds the data of other revisions \(run 'strata fetch --all origin' to download it\) \[NOT_FOUND\]/,
    );
    expect(run(b, ['fetch', '--all']).code).toBe(0);
    expect(JSON.parse(run(b, ['fsck', '--json']).stdout).remoteOnly).toBe(0);
    expect(run(b, ['config', 'core.partial']).code).toBe(4); // complete: nothing to download on demand
    const now = run(b, ['cat', 'origin/main:v.jsonl']);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stdout).toBe(jsonl(300_000, 6));
  });

  it('a complete repository that fetches everything it lacks stays complete', () => {
    const a = tmp('pc-full-a');
    run(a, ['init']);
    writeFiles(a, { 'v.jsonl': jsonl(50_000, 1) });
    run(a, ['add', '.']);
    run(a, ['commit', '-m', 'one']);
    const url = `file://${join(tmp('pc-full-remote'), 'r')}`;
    run(a, ['remote', 'add', 'origin', url]);
    expect(run(a, ['push']).code).toBe(0);
    // Fetching from a remote that has nothing new: every chunk is here, so no data-on-demand walks later.
    expect(run(a, ['fetch']).code).toBe(0);
    expect(run(a, ['config', 'core.partial']).code).toBe(4);
  });
});
