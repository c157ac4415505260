import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffCheck, Results, Step } from '../../bench/lib/results.js';
import { lineDiffCell, renderMarkdown } from '../../bench/report.js';
import type { CommandResult } from '../../bench/lib/exec.js';
import { medianRun, type BenchContext } from '../../bench/tools/common.js';
import { countLineMarks, lineDiffs, parseNumstat } from '../../bench/tools/linediff.js';
import { noopCommitWarning } from '../../bench/tools/strata.js';

let dir: string;

beforeAll(() => {
  dir = join(tmpdir(), `strata-linediff-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  // b: line 2 edited in place (key order changed too), line 4 deleted, line 6 appended.
  writeFileSync(
    join(dir, 'a.jsonl'),
    ['{"id":1}', '{"id":2,"x":1}', '{"id":3}', '{"id":4}', '{"id":5}', ''].join('\n'),
  );
  writeFileSync(
    join(dir, 'b.jsonl'),
    ['{"id":1}', '{"x":1,"id":2}', '{"id":3}', '{"id":5}', '{"id":6}', ''].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('line-diff baseline', () => {
  it('parses its tools output', () => {
    expect(countLineMarks('<<>>>')).toEqual({ added: 3, removed: 2 });
    expect(countLineMarks('')).toEqual({ added: 0, removed: 0 });
    expect(parseNumstat('12\t3\ta.jsonl => b.jsonl\n')).toEqual({ added: 12, removed: 3 });
    expect(parseNumstat('-\t-\ta.bin => b.bin\n')).toBeNull(); // binary: git diffed nothing
    expect(parseNumstat('')).toBeNull();
  });

  it('counts changed lines with GNU diff and git on two real files (lines, not examples)', async () => {
    const ctx = { dataDir: dir, env: process.env, timeoutMs: 60_000 } as unknown as BenchContext;
    const [gnu, git] = await lineDiffs(ctx, join(dir, 'a.jsonl'), join(dir, 'b.jsonl'));
    // Lines: id 2 (only its key order changed) is one removed + one added line, id 4 removed, id 6 added.
    expect(gnu).toMatchObject({ tool: 'diff', lines: { added: 2, removed: 2 } });
    expect(gnu?.error).toBeUndefined();
    expect(git).toMatchObject({ tool: 'git', lines: { added: 2, removed: 2 } });
    const same = await lineDiffs(ctx, join(dir, 'a.jsonl'), join(dir, 'a.jsonl'), ['diff']);
    expect(same).toEqual([expect.objectContaining({ lines: { added: 0, removed: 0 } })]);
  });

  it('records a failure instead of counts', async () => {
    const ctx = { dataDir: dir, env: process.env, timeoutMs: 60_000 } as unknown as BenchContext;
    const [gnu] = await lineDiffs(ctx, join(dir, 'a.jsonl'), join(dir, 'missing.jsonl'), ['diff']);
    expect(gnu?.lines).toBeNull();
    expect(gnu?.error).toMatch(/exit 2/);
  });
});

describe('report', () => {
  const check: DiffCheck = {
    scenario: 'jsonl',
    from: 'v0',
    to: 'v1',
    path: 'data/train.jsonl',
    expected: { added: 0, removed: 0, modified: 5 },
    found: { added: 0, removed: 0, modified: 5 },
    match: true,
    seconds: 2,
    maxRssKiB: 1024,
    lineDiffs: [
      { tool: 'diff', seconds: 4, maxRssKiB: 2048, userSeconds: 3, lines: { added: 5, removed: 5 } },
      { tool: 'git', seconds: null, maxRssKiB: null, userSeconds: null, lines: null, error: 'timed out' },
    ],
  };

  it('shows the baselines next to strata diff, with the ratio to strata time', () => {
    expect(lineDiffCell(check, 'diff', true)).toBe('4.00 s (×2.00), 2.00 MiB, +5 / −5');
    expect(lineDiffCell(check, 'git', false)).toBe('error: timed out');
    expect(lineDiffCell({ ...check, lineDiffs: undefined }, 'diff', true)).toBe('-');
  });

  it('renders the no-op rows and the baseline columns', () => {
    const step = (tool: Step['tool'], kind: string, label: string, seconds: number): Step => ({
      tool,
      step: kind,
      label,
      ok: true,
      seconds,
      maxRssKiB: 50_000,
      commands: [],
    });
    const r = {
      schema: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:00.000Z',
      quick: true,
      requestedSize: 1,
      seed: 1,
      argv: [],
      machine: {
        cpuModel: 'cpu',
        cores: 2,
        memoryBytes: 1,
        node: 'v20',
        os: 'linux',
        diskFreeBytes: 1,
        diskPath: '/',
      },
      tools: { strata: { available: true, version: '0.1.0' }, git: { available: true, version: 'git 2' } },
      steps: [
        step('strata', 'status-noop', 'status (first after commit)', 0.5),
        step('strata', 'status-noop', 'status', 0.12),
        step('strata', 'commit-noop', 'commit -a', 0.13),
        step('strata', 'commit-noop-add', 'add . + commit', 0.3),
        step('git', 'commit-noop', 'commit -a', 0.01),
        step('git', 'commit-noop-add', 'add . + commit', 0.02),
      ],
      diffs: [check],
      mismatches: [],
      errors: [],
      notes: [],
    } as unknown as Results;
    const md = renderMarkdown(r, join(dir, 'no-notes.md'));
    expect(md).toContain('GNU diff: time, peak RSS, lines + / −');
    expect(md).toContain('No-op record: the one command a user types');
    expect(md).toContain('| 4.00 s (×2.00), 2.00 MiB, +5 / −5 |');
    expect(md).toMatch(/no-op status \/ commit < 0\.15 s \| status 120 ms, commit -a 130 ms \| met/);
    expect(md).toMatch(/\| strata \| - \| - \| 130 ms \| 300 ms \| 120 ms \|/);
    expect(md).toMatch(/\| git \(compression=1, note\) \| - \| - \| 10 ms \| 20 ms \| - \|/);
  });
});

describe('no-op commit check', () => {
  it('accepts only exit 1 with NOTHING_TO_COMMIT', () => {
    const r = {
      ok: true,
      exitCode: 1,
      stdout: '',
      stderr: 'strata: nothing to commit [NOTHING_TO_COMMIT]\n',
    };
    expect(noopCommitWarning(r)).toBeUndefined();
    expect(noopCommitWarning({ ...r, exitCode: 0 })).toMatch(/a new commit was made/);
    expect(noopCommitWarning({ ...r, stderr: 'strata: verify failed [VERIFY_FAILED]' })).toMatch(
      /without NOTHING_TO_COMMIT/,
    );
  });
});

describe('no-op repetitions', () => {
  const result = (seconds: number, ok = true): CommandResult => ({
    command: 'x',
    cwd: '/',
    ok,
    exitCode: ok ? 0 : 2,
    seconds,
    maxRssKiB: null,
    stdout: String(seconds),
    stderr: '',
  });

  it('keeps the run of median total time, and stops at a failure', async () => {
    const times = [[0.3], [0.1, 0.05], [0.2], [0.9], [0.12]];
    let i = 0;
    const m = await medianRun(5, async () => (times[i++] as number[]).map((t) => result(t)));
    expect(m.seconds.map((x) => x.toFixed(2))).toEqual(['0.30', '0.15', '0.20', '0.90', '0.12']);
    expect(m.cmds.map((c) => c.seconds)).toEqual([0.2]);
    let j = 0;
    const failed = await medianRun(5, async () => [result(0.1, j++ < 1)]);
    expect(failed.cmds[0]?.ok).toBe(false);
    expect(failed.seconds).toEqual([0.1]);
  });
});
