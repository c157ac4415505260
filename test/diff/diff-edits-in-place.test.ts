// Edits in place with a key (diff-file.ts settleInRegion): the old and new version of an example lie in one
// small region, are parsed once and settled there - equal values are no change, whatever their spelling; the
// pairs whose key is repeated, or whose partner lies elsewhere, are left to the key groups. Each case runs in
// memory and with the keys spilled to disk (a budget of 64 KiB), with and without events (--stat).
import { describe, expect, it } from 'vitest';
import type { DiffOptions } from '../../src/core/diff/index.js';
import { collect, spanCodedSides } from './helpers.js';

const CHUNKS = 40;
const PER_CHUNK = 10;
const N = CHUNKS * PER_CHUNK;
const row = (id: number) => ({ id, text: `example ${id} with a handful of words in it`, meta: { n: id } });
const line = (id: number): string => JSON.stringify(row(id)) + '\n';

/**
 * Old version: N records in CHUNKS chunks. New version: the same spans, except that the records in
 * `replace` are stored again (one new chunk per record, at its place) with the given lines.
 */
function setup(replace: Map<number, string>) {
  const lines = Array.from({ length: CHUNKS }, (_, c) =>
    Array.from({ length: PER_CHUNK }, (_, i) => line(c * PER_CHUNK + i)),
  );
  return spanCodedSides(lines, (c, r) => replace.get(c * PER_CHUNK + r));
}

const edited = (id: number) => JSON.stringify({ ...row(id), text: `example ${id}, rewritten` }) + '\n';
const reordered = (id: number) => {
  const { id: i, text, meta } = row(id);
  return JSON.stringify({ meta, text, id: i }) + '\n';
};

const MODES: Array<[string, DiffOptions]> = [
  ['in memory', { key: ['id'] }],
  ['in memory, counts only', { key: ['id'], limit: 0 }],
  ['spilled', { key: ['id'], memoryBudget: 64 * 1024 }],
  ['spilled, counts only', { key: ['id'], memoryBudget: 64 * 1024, limit: 0 }],
];

describe.each(MODES)('edits in place with a key (%s)', (_name, opts) => {
  it('edited examples are modified; reordered keys and respelled numbers are no change', async () => {
    const replace = new Map<number, string>();
    const want: number[] = [];
    for (let id = 5; id < N; id += 9) {
      if (id % 3 === 0) replace.set(id, reordered(id));
      else if (id % 3 === 1) replace.set(id, line(id).replace(`"n":${id}}`, `"n":${id}.0}`));
      else {
        replace.set(id, edited(id));
        want.push(id);
      }
    }
    const { b, a } = setup(replace);
    const r = await collect(b, a, opts);
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: want.length });
    if (opts.limit === 0) return;
    expect(r.changes.map((c) => c.key)).toEqual(want);
    expect(r.changes[0]!.fields?.map((f) => f.path)).toEqual(['text']);
  });

  it('a line that is not JSON any more is matched by content, with its warning', async () => {
    const { b, a } = setup(new Map([[13, '{"id": 13, "text": "not closed\n']]));
    const r = await collect(b, a, opts);
    // Without its key the broken line is matched by content: example 13 is removed, the line added.
    expect(r.summary.counts).toEqual({ added: 1, removed: 1, modified: 0 });
    expect(r.summary.warnings).toBeGreaterThan(0);
  });

  it('a key repeated in the region, and an edit that moved to another region, pair by the key groups', async () => {
    const replace = new Map<number, string>([
      // Example 21 edited and stored twice in its place: a duplicate key, 1 before and 2 after.
      [21, edited(21) + line(21)],
      // Example 42 deleted; its edited version stored in place of example 87 (which is kept after it).
      [42, ''],
      [87, line(87) + edited(42)],
      // Example 60 stored again with its keys reordered, next to an edited example 61.
      [60, reordered(60) + edited(61)],
      [61, ''],
    ]);
    const { b, a } = setup(replace);
    const r = await collect(b, a, opts);
    // 21: the exact copy cancels, the other one is added (duplicates are not merged); 42 and 61 modified.
    expect(r.summary.counts).toEqual({ added: 1, removed: 0, modified: 2 });
    expect(r.summary.duplicateKeys).toMatchObject({ before: 0, after: 1, keys: [21] });
    if (opts.limit === 0) return;
    expect(r.changes.filter((c) => c.kind === 'modified').map((c) => c.key)).toEqual([61, 42]); // in file order
  });
});
