import { describe, expect, it } from 'vitest';
import { isClean, parseBranch, parseCommitHash, parseDiffSummary } from '../../bench/tools/strata.js';

const H = 'a'.repeat(64);

describe('bench parsing of strata CLI output', () => {
  it('finds the commit hash in commit --json output', () => {
    expect(parseCommitHash(`{"commit":"${H}","tree":"${'b'.repeat(64)}"}\n`)).toBe(H);
    expect(parseCommitHash(`progress...\n{"type":"commit","commit":"${H}"}`)).toBe(H);
    expect(parseCommitHash('nothing here')).toBeUndefined();
  });

  it('sums the summary lines of diff --stat --json for one path', () => {
    const out = [
      '{"type":"change","path":"data/train.jsonl","kind":"modified"}',
      '{"type":"summary","path":"data/train.jsonl","counts":{"added":3,"removed":1,"modified":2}}',
      '{"type":"summary","path":"other.csv","counts":{"added":9,"removed":9,"modified":9}}',
      'not json',
    ].join('\n');
    expect(parseDiffSummary(out, 'data/train.jsonl')).toEqual({ added: 3, removed: 1, modified: 2 });
    expect(parseDiffSummary(out, 'missing.jsonl')).toBeNull();
    expect(parseDiffSummary('{"type":"summary","added":1,"removed":0,"modified":4}', 'x')).toEqual({
      added: 1,
      removed: 0,
      modified: 4,
    });
  });

  it('reads the branch and cleanliness from status --json', () => {
    const clean = `{"branch":"main","head":"${H}","staged":[],"unstaged":[],"untracked":[],"skipped":[]}`;
    expect(parseBranch(clean)).toBe('main');
    expect(parseBranch('On branch dev\nnothing to commit')).toBe('dev');
    expect(isClean(clean)).toBe(true);
    expect(isClean('{"branch":"main","unstaged":[{"path":"a"}]}')).toBe(false);
    expect(isClean('not json')).toBeNull();
  });
});
