// The fingerprints of unchanged lines' keys (diff-file.ts, KeyPresence): a key that recurs where one
// occurrence is an unchanged line, or a set past its budget that holds (or then meets) an unchanged line's
// key, sends the diff to its exact second run; keys of changed examples alone never do. And through repository sides, that second run reads the pieces again.
import { describe, expect, it } from 'vitest';
import { KeyPresence } from '../../src/core/diff/key-presence.js';
import { sidesFromManifests } from '../../src/core/diff/repo-sides.js';
import type { Span } from '../../src/core/objects/objects.js';
import { Repository } from '../../src/core/repository.js';
import { tempDir } from '../core/helpers.js';
import { collect } from './helpers.js';

describe('KeyPresence', () => {
  it('is in conflict once an unchanged line’s key recurs, whatever came first', () => {
    const cases: Array<[boolean, boolean, boolean]> = [
      [true, true, true], // two unchanged lines
      [true, false, true], // unchanged, then changed
      [false, true, true], // changed, then unchanged
      [false, false, false], // two changed examples: their own duplicate groups handle them
    ];
    for (const [first, second, conflict] of cases) {
      const p = new KeyPresence(1 << 20);
      for (let i = 0; i < 5000; i++) expect(p.add(`["k${i}"]`, i % 2 === 0)).toBe(true);
      p.add('["x"]', first);
      p.add('["x"]', second);
      expect(p.conflict).toBe(conflict);
    }
  });

  it('grows past its first table and keeps every key, and gives up (conflict) past its budget', () => {
    const p = new KeyPresence(1 << 20);
    for (let i = 0; i < 20_000; i++) p.add(String(i), true);
    expect(p.conflict).toBe(false);
    p.add('12345', false);
    expect(p.conflict).toBe(true);
    const small = new KeyPresence(64 * 1024);
    for (let i = 0; i < 20_000 && !small.conflict; i++) small.add(String(i), true);
    expect(small.conflict).toBe(true);
    expect(small.add('new', true)).toBe(false);
  });

  it('past its budget with only changed examples’ keys, stays out of conflict until an equal line comes', () => {
    // A keyed shuffle: one region of changed examples, more keys than the budget holds. Running the diff a
    // second time would change nothing: changed examples' keys alone never conflict.
    const p = new KeyPresence(64 * 1024);
    for (let i = 0; i < 50_000; i++) expect(p.add(String(i), false)).toBe(true);
    expect(p.conflict).toBe(false);
    // An equal line now could recur among the keys no longer kept: only the exact run can tell.
    expect(p.add('49999', true)).toBe(false);
    expect(p.conflict).toBe(true);
    // An equal line's key before the budget is reached: passing it is a conflict, as before.
    const q = new KeyPresence(64 * 1024);
    q.add('e', true);
    for (let i = 0; i < 50_000 && !q.conflict; i++) q.add(String(i), false);
    expect(q.conflict).toBe(true);
  });
});

describe('an unchanged line whose key recurs, through repository sides', () => {
  it('is reported as a duplicate exactly as a record per line reports it', async () => {
    const repo = Repository.init(tempDir());
    const line = (id: number, text = `example ${id}`) => JSON.stringify({ id, text }) + '\n';
    const ids = Array.from({ length: 12 }, (_, i) => i);
    const oldText = ids.map((i) => line(i)).join('');
    // Example 5 edited; a new example with the key of unchanged example 3 appended to the same chunk.
    const newText = ids.map((i) => (i === 5 ? line(5, 'five') : line(i))).join('') + line(3, 'another three');
    const put = (text: string) => {
      const h = repo.objects.putChunk(Buffer.from(text));
      const spans: Span[] = [[h, 0, Buffer.byteLength(text)]];
      return repo.objects.manifest(repo.objects.putManifest({ size: spans[0]![2], format: 'jsonl' }, spans));
    };
    const [b, a] = sidesFromManifests(repo, 'd.jsonl', put(oldText), put(newText));
    const r = await collect(b!, a!, { key: ['id'] });
    expect(r.summary.counts).toEqual({ added: 1, removed: 0, modified: 1 });
    expect(r.summary.duplicateKeys).toEqual({ before: 0, after: 1, keys: [3] });
    expect(r.changes.map((c) => [c.kind, c.key])).toEqual([
      ['modified', 5],
      ['added', 3],
    ]);
  });
});
