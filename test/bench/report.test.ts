import { describe, expect, it } from 'vitest';
import { issue7Goals } from '../../bench/report.js';
import type { Results, Step } from '../../bench/lib/results.js';

const MiB = 1024 * 1024;

function step(step: string, label: string, more: Partial<Step>): Step {
  return { tool: 'strata', step, label, ok: true, seconds: 1, maxRssKiB: 1000, commands: [], ...more };
}

/** A run's results with just what issue 7's table reads: commits, the v0..v1 diff, the local reads. */
function results(o: {
  v1Added: number;
  v3Added: number;
  v1s: number;
  readV3: number;
  diffS: number;
}): Results {
  const stored = [400 * MiB, 400 * MiB + o.v1Added, 420 * MiB + o.v1Added, 420 * MiB + o.v1Added + o.v3Added];
  const secs = [10, o.v1s, 4, 8];
  const file = (bytes: number) => ({ jsonl: { file: 'x', bytes, sha256: '' } });
  return {
    steps: [
      ...(['v0', 'v1', 'v2', 'v3'] as const).map((v, i) =>
        step('commit', v, { version: v, storedBytes: stored[i]!, seconds: secs[i]! }),
      ),
      step('library-stream', 'bytes from local (stream v0 data/train.jsonl, median of 3)', {
        extra: { MBps: 250, verified: true },
      }),
      step('library-stream', 'bytes from local (stream v3 data/train.jsonl, median of 3)', {
        extra: { MBps: o.readV3, verified: true },
      }),
    ],
    diffs: [{ scenario: 'jsonl', from: 'v0', to: 'v1', seconds: o.diffS, match: true }],
    data: {
      versions: [
        { name: 'v0', files: file(1000 * MiB) },
        { name: 'v1', files: file(1000 * MiB) },
        { name: 'v2', files: file(1050 * MiB) },
      ],
    },
  } as unknown as Results;
}

const row = (lines: string[], goal: string): string => lines.find((l) => l.includes(goal)) ?? '';

describe("bench report: issue 7's goals", () => {
  it('judges stored shares, commit times, the diff and the read ratio from the run', () => {
    const good = issue7Goals(
      results({ v1Added: 7 * MiB, v3Added: 5 * MiB, v1s: 6, readV3: 210, diffS: 0.9 }),
    );
    expect(row(good, 'v1 (1% edited) stores')).toMatch(/1\.75% of v0.*\| met/);
    expect(row(good, 'v3 (10% deleted) stores')).toMatch(/1\.25% of v0.*\| met/);
    expect(row(good, 'commit of v1 and v3')).toMatch(/\| met/);
    expect(row(good, 'diff v0..v1')).toMatch(/exact.*\| met/);
    expect(row(good, 'library read of v3')).toMatch(/84%.*\| met/);
    // 5% appended (50 MiB raw) at v0's ratio (0.4) is 20 MiB; 20 MiB were added: met.
    expect(row(good, 'v2 (5% appended)')).toMatch(/20\.0 MiB.*\| met/);

    const bad = issue7Goals(results({ v1Added: 9 * MiB, v3Added: 5 * MiB, v1s: 11, readV3: 190, diffS: 2 }));
    expect(row(bad, 'v1 (1% edited) stores')).toMatch(/2\.25% of v0.*NOT met/);
    expect(row(bad, 'commit of v1 and v3')).toMatch(/NOT met/);
    expect(row(bad, 'diff v0..v1')).toMatch(/NOT met/);
    expect(row(bad, 'library read of v3')).toMatch(/76%.*NOT met/);
  });

  it('says "not measured" when a step is missing, not met', () => {
    const r = results({ v1Added: MiB, v3Added: MiB, v1s: 1, readV3: 250, diffS: 0.5 });
    r.steps = r.steps.filter((s) => s.step !== 'library-stream');
    expect(row(issue7Goals(r), 'library read of v3')).toMatch(/not measured/);
  });
});
