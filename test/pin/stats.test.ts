// `strata stats`: per-file statistics of a revision's examples, for reviewing a dataset (exact counts on
// small data whose answers are known, and GSM8K's real file).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileStats } from '../../src/core/pin/stats.js';
import { ok, strata, tempDir } from '../core/helpers.js';
import { SHARED_DATA } from '../helpers/shared-data.js';

const records = (s: string): FileStats[] =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FileStats);

describe('strata stats', () => {
  it('counts examples, malformed ones, duplicates, keys, fields, chat turns and preference pairs', () => {
    const dir = tempDir('strata-stats-');
    const chat = (id: number, turns: [string, string][], extra = {}) =>
      JSON.stringify({ id, messages: turns.map(([role, content]) => ({ role, content })), ...extra });
    writeFileSync(
      join(dir, 'chat.jsonl'),
      [
        chat(1, [
          ['user', 'hi'],
          ['assistant', 'hello'],
        ]),
        chat(
          2,
          [
            ['system', 's'],
            ['user', 'q'],
            ['assistant', ''],
          ],
          { score: 0.5 },
        ),
        'not json',
        // The first example again with its keys in another order: an exact duplicate (and a duplicate key).
        JSON.stringify({
          messages: [
            { content: 'hi', role: 'user' },
            { role: 'assistant', content: 'hello' },
          ],
          id: 1,
        }),
        chat(3, [['user', 'x']], { score: null }),
        JSON.stringify({ messages: [] }), // no id: missing key
      ].join('\n') + '\n',
    );
    writeFileSync(
      join(dir, 'pairs.json'),
      JSON.stringify([
        { prompt: 'p1', chosen: 'a', rejected: 'b' },
        { prompt: 'p2', chosen: { t: 1 }, rejected: { t: 1 } },
        'a string',
      ]),
    );
    writeFileSync(join(dir, '.strataattributes'), 'chat.jsonl format=jsonl key=id\n');
    ok(dir, ['init']);
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'data']);
    const [c, p] = records(ok(dir, ['stats', 'HEAD', '--json'])).sort((a, b) => (a.path < b.path ? -1 : 1));
    expect(c).toMatchObject({
      path: 'chat.jsonl',
      examples: 5,
      malformed: 1,
      duplicates: 1,
      keys: { fields: ['id'], duplicates: 1, missing: 1 },
      nonObjects: 0,
      chat: {
        turns: { min: 0, max: 3, mean: 8 / 5 },
        roles: { user: 4, assistant: 3, system: 1 },
        emptyContent: 1,
      },
    });
    expect(c!.fields.id).toEqual({
      present: 4,
      types: { number: 4 },
      empty: 0,
      value: { min: 1, max: 3, mean: 7 / 4 },
    });
    expect(c!.fields.score).toEqual({
      present: 2,
      types: { number: 1, null: 1 },
      empty: 1,
      value: { min: 0.5, max: 0.5, mean: 0.5 },
    });
    expect(c!.fields.messages).toMatchObject({ present: 5, empty: 1, length: { min: 0, max: 3 } });
    expect(p).toMatchObject({
      path: 'pairs.json',
      examples: 3,
      nonObjects: 1,
      pairs: { examples: 2, identical: 1 },
      duplicates: 0,
    });
    expect(p!.keys).toBeUndefined();
    // --key overrides the attribute; the human form names what it counted.
    const human = ok(dir, ['stats', 'HEAD:chat.jsonl', '--key', 'messages']);
    expect(human).toContain('chat.jsonl  jsonl  5 examples');
    expect(human).toContain('malformed 1 · exact duplicates 1 · key messages: 1 duplicate, 0 missing');
    expect(human).toContain(
      'chat: turns 0 / 1.60 / 3; roles user 4, assistant 3, system 1; turns with empty content 1',
    );
    expect(strata(dir, ['stats', 'HEAD:nope.jsonl']).code).toBe(4);
  });

  it('examples of a later file also in an earlier one: a test set leaking into training data', () => {
    const dir = tempDir('strata-stats-leak-');
    const test = readFileSync(join(SHARED_DATA, 'gsm8k-test.jsonl'), 'utf8').split('\n').filter(Boolean);
    const train = readFileSync(join(SHARED_DATA, 'gsm8k-train.jsonl'), 'utf8').split('\n').filter(Boolean);
    // 7 test examples leaked into training data, one of them twice and one with its keys reordered.
    const leaked = [3, 50, 51, 400, 777, 1000, 1318].map((i) => test[i]!);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(leaked[1]!)).reverse()));
    writeFileSync(
      join(dir, 'a-train.jsonl'),
      [...train.slice(0, 2000), leaked[0], reordered, ...leaked.slice(2), leaked[0]].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'b-test.jsonl'), test.join('\n') + '\n');
    ok(dir, ['init']);
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'split']);
    const [a, b] = records(ok(dir, ['stats', 'HEAD', '--json']));
    expect(a).toMatchObject({ path: 'a-train.jsonl', examples: 2008, duplicates: 1, alsoIn: [] });
    expect(b).toMatchObject({
      path: 'b-test.jsonl',
      examples: 1319,
      duplicates: 0,
      alsoIn: [{ path: 'a-train.jsonl', examples: 7 }],
    });
    expect(ok(dir, ['stats', 'HEAD'])).toContain('7 of its examples are also in a-train.jsonl');
    // One file alone: nothing to compare with.
    expect(records(ok(dir, ['stats', 'HEAD:b-test.jsonl', '--json']))[0]!.alsoIn).toBeUndefined();
  });

  it('GSM8K test: 1,319 examples, two string fields always present, no duplicates', () => {
    const dir = tempDir('strata-stats-gsm-');
    const text = readFileSync(join(SHARED_DATA, 'gsm8k-test.jsonl'), 'utf8');
    writeFileSync(join(dir, 'test.jsonl'), text);
    ok(dir, ['init']);
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'gsm8k']);
    const [s] = records(ok(dir, ['stats', 'HEAD:test.jsonl', '--json']));
    const rows = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { question: string });
    const lens = rows.map((r) => r.question.length);
    expect(s).toMatchObject({ examples: 1319, malformed: 0, duplicates: 0 });
    expect(Object.keys(s!.fields)).toEqual(['question', 'answer']);
    expect(s!.fields.question!.length).toEqual({
      min: Math.min(...lens),
      max: Math.max(...lens),
      mean: lens.reduce((a, b) => a + b, 0) / lens.length,
    });
  });
});
