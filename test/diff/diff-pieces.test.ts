// Pieces present on both sides cancel as a multiset (the k-th occurrence of an id before with its k-th after),
// by typed arrays rather than objects per piece; line numbers come from the pieces' line counts while every
// earlier piece has one. Hand-made sides: the ids say which bytes are equal.
import { describe, expect, it } from 'vitest';
import type { DiffPiece, DiffSide, FileFormat } from '../../src/core/diff/index.js';
import { collect, instrument } from './helpers.js';

type P = { id: string; text: string; lines?: boolean };

function side(format: FileFormat, parts: P[]): DiffSide {
  const bytes = parts.map((p) => Buffer.from(p.text));
  const pieces: DiffPiece[] = parts.map((p, i) => ({
    id: p.id,
    length: bytes[i]!.length,
    ...(p.lines === false ? {} : { lines: p.text.split('\n').length - 1 }),
  }));
  const all = Buffer.concat(bytes);
  return {
    path: `d.${format}`,
    format,
    size: all.length,
    pieces,
    readPiece: async (i) => bytes[i]!,
    readRange: async (offset, length) => all.subarray(offset, offset + length),
  };
}

const rows = (...ids: number[]): string =>
  ids.map((id) => JSON.stringify({ id, v: `row ${id}` }) + '\n').join('');

describe('shared pieces', () => {
  const A: P = { id: 'A', text: rows(1, 2) };
  const B: P = { id: 'B', text: rows(3) };
  const C: P = { id: 'C', text: rows(4, 5) };

  it('cancel as a multiset: a piece occurring once more before is read and removed, the others are not', async () => {
    const b = instrument(side('jsonl', [A, B, A, C, A]));
    const a = instrument(side('jsonl', [A, C, A, A]));
    const r = await collect(b.side, a.side);
    expect(r.summary.counts).toEqual({ added: 0, removed: 1, modified: 0 });
    expect(r.changes.map((c) => [c.kind, (c.before as { id: number }).id, c.line?.before])).toEqual([
      ['removed', 3, 3],
    ]);
    expect(b.read).toEqual([1]);
    expect(a.read).toEqual([]);
    expect(r.summary.cost.piecesShared).toBe(8);
  });

  it('pieces that moved still cancel; only the changed ones are read', async () => {
    const D: P = { id: 'D', text: rows(6) };
    const D2: P = { id: 'D2', text: rows(7) };
    const b = instrument(side('jsonl', [A, B, C, D]));
    const a = instrument(side('jsonl', [C, A, D2, B]));
    const r = await collect(b.side, a.side);
    expect(r.summary.counts).toEqual({ added: 1, removed: 1, modified: 0 });
    expect(b.read).toEqual([3]);
    expect(a.read).toEqual([2]);
    expect(r.changes.find((c) => c.kind === 'added')!.line).toEqual({ after: 5 });
  });

  it('line numbers stop where a piece does not know its line count', async () => {
    const b = side('jsonl', [A, { ...C, lines: false }, B]);
    const a = side('jsonl', [A, { ...C, lines: false }]);
    const r = await collect(b, a);
    expect(r.summary.counts).toEqual({ added: 0, removed: 1, modified: 0 });
    expect(r.changes[0]!.line).toBeUndefined();
    const known = await collect(side('jsonl', [A, C, B]), side('jsonl', [A, C]));
    expect(known.changes[0]!.line).toEqual({ before: 5 });
  });

  it('CSV (no line fast path): shared pieces anchor the changes in place', async () => {
    const H: P = { id: 'H', text: 'id,v\n' };
    const X: P = { id: 'X', text: '1,a\n2,b\n' };
    const Y: P = { id: 'Y', text: '3,c\n' };
    const Y2: P = { id: 'Y2', text: '3,C\n' };
    const Z: P = { id: 'Z', text: '4,d\n' };
    const b = instrument(side('csv', [H, X, Y, Z, X]));
    const a = instrument(side('csv', [H, X, Y2, Z]));
    const r = await collect(b.side, a.side);
    expect(r.summary.counts).toEqual({ added: 0, removed: 2, modified: 1 });
    expect(r.changes.map((c) => c.kind)).toEqual(['modified', 'removed', 'removed']);
    expect(b.read.sort()).toEqual([0, 2, 4]);
  });
});
