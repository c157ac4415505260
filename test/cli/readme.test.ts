/**
 * The README is the front door: its quickstart must work as written. This runs the README's own `sh` block
 * under "## Quickstart", verbatim, in bash (`set -euo pipefail`: any failing command fails the test), with
 * `strata` the built bin (dist/bin/strata.cjs, what `npm link` puts on the PATH), and checks what it says.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../core/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'bin', 'strata.cjs');

/** The first ```sh block after the heading `## Quickstart`. */
function quickstart(readme: string): string {
  const at = readme.indexOf('\n## Quickstart\n');
  if (at < 0) throw new Error('README.md has no "## Quickstart" section');
  const m = /\n```sh\n([\s\S]*?)\n```\n/.exec(readme.slice(at));
  if (!m) throw new Error('the Quickstart section has no sh block');
  return m[1]!;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('README', () => {
  it('the quickstart runs as written and does what its comments say', () => {
    const block = quickstart(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(block).toContain('strata init');
    const dir = tempDir('strata-readme-');
    dirs.push(dir);
    const script = [
      'set -euo pipefail',
      `strata() { "${process.execPath}" "${BIN}" "$@"; }`,
      block,
      // What the comments promise, checked after the block.
      'echo "--- after"',
      'cat train.jsonl',
    ].join('\n');
    const r = spawnSync('bash', ['-c', script], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout;
    // `strata diff`: example 1, messages[1].content changed, word by word.
    expect(out).toContain('~ modified (line 1, key 1)');
    expect(out).toContain('~ messages[1].content: Hello!{+ How can I help?+}');
    // `--stat`, `log --oneline`, the fast-forward merge, the pin, cat, fsck.
    expect(out).toContain(' train.jsonl | +0 -0 ~1 |');
    expect(out).toMatch(/^[0-9a-f]{12} friendlier greeting$/m);
    expect(out).toMatch(/^Fast-forward to [0-9a-f]{12}$/m);
    expect(out).toMatch(
      new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/chat-data@[0-9a-f]{64}$`, 'm'),
    );
    expect(out).toMatch(/0 problem\(s\)/);
    // `log --example 1`: the greeting commit (its field change) and the first version (added).
    expect(out).toMatch(
      /^[0-9a-f]{12} friendlier greeting\n {2}train\.jsonl: ~ modified \(line 1, key 1\)\n {4}~ messages\[1\]\.content: Hello!\{\+ How can I help\?\+\}$/m,
    );
    expect(out).toMatch(/^[0-9a-f]{12} first version\n {2}train\.jsonl: \+ \{"id":1,/m);
    // `show --stat`, `stats`, `rerun --stale --dry-run`.
    expect(out).toContain(' train.jsonl | +0 -0 ~1 |');
    expect(out).toContain('train.jsonl  jsonl  2 examples');
    expect(out).toContain('chat: turns 2 / 2 / 2; roles user 2, assistant 2');
    expect(out).toContain('every run output is up to date');
    // `strata run` committed short.jsonl; `trace` names the run and its input.
    expect(out).toMatch(/^short\.jsonl file [0-9a-f]{12} {2}made by run [0-9a-f]{12} "run: python3 -c/m);
    expect(out).toMatch(
      /^ {2}train\.jsonl file [0-9a-f]{12} {2}committed in [0-9a-f]{12} "friendlier greeting"$/m,
    );
    // After merging fix-answers into main, the working tree has the friendlier greeting.
    const after = out.slice(out.indexOf('--- after\n') + 10);
    expect(
      after
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      {
        id: 1,
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello! How can I help?' },
        ],
      },
      {
        id: 2,
        messages: [
          { role: 'user', content: '2+2?' },
          { role: 'assistant', content: '4' },
        ],
      },
    ]);
  });
});
