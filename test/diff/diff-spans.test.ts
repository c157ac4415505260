// Sub-chunk spans (FORMAT.md "file/v1"): a new version stored as sub-ranges of old chunks plus new chunks for
// the edited records. The diff refines both span lists so that the shared sub-ranges cancel unread.
import { describe, expect, it } from 'vitest';
import { Repository } from '../../src/core/repository.js';
import type { Span } from '../../src/core/objects/objects.js';
import type { Hash } from '../../src/storage/hash.js';
import { refineSpans, sameContent, sidesFromManifests } from '../../src/core/diff/repo-sides.js';
import { tempDir } from '../core/helpers.js';
import { collect, instrument } from './helpers.js';

const line = (id: number, text = `example ${id} with a handful of words in it`): string =>
  JSON.stringify({ id, text, meta: { n: id } }) + '\n';

/** Three old chunks of ten records each, stored whole. */
function setup(format = 'jsonl'): {
  repo: Repository;
  chunks: Hash[];
  lines: string[][];
  at: (c: number, rec: number) => number;
  put: (spans: Span[]) => ReturnType<Repository['objects']['manifest']>;
} {
  const repo = Repository.init(tempDir());
  const lines = [0, 1, 2].map((c) => Array.from({ length: 10 }, (_, i) => line(c * 10 + i)));
  const chunks = lines.map((ls) => repo.objects.putChunk(Buffer.from(ls.join(''))));
  const at = (c: number, rec: number): number => Buffer.byteLength(lines[c]!.slice(0, rec).join(''));
  const put = (spans: Span[]) => {
    const size = spans.reduce((n, s) => n + s[2], 0);
    return repo.objects.manifest(repo.objects.putManifest({ size, format }, spans));
  };
  return { repo, chunks, lines, at, put };
}

describe('sub-chunk spans', () => {
  it('refineSpans cuts both sides at the union of boundaries within shared chunks only', () => {
    const A = 'a'.repeat(64) as Hash;
    const B = 'b'.repeat(64) as Hash;
    const N = 'c'.repeat(64) as Hash;
    const [x, y] = refineSpans(
      [
        [A, 0, 100],
        [B, 0, 50],
      ],
      [
        [A, 0, 30],
        [N, 0, 7],
        [A, 40, 60],
        [N, 7, 3],
      ],
    );
    expect(x).toEqual([
      [A, 0, 30],
      [A, 30, 10],
      [A, 40, 60],
      [B, 0, 50],
    ]);
    expect(y).toEqual([
      [A, 0, 30],
      [N, 0, 7],
      [A, 40, 60],
      [N, 7, 3],
    ]);
  });

  it('edited, inserted and deleted records: exact changes, and the shared sub-ranges are never read', async () => {
    const { repo, chunks, at, put } = setup();
    const [C0, C1, C2] = chunks as [Hash, Hash, Hash];
    const end = (c: number): number => at(c, 10);
    // New records: record 14 (chunk 1, #4) and 26 (chunk 2, #6) edited; a new record 99 inserted after 5.
    const e14 = line(14, 'example 14 rewritten by hand');
    const ins = line(99, 'a brand new example that resembles nothing else at all here');
    const e26 = line(26, 'example 26 rewritten by hand');
    const N = repo.objects.putChunk(Buffer.from(e14 + ins + e26));
    const n14 = Buffer.byteLength(e14);
    const nIns = Buffer.byteLength(ins);
    const n26 = Buffer.byteLength(e26);
    const oldM = put([
      [C0, 0, end(0)],
      [C1, 0, end(1)],
      [C2, 0, end(2)],
    ]);
    // Record 28 (chunk 2, #8) deleted.
    const newM = put([
      [C0, 0, at(0, 6)],
      [N, n14, nIns],
      [C0, at(0, 6), end(0) - at(0, 6)],
      [C1, 0, at(1, 4)],
      [N, 0, n14],
      [C1, at(1, 5), end(1) - at(1, 5)],
      [C2, 0, at(2, 6)],
      [N, n14 + nIns, n26],
      [C2, at(2, 7), at(2, 8) - at(2, 7)],
      [C2, at(2, 9), end(2) - at(2, 9)],
    ]);
    const [bs, as] = sidesFromManifests(repo, 'd.jsonl', oldM, newM);
    for (const opts of [{}, { key: ['id'] }]) {
      const b = instrument(bs!);
      const a = instrument(as!);
      const r = await collect(b.side, a.side, opts);
      expect(r.summary.counts).toEqual({ added: 1, removed: 1, modified: 2 });
      expect(
        r.changes
          .map((c) => [c.kind, (c.before ?? c.after) as { id: number }])
          .map(([k, v]) => [k, (v as { id: number }).id]),
      ).toEqual([
        ['added', 99],
        ['modified', 14],
        ['modified', 26],
        ['removed', 28],
      ]);
      // Only the replaced old ranges and the new chunk's ranges are read; every shared piece cancels.
      const sharedB = new Set(a.side.pieces.map((p) => p.id));
      const sharedA = new Set(b.side.pieces.map((p) => p.id));
      expect(b.read.length).toBeGreaterThan(0);
      for (const i of b.read) expect(sharedB.has(b.side.pieces[i]!.id)).toBe(false);
      for (const i of a.read) expect(sharedA.has(a.side.pieces[i]!.id)).toBe(false);
      const readB = b.read.map((i) => b.side.pieces[i]!.length).sort((x, y) => x - y);
      const recLen = (c: number, k: number): number => at(c, k + 1) - at(c, k);
      expect(readB).toEqual([recLen(1, 4), recLen(2, 6), recLen(2, 8)].sort((x, y) => x - y));
      expect(a.read.map((i) => a.side.pieces[i]!.length).sort((x, y) => x - y)).toEqual(
        [n14, nIns, n26].sort((x, y) => x - y),
      );
      expect(r.summary.cost.bytesRead).toBe(recLen(1, 4) + recLen(2, 6) + recLen(2, 8) + n14 + nIns + n26);
    }
  });

  it('sides paired by the repository (partner arrays) diff exactly as sides matched by piece ids', async () => {
    const { repo, chunks, at, put } = setup();
    const [C0, C1, C2] = chunks as [Hash, Hash, Hash];
    // Moved, repeated, dropped and cut ranges: the walk in order and the multiset both pair some.
    const oldM = put([
      [C0, 0, at(0, 10)],
      [C1, 0, at(1, 10)],
      [C2, 0, at(2, 10)],
      [C1, 0, at(1, 10)],
    ]);
    const newM = put([
      [C2, 0, at(2, 4)],
      [C0, 0, at(0, 10)],
      [C1, 0, at(1, 10)],
      [C2, at(2, 6), at(2, 10) - at(2, 6)],
      [C0, at(0, 2), at(0, 3) - at(0, 2)],
    ]);
    const [bs, as] = sidesFromManifests(repo, 'd.jsonl', oldM, newM);
    expect(bs!.partner).toBeDefined();
    expect(as!.partner).toBeDefined();
    // Every partner is mutual and names a piece with the same id.
    bs!.partner!.forEach((j, i) => {
      if (j < 0) return;
      expect(as!.partner![j]).toBe(i);
      expect(as!.pieces[j]!.id).toBe(bs!.pieces[i]!.id);
    });
    const paired = await collect(bs, as);
    const byIds = await collect({ ...bs!, partner: undefined }, { ...as!, partner: undefined });
    expect(paired.events).toEqual(byIds.events);
    expect(paired.summary.cost.piecesShared).toBeGreaterThan(0);
  });

  it('a version that re-cuts the same bytes into sub-ranges is identical, nothing read', async () => {
    const { repo, chunks, at, put } = setup();
    const [C0, C1, C2] = chunks as [Hash, Hash, Hash];
    const oldM = put([
      [C0, 0, at(0, 10)],
      [C1, 0, at(1, 10)],
      [C2, 0, at(2, 10)],
    ]);
    const newM = put([
      [C0, 0, at(0, 3)],
      [C0, at(0, 3), at(0, 10) - at(0, 3)],
      [C1, 0, at(1, 10)],
      [C2, 0, at(2, 5)],
      [C2, at(2, 5), at(2, 10) - at(2, 5)],
    ]);
    const [bs, as] = sidesFromManifests(repo, 'd.jsonl', oldM, newM);
    const b = instrument(bs!);
    const a = instrument(as!);
    const r = await collect(b.side, a.side);
    expect(r.summary.identical).toBe(true);
    expect(r.summary.status).toBe('unchanged');
    expect([...b.read, ...a.read]).toEqual([]);
  });

  it('equal "content" fields mean the same file; different ones do not', () => {
    const { repo, chunks, at } = setup();
    const [C0] = chunks as [Hash];
    const content = 'f'.repeat(64);
    const whole = repo.objects.putManifest({ size: at(0, 10), format: 'jsonl' }, [[C0, 0, at(0, 10)]]);
    const cut = repo.objects.putManifest({ size: at(0, 10), format: 'jsonl', content: whole } as never, [
      [C0, 0, at(0, 2)],
      [C0, at(0, 2), at(0, 10) - at(0, 2)],
    ]);
    const other = repo.objects.putManifest({ size: at(0, 10), format: 'jsonl', content } as never, [
      [C0, 0, at(0, 10)],
    ]);
    const m = (h: Hash) => repo.objects.manifest(h);
    expect(sameContent(whole, m(whole), cut, m(cut))).toBe(true);
    expect(sameContent(cut, m(cut), whole, m(whole))).toBe(true);
    expect(sameContent(whole, m(whole), other, m(other))).toBe(false);
    expect(sameContent(cut, m(cut), other, m(other))).toBe(false);
  });

  it('CSV spans are not refined (a quoted newline may make a cut fall inside a record): still exact', async () => {
    const repo = Repository.init(tempDir());
    const header = 'id,text\n';
    const rows = Array.from({ length: 8 }, (_, i) => `${i},"line one of ${i}\nline two"\n`);
    const H = repo.objects.putChunk(Buffer.from(header));
    const C = repo.objects.putChunk(Buffer.from(rows.join('')));
    const len = (k: number): number => Buffer.byteLength(rows.slice(0, k).join(''));
    const edited = `3,"line one of 3\nedited"\n`;
    const N = repo.objects.putChunk(Buffer.from(edited));
    const total = (spans: Span[]): number => spans.reduce((n, s) => n + s[2], 0);
    const oldSpans: Span[] = [
      [H, 0, header.length],
      [C, 0, len(8)],
    ];
    const newSpans: Span[] = [
      [H, 0, header.length],
      [C, 0, len(3)],
      [N, 0, Buffer.byteLength(edited)],
      [C, len(4), len(8) - len(4)],
    ];
    const oldM = repo.objects.manifest(
      repo.objects.putManifest({ size: total(oldSpans), format: 'csv' }, oldSpans),
    );
    const newM = repo.objects.manifest(
      repo.objects.putManifest({ size: total(newSpans), format: 'csv' }, newSpans),
    );
    const [b, a] = sidesFromManifests(repo, 'd.csv', oldM, newM);
    expect(b!.pieces).toHaveLength(2);
    const r = await collect(b, a);
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.changes[0]!.after).toEqual({ id: '3', text: 'line one of 3\nedited' });
  });
});
