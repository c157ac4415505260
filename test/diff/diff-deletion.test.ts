// A deletion whose new version also stored a few records again (a span-coded version with a small new chunk):
// the removed examples are checked without content ids (diff-file.ts `alone`), yet stay exact when one of
// the new side's records equals a removed one byte for byte, up to key order, or not at all.
import { describe, expect, it } from 'vitest';
import { sideFromBytes } from '../../src/core/diff/index.js';
import { collect, spanCodedSides } from './helpers.js';

const CHUNKS = 60;
const PER_CHUNK = 10;
const row = (id: number) => ({ id, text: `example ${id} with a handful of words in it`, meta: { n: id } });
const line = (id: number): string => JSON.stringify(row(id)) + '\n';

/** Old version: CHUNKS chunks of PER_CHUNK records; new version: every 7th record deleted, plus `extra`. */
function setup(extra: string | undefined, broken?: number) {
  const lines = Array.from({ length: CHUNKS }, (_, c) =>
    Array.from({ length: PER_CHUNK }, (_, i) => {
      const id = c * PER_CHUNK + i;
      return id === broken ? `{"id": ${id}, "text": "not closed\n` : line(id);
    }),
  );
  const deleted: number[] = [];
  const sides = spanCodedSides(
    lines,
    (c, r) => {
      const id = c * PER_CHUNK + r;
      // The last chunk keeps all its records: an extra record appended after it has no deletion beside it.
      if (id % 7 !== 3 || c === CHUNKS - 1) return undefined;
      deleted.push(id);
      return '';
    },
    extra,
  );
  return { ...sides, deleted };
}

describe('a deletion with a few records stored again', () => {
  it('the removed examples, exactly, when the new side holds nothing new', async () => {
    const { b, a, deleted } = setup(undefined);
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual({ added: 0, removed: deleted.length, modified: 0 });
    }
  });

  it('a removed example stored again byte for byte elsewhere is a move, not a change', async () => {
    const { b, a, deleted } = setup(line(3));
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual({ added: 0, removed: deleted.length - 1, modified: 0 });
      expect(r.changes.map((c) => (c.before as { id: number }).id)).not.toContain(3);
    }
  });

  it('a removed example stored again with its keys reordered is matched by content', async () => {
    const { meta, text, id } = row(10);
    const { b, a, deleted } = setup(JSON.stringify({ meta, text, id }) + '\n');
    expect(deleted).toContain(10);
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual({ added: 0, removed: deleted.length - 1, modified: 0 });
      expect(r.changes.map((c) => (c.before as { id: number }).id)).not.toContain(10);
    }
  });

  it('a new example is added; a malformed removed line is still warned about', async () => {
    const { b, a, deleted } = setup(line(100_000), 17);
    expect(deleted).toContain(17);
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual({ added: 1, removed: deleted.length, modified: 0 });
      expect(r.warnings.map((w) => w.message).join('\n')).toMatch(/line|JSON/);
      expect(r.changes.find((c) => c.kind === 'removed' && c.raw)).toBeDefined();
    }
  });

  it('keyed: a removed example stored again elsewhere, reordered and edited, is one modified example', async () => {
    const { meta, id } = row(10);
    const { b, a, deleted } = setup(JSON.stringify({ meta, text: 'rewritten', id }) + '\n');
    const r = await collect(b, a, { key: ['id'] });
    expect(r.summary.counts).toEqual({ added: 0, removed: deleted.length - 1, modified: 1 });
    const m = r.changes.find((c) => c.kind === 'modified')!;
    expect(m.key).toBe(10);
    expect(m.fields?.map((f) => f.path)).toEqual(['text']);
  });
});

describe('a key value the loose scan passes but JSON.parse refuses', () => {
  it('a raw tab in a key, in a large region (the keys read from the bytes): no crash, matched by content', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: `k${i}`, text: `row ${i}` }));
    const bad = '{"id":"a\tb","text":"x"}';
    const b = sideFromBytes('d.jsonl', [...rows, bad].join('\n') + '\n');
    const a = sideFromBytes(
      'd.jsonl',
      [...rows.slice().reverse(), bad.replace('"x"', '"y"')].join('\n') + '\n',
    );
    // A tiny budget: the region is large, and its lines are keyed by the loose scan (identifyKey).
    const r = await collect(b, a, { key: ['id'], memoryBudget: 2048 });
    expect(r.summary.counts).toEqual({ added: 1, removed: 1, modified: 0 });
    expect(r.warnings.length).toBeGreaterThan(0);
  });
});
