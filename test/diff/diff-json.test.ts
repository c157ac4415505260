/**
 * JSON files in the diff (json-units.ts): a top-level array compared element by element in units of whole
 * elements, whatever its size; other documents as one example; malformed ones line by line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sideFromBytes, sideFromPieces, type DiffSide } from '../../src/core/diff/index.js';
import { JSON_UNIT_MAX } from '../../src/core/diff/json-units.js';
import { JsonArrayScanner } from '../../src/core/formats/json-array.js';
import { SHARED_DATA } from '../helpers/shared-data.js';
import { rng } from '../helpers/prng.js';
import { collect } from './helpers.js';

/** Records every readRange the engine makes (its reads of units). */
function ranges(side: DiffSide): { side: DiffSide; lengths: number[] } {
  const lengths: number[] = [];
  return {
    lengths,
    side: {
      ...side,
      readRange: (o, l) => {
        lengths.push(l);
        return side.readRange(o, l);
      },
    },
  };
}

/** Keys of every object in reverse order (the same example to the diff). */
function reorder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorder);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reorder(x)]),
    );
  return v;
}

const gsm = (): { question: string; answer: string }[] =>
  readFileSync(join(SHARED_DATA, 'gsm8k-test.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { question: string; answer: string });

describe('JSON array scanner', () => {
  it('finds the elements JSON.parse finds, for any split of the bytes into pushes', () => {
    const r = rng(7);
    const values: unknown[] = [
      1,
      -2.5e3,
      'a ] , [ { "',
      'é 😀 \\ "q"',
      'ends with a backslash \\',
      '\\\\"\\"',
      { '\\': ['"\\', '\\\\\\'] },
      true,
      null,
      false,
      [],
      {},
      { a: [1, { b: '}]' }], c: 'x' },
      [[['deep']]],
    ];
    for (let round = 0; round < 200; round++) {
      const arr = Array.from({ length: Math.floor(r() * 12) }, () => values[Math.floor(r() * values.length)]);
      const text = r() < 0.5 ? JSON.stringify(arr) : JSON.stringify(arr, null, Math.floor(r() * 4));
      const bytes = Buffer.from((r() < 0.2 ? '\ufeff' : '') + text + (r() < 0.5 ? '\n' : ''));
      const got: unknown[] = [];
      const s = new JsonArrayScanner(
        (_s, _e, i, b) => got.push([i, JSON.parse(Buffer.from(b!).toString())]),
        {
          collect: true,
        },
      );
      for (let i = 0; i < bytes.length;) {
        const n = 1 + Math.floor(r() * 9);
        s.push(bytes.subarray(i, i + n));
        i += n;
      }
      s.end();
      expect(s.error).toBeUndefined();
      expect(s.kind).toBe('array');
      expect(got).toEqual(arr.map((v, i) => [i, v]));
    }
  });

  it('reports the first structural error with its byte offset', () => {
    const err = (text: string): string | undefined => {
      const s = new JsonArrayScanner(() => {});
      s.push(Buffer.from(text));
      s.end();
      return s.error?.message;
    };
    expect(err('[1,]')).toBe('expected an array element at byte 3');
    expect(err('[1 2]')).toBe("expected ',' or ']' after an array element at byte 3");
    expect(err('[1,2] x')).toBe('expected the end of the document at byte 6');
    expect(err('[{"a":"b"}')).toBe("expected ']' at byte 10");
    expect(err('[{"a":"b]')).toBe('expected the end of an element at byte 9');
    expect(err('')).toBe('expected a JSON value (the document is empty) at byte 0');
    expect(err('{"a":1} ')).toBeUndefined();
    expect(err('{"a":1} 2')).toBe('expected the end of the document at byte 8');
  });
});

describe('diff of JSON arrays', () => {
  it('edits, deletions, insertions and reordered keys: exactly the edits, in units that cancel', async () => {
    const before = gsm();
    const after = before.map((e) => reorder(e)) as typeof before;
    after[10] = { ...after[10]!, answer: 'forty-two' };
    after[700] = { ...after[700]!, question: after[700]!.question + ' Explain.' };
    after.splice(900, 1); // was 900
    after.splice(400, 0, { question: 'inserted?', answer: 'yes' });
    const b = ranges(sideFromBytes('g.json', JSON.stringify(before, null, 2), { avgSize: 8192 }));
    const a = ranges(sideFromBytes('g.json', JSON.stringify(after, null, 1), { avgSize: 8192 }));
    const r = await collect(b.side, a.side);
    expect(r.warnings).toEqual([]);
    expect(r.summary.counts).toEqual({ added: 1, removed: 1, modified: 2 });
    const by = (k: string) => r.changes.filter((c) => c.kind === k);
    expect(by('modified').map((c) => c.index)).toEqual([
      { before: 10, after: 10 },
      { before: 700, after: 701 },
    ]);
    expect(by('modified')[0]!.fields?.map((f) => f.path)).toEqual(['answer']);
    expect(by('removed')[0]).toMatchObject({ index: { before: 900 }, before: before[900] });
    expect(by('added')[0]).toMatchObject({ index: { after: 400 }, after: { question: 'inserted?' } });
    // Reformatted and reordered everywhere: no unit cancels, but each read is one unit, never the file.
    for (const l of [...b.lengths, ...a.lengths]) expect(l).toBeLessThan(JSON_UNIT_MAX + 4096);
  });

  it('units both sides share cancel unparsed; memory stays a unit whatever the file size', async () => {
    const base = Array.from({ length: 20_000 }, (_, i) => ({ id: i, text: `example ${i} `.repeat(5) }));
    const edited = base.slice();
    edited[12_345] = { id: 12_345, text: 'changed' };
    const b = ranges(sideFromBytes('big.json', JSON.stringify(base), { avgSize: 16384 }));
    const a = ranges(sideFromBytes('big.json', JSON.stringify(edited), { avgSize: 16384 }));
    const r = await collect(b.side, a.side, { key: ['id'] });
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.changes[0]).toMatchObject({ key: 12_345, index: { before: 12_345, after: 12_345 } });
    // ~1.5 MB a side: the engine parsed one unit (or two) a side, not the file.
    const size = b.side.size;
    expect(size).toBeGreaterThan(1_000_000);
    const read = b.lengths.reduce((n, l) => n + l, 0) + a.lengths.reduce((n, l) => n + l, 0);
    expect(read).toBeLessThan(4 * JSON_UNIT_MAX);
    expect(r.summary.cost.piecesShared).toBeGreaterThan(2);
  });

  it('exact whatever the pieces: an edit at the start of an element that began in an earlier piece', async () => {
    // Units are named by the hash of their bytes, read piece by piece while their first element is still
    // being scanned: every byte must count, including those before the piece where the element ended.
    // Same-length edits and fixed-size pieces: both sides cut their pieces at the same offsets, so a unit
    // id that missed the bytes of its first element before the piece it ended in would match the other side.
    const fixed = (text: string, size: number): Buffer[] => {
      const b = Buffer.from(text);
      return Array.from({ length: Math.ceil(b.length / size) }, (_, i) =>
        b.subarray(i * size, (i + 1) * size),
      );
    };
    for (const size of [4096, 65536]) {
      // Elements of more than JSON_UNIT_MAX: each is a unit of its own, which begins pieces before it ends.
      const big = 'w '.repeat(JSON_UNIT_MAX / 2 + 100);
      const base = Array.from({ length: 12 }, (_, i) => ({ k: `a${i}`, text: big }));
      const edited = base.map((e, i) => (i === 3 || i === 7 ? { ...e, k: `b${i}` } : e));
      const res = await collect(
        sideFromPieces('s.json', 'json', fixed(JSON.stringify(base), size)),
        sideFromPieces('s.json', 'json', fixed(JSON.stringify(edited), size)),
      );
      expect(res.summary.counts).toEqual({ added: 0, removed: 0, modified: 2 });
      expect(res.summary.cost.piecesShared).toBe(20);
    }
  });

  it('elements split across pieces (multi-byte UTF-8 too) and a one-value document', async () => {
    const text = JSON.stringify([{ s: 'ééé😀' }, { s: 'b' }]);
    const bytes = Buffer.from(text);
    const pieces = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    const r = await collect(
      sideFromPieces('p.json', 'json', pieces),
      sideFromBytes('p.json', JSON.stringify([{ s: 'ééé😀' }, { s: 'c' }])),
    );
    expect(r.changes).toMatchObject([
      { kind: 'modified', index: { before: 1, after: 1 }, after: { s: 'c' } },
    ]);
    const one = await collect(
      sideFromBytes('o.json', '{"a":1,"b":[1]}'),
      sideFromBytes('o.json', '{"b":[1,2],"a":1}'),
    );
    expect(one.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(one.changes[0]!.index).toBeUndefined();
    expect(one.changes[0]!.fields).toEqual([{ path: 'b[1]', kind: 'added', after: 2 }]);
  });

  it('a document that is not a JSON array of values is compared line by line, with a note', async () => {
    const r = await collect(
      sideFromBytes('m.json', '[\n{"a":1},\n{"a":2}\n{"a":3}\n]\n'),
      sideFromBytes('m.json', '[\n{"a":1},\n{"a":5}\n{"a":3}\n]\n'),
    );
    expect(r.warnings.map((w) => w.message)).toContain(
      "not a JSON document (expected ',' or ']' after an array element at byte 19); compared line by line",
    );
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.changes[0]).toMatchObject({
      before: '{"a":2}',
      after: '{"a":5}',
      line: { before: 3, after: 3 },
    });
  });

  it('a malformed element is a raw change with a warning, not an abort', async () => {
    const r = await collect(
      sideFromBytes('e.json', '[{"a":1},{"a":2}]'),
      sideFromBytes('e.json', '[{"a":1},{"a" 3}]'),
    );
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.changes[0]).toMatchObject({ raw: true, after: '{"a" 3}' });
    expect(r.warnings.length).toBeGreaterThan(0);
  });
});
