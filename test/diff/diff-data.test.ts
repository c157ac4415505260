import { SHARED_DATA } from '../helpers/shared-data.js';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sideFromBytes, sideFromFile } from '../../src/core/diff/index.js';
import { collect, instrument, jsonl } from './helpers.js';

const DATA = SHARED_DATA;

describe('diff on real datasets', () => {
  it('GSM8K test → test_socratic keyed by question: exactly 1,319 modified', async () => {
    const before = await sideFromFile(`${DATA}/gsm8k-test.jsonl`, { path: 'gsm8k/test.jsonl' });
    const after = await sideFromFile(`${DATA}/gsm8k-test_socratic.jsonl`, { path: 'gsm8k/test.jsonl' });
    const t0 = performance.now();
    const r = await collect(before, after, { key: ['question'] });
    const ms = performance.now() - t0;
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1319 });
    expect(r.changes).toHaveLength(1319);
    expect(r.warnings).toHaveLength(0);
    const first = r.changes[0]!;
    expect(first.line).toEqual({ before: 1, after: 1 });
    expect(first.fields?.map((f) => f.path)).toEqual(['answer']);
    expect(first.fields?.[0]?.words?.some((w) => w.added && w.value.includes('How many eggs'))).toBe(true);
    console.log(`gsm8k keyed diff: ${ms.toFixed(0)} ms`);
  });

  it('preference pairs: edits, deletions, insertions and a swap, nothing for reordered keys, no key', async () => {
    const lines = gunzipSync(readFileSync(`${DATA}/hh-rlhf-harmless-base-test.jsonl.gz`))
      .toString('utf8')
      .trim()
      .split('\n');
    const rows = lines.map((l) => JSON.parse(l) as { chosen: string; rejected: string });
    const n = rows.length;
    expect(n).toBe(2312);
    const edited = [10, 700, 1501];
    const deleted = [11, 900, 2000]; // 11 sits right next to an edited one
    const swapped = 1200;
    const after: Array<Record<string, string>> = [];
    rows.forEach((r, i) => {
      if (deleted.includes(i)) return;
      let { chosen, rejected } = r;
      if (edited.includes(i)) chosen = chosen + ' (edited by a reviewer)';
      if (i === swapped) [chosen, rejected] = [rejected, chosen];
      after.push({ rejected, chosen }); // every object's keys reordered
      if (i === 500 || i === 1800 || i === 2311)
        after.push({
          rejected: `\n\nHuman: new ${i}\n\nAssistant: no`,
          chosen: `\n\nHuman: new ${i}\n\nAssistant: yes`,
        });
    });
    const b = instrument(sideFromBytes('hh.jsonl', lines.join('\n') + '\n'));
    const a = sideFromBytes('hh.jsonl', jsonl(after));
    const r = await collect(b.side, a);
    expect(r.summary.counts).toEqual({ added: 3, removed: 3, modified: 4 });
    const mods = r.changes.filter((c) => c.kind === 'modified');
    expect(mods.map((c) => c.line?.before)).toEqual([11, 701, 1201, 1502]);
    const swap = mods.find((c) => c.line?.before === 1201)!;
    expect(swap.fields).toEqual([{ path: 'chosen', kind: 'swapped', with: 'rejected' }]);
    for (const c of mods.filter((m) => m !== swap)) {
      expect(c.fields).toHaveLength(1);
      expect(c.fields![0]!.path).toBe('chosen');
      expect(
        c
          .fields![0]!.words!.filter((w) => w.added)
          .map((w) => w.value)
          .join(''),
      ).toBe(' (edited by a reviewer)');
    }
    expect(r.changes.filter((c) => c.kind === 'removed').map((c) => c.line?.before)).toEqual([12, 901, 2001]);
    expect(
      r.changes
        .filter((c) => c.kind === 'added')
        .map((c) => (c.after as { chosen: string }).chosen.slice(9, 16)),
    ).toEqual(['new 500', 'new 180', 'new 231']);
  });
});
