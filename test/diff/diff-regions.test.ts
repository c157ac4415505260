// The byte-level fast path for line files: changed regions (runs of pieces that do not cancel) are compared
// line by line, equal lines are never parsed, and only the lines left are hashed and parsed.
import { describe, expect, it } from 'vitest';
import { sideFromBytes, sideFromPieces } from '../../src/core/diff/index.js';
import { renderJsonLine } from '../../src/cli/diff-output.js';
import { collect, instrument, jsonl } from './helpers.js';

const row = (i: number, text = `example ${i} with a few words`) => ({ id: i, text, meta: { n: i } });
const rows = (n: number, edit: (i: number) => string | undefined = () => undefined) =>
  Array.from({ length: n }, (_, i) => row(i, edit(i)));

describe('changed regions of line files', () => {
  it('several in-place edits inside one changed piece, equal lines between them', async () => {
    const edited = new Set([3, 9, 10, 17]);
    const b = sideFromPieces('r.jsonl', 'jsonl', [
      jsonl(rows(5)),
      jsonl(rows(20).slice(5)),
      jsonl([row(20)]),
    ]);
    const a = sideFromPieces('r.jsonl', 'jsonl', [
      jsonl(rows(5, (i) => (edited.has(i) ? `edited ${i}` : undefined))),
      jsonl(rows(20, (i) => (edited.has(i) ? `edited ${i}` : undefined)).slice(5)),
      jsonl([row(20)]),
    ]);
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 4 });
      expect(r.changes.map((c) => c.line)).toEqual(
        [3, 9, 10, 17].map((i) => ({ before: i + 1, after: i + 1 })),
      );
      expect(r.changes.every((c) => c.fields?.[0]?.path === 'text')).toBe(true);
      expect(r.summary.cost.piecesShared).toBe(2);
      expect(r.summary.cost.piecesRead).toBe(4);
    }
  });

  it('an insertion and a deletion in one region are added and removed; the rest of the region is unchanged', async () => {
    const base = rows(30);
    const after = [...base.slice(0, 4), row(100, 'new'), ...base.slice(4, 20), ...base.slice(21)];
    const b = sideFromPieces('r.jsonl', 'jsonl', [jsonl(base)]);
    const a = sideFromPieces('r.jsonl', 'jsonl', [jsonl(after)]);
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual({ added: 1, removed: 1, modified: 0 });
      expect(r.changes.map((c) => [c.kind, c.line])).toEqual([
        ['added', { after: 5 }],
        ['removed', { before: 21 }],
      ]);
    }
  });

  it('a line whose keys were reordered is unchanged, in any region', async () => {
    const b = sideFromPieces('o.jsonl', 'jsonl', [
      jsonl(rows(6)),
      '{"id":50,"text":"moved and reordered","meta":{"n":1}}\n',
    ]);
    const a = sideFromPieces('o.jsonl', 'jsonl', [
      '{"meta":{"n":1},"text":"moved and reordered","id":50}\n' +
        jsonl(rows(6, (i) => (i === 2 ? 'x' : undefined))),
    ]);
    const r = await collect(b, a);
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.changes[0]).toMatchObject({ kind: 'modified', line: { before: 3, after: 4 } });
  });

  it('with a key, duplicate keys among unchanged lines of a changed piece are still reported', async () => {
    const base = [...rows(8), row(3, 'a second example 3')];
    const b = sideFromPieces('d.jsonl', 'jsonl', [jsonl(base)]);
    const a = sideFromPieces('d.jsonl', 'jsonl', [jsonl(base.map((r) => (r.id === 6 ? row(6, 'six') : r)))]);
    const r = await collect(b, a, { key: ['id'] });
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.summary.duplicateKeys).toEqual({ before: 1, after: 1, keys: [3] });
    expect(r.changes[0]).toMatchObject({ key: 6, kind: 'modified' });
    expect(r.changes[0]!.duplicate).toBeUndefined();
  });

  it('a one-example edit in a large file reads each changed piece once', async () => {
    const base = rows(4000);
    const b = instrument(sideFromBytes('l.jsonl', jsonl(base), { avgSize: 4096 }));
    const a = instrument(
      sideFromBytes('l.jsonl', jsonl(base.map((r) => (r.id === 1234 ? row(1234, 'edited') : r))), {
        avgSize: 4096,
      }),
    );
    const r = await collect(b.side, a.side);
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(new Set(b.read).size).toBe(b.read.length);
    expect(new Set(a.read).size).toBe(a.read.length);
  });

  it('field changes are computed when read and are part of the event', async () => {
    const b = sideFromBytes('f.jsonl', jsonl(rows(3)));
    const a = sideFromBytes('f.jsonl', jsonl(rows(3, (i) => (i === 1 ? 'other words' : undefined))));
    const r = await collect(b, a);
    const c = r.changes[0]!;
    expect(Object.keys(c)).toContain('fields');
    expect(JSON.parse(renderJsonLine(c)).fields).toEqual([
      expect.objectContaining({ path: 'text', kind: 'changed', after: 'other words' }),
    ]);
    expect(c.fields).toBe(c.fields);
  });

  it('many scattered changes, a moved block, limits: exact counts, file order, the same first events', async () => {
    const base = rows(3000);
    const deleted = (i: number) => i % 37 === 5;
    const edited = (i: number) => i % 101 === 50 && !deleted(i);
    const after: ReturnType<typeof row>[] = [];
    let inserted = 0;
    for (let i = 0; i < 3000; i++) {
      if (i >= 100 && i < 110) continue; // moved to the end, unchanged
      if (!deleted(i)) after.push(edited(i) ? row(i, `edited ${i}: other words entirely`) : base[i]!);
      if (i % 500 === 250) after.push(row(10_000 + inserted++, `inserted ${inserted}`));
    }
    after.push(...base.slice(100, 110).filter((r) => !deleted(r.id)));
    const counts = {
      added: inserted,
      removed: base.filter((r) => deleted(r.id)).length,
      modified: base.filter((r) => edited(r.id) && (r.id < 100 || r.id >= 110)).length,
    };
    const b = sideFromBytes('m.jsonl', jsonl(base), { avgSize: 2048 });
    const a = sideFromBytes('m.jsonl', jsonl(after), { avgSize: 2048 });
    for (const opts of [{}, { key: ['id'] }]) {
      const r = await collect(b, a, opts);
      expect(r.summary.counts).toEqual(counts);
      expect(r.changes).toHaveLength(counts.added + counts.removed + counts.modified);
      const ids = (c: (typeof r.changes)[number]) => ((c.after ?? c.before) as { id: number }).id;
      expect(r.changes.filter((c) => c.kind === 'removed').map(ids)).toEqual(
        base.filter((r) => deleted(r.id)).map((r) => r.id),
      );
      // File order: the after position never goes back.
      let last = 0;
      for (const c of r.changes) {
        const pos = c.line?.after ?? c.line?.before ?? 0;
        if (c.line?.after !== undefined) {
          expect(pos).toBeGreaterThan(last);
          last = pos;
        }
      }
      const firstTen = await collect(b, a, { ...opts, limit: 10 });
      expect(firstTen.summary.counts).toEqual(counts);
      expect(firstTen.changes.map((c) => renderJsonLine(c))).toEqual(
        r.changes.slice(0, 10).map((c) => renderJsonLine(c)),
      );
    }
  });
});
