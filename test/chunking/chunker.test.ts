import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  Chunker,
  chunkFormatForPath,
  chunkStream,
  DEFAULT_CHUNK_PARAMS,
  type ChunkFormat,
  type ChunkParams,
} from '../../src/core/chunking/index.js';
import { isStrataError } from '../../src/storage/errors.js';
import { referenceChunkLengths } from './reference.js';
import { CSV_ALPHABET, TEXT_ALPHABET, vectorInput, xorshift32 } from './vectors.js';

const SMALL: ChunkParams = { min: 64, avg: 256, max: 1024 };
const FORMATS: ChunkFormat[] = ['jsonl', 'text', 'csv', 'tsv', 'binary'];

function chunkAll(data: Uint8Array, format: ChunkFormat, params?: ChunkParams): Uint8Array[] {
  const c = new Chunker(format, params);
  return [...c.push(data), ...c.finish()];
}

const lengths = (chunks: Uint8Array[]): number[] => chunks.map((c) => c.length);

/** Pushes `data` in pieces cut at random points (sizes 0 … maxPiece). */
function chunkInPieces(
  data: Uint8Array,
  format: ChunkFormat,
  params: ChunkParams,
  rnd: () => number,
  maxPiece: number,
) {
  const c = new Chunker(format, params);
  const out: Uint8Array[] = [];
  for (let p = 0; p < data.length;) {
    const n = Math.min(data.length - p, rnd() % (maxPiece + 1));
    out.push(...c.push(data.subarray(p, p + n)));
    p += n;
  }
  out.push(...c.finish());
  return out;
}

/** Random record-format input: short and long lines, quoted fields with embedded newlines, CRLF. */
function randomRecords(
  rnd: () => number,
  size: number,
  opts: { quotes: boolean; finalNewline: boolean },
): Uint8Array {
  const parts: string[] = [];
  let total = 0;
  while (total < size) {
    const kind = rnd() % 100;
    const len = kind < 2 ? 1500 + (rnd() % 4000) : kind < 10 ? 0 : 1 + (rnd() % 200);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(97 + (rnd() % 26));
    if (opts.quotes && rnd() % 3 === 0) s = `x,"${s.slice(0, len >> 1)}\n"",\r\n${s.slice(len >> 1)}",y`;
    s += rnd() % 7 === 0 ? '\r\n' : '\n';
    parts.push(s);
    total += s.length;
  }
  let text = parts.join('');
  if (!opts.finalNewline) text = text.replace(/\r?\n$/, '');
  return Buffer.from(text, 'latin1');
}

/** Record boundaries per the spec: after a '\n' preceded by an even number of quotes (CSV/TSV). */
function boundaries(data: Uint8Array, quoted: boolean): Set<number> {
  const set = new Set<number>([data.length]);
  let q = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x22) q++;
    else if (data[i] === 0x0a && (!quoted || q % 2 === 0)) set.add(i + 1);
  }
  return set;
}

describe('boundary test vectors (docs/FORMAT.md)', () => {
  // These lists are printed in docs/FORMAT.md; if they change, chunking changed and dedupe breaks.
  const text = vectorInput(TEXT_ALPHABET);
  const csv = vectorInput(CSV_ALPHABET);
  it('text input, default parameters', () => {
    const jsonl = [
      22204, 19559, 5852, 16953, 19539, 15832, 18663, 20584, 19026, 4348, 24848, 17873, 16935, 17523, 10338,
      12067,
    ];
    expect(lengths(chunkAll(text, 'jsonl'))).toEqual(jsonl);
    expect(lengths(chunkAll(text, 'text'))).toEqual(jsonl);
    expect(lengths(chunkAll(text, 'csv'))).toEqual([
      8, 22196, 19559, 5852, 16953, 19539, 15832, 18663, 20584, 19026, 4348, 24848, 17873, 16935, 17523,
      10338, 12067,
    ]);
    expect(lengths(chunkAll(text, 'binary'))).toEqual([
      22165, 19527, 5913, 16943, 19531, 18612, 21760, 19681, 18428, 24848, 17873, 16935, 17523, 19576, 2829,
    ]);
  });

  it('CSV input (quotes), default parameters', () => {
    expect(lengths(chunkAll(csv, 'jsonl'))).toEqual([
      22204, 20971, 21393, 19539, 15832, 23854, 18852, 19915, 14261, 19199, 19245, 24474, 8658, 1680, 12067,
    ]);
    const quoted = [
      8, 22196, 21293, 21071, 19811, 15467, 23947, 18852, 19915, 14261, 19199, 19245, 24474, 8658, 1870,
      11877,
    ];
    expect(lengths(chunkAll(csv, 'csv'))).toEqual(quoted);
    expect(lengths(chunkAll(csv, 'tsv'))).toEqual(quoted);
    expect(lengths(chunkAll(csv, 'binary'))).toEqual([
      22165, 20894, 21489, 19531, 18612, 21102, 18852, 19915, 14261, 19199, 19245, 24474, 8658, 13747,
    ]);
  });

  it('small parameters (64/256/1024) agree with the reference implementation on the vector inputs', () => {
    for (const input of [text, csv]) {
      for (const f of FORMATS)
        expect(lengths(chunkAll(input, f, SMALL))).toEqual(referenceChunkLengths(input, f, SMALL));
    }
  });
});

describe('Chunker', () => {
  it('agrees with the naive reference implementation on random inputs and parameters', () => {
    const rnd = xorshift32(12345);
    const paramSets: ChunkParams[] = [SMALL, { min: 100, avg: 512, max: 3000 }, { min: 1, avg: 8, max: 9 }];
    for (let round = 0; round < 40; round++) {
      const params = paramSets[round % paramSets.length]!;
      const data = randomRecords(rnd, 1 + (rnd() % 30_000), {
        quotes: round % 2 === 0,
        finalNewline: round % 4 < 2,
      });
      for (const f of FORMATS) {
        expect(lengths(chunkAll(data, f, params)), `${f} round ${round}`).toEqual(
          referenceChunkLengths(data, f, params),
        );
      }
    }
  });

  it('does not depend on how the input is split into pushed buffers', () => {
    const rnd = xorshift32(777);
    const inputs = [vectorInput(TEXT_ALPHABET), vectorInput(CSV_ALPHABET, 150_000)];
    for (const data of inputs) {
      for (const f of FORMATS) {
        for (const params of [DEFAULT_CHUNK_PARAMS, SMALL]) {
          const whole = chunkAll(data, f, params);
          for (const maxPiece of [1, 17, 4096, 300_000]) {
            if (maxPiece === 1 && params === DEFAULT_CHUNK_PARAMS && data.length > 200_000) continue; // slow, adds nothing
            const pieces = chunkInPieces(data, f, params, rnd, maxPiece);
            expect(lengths(pieces), `${f} pieces<=${maxPiece}`).toEqual(lengths(whole));
            expect(Buffer.concat(pieces).equals(Buffer.from(data))).toBe(true);
          }
        }
      }
    }
  });

  it('does not depend on push sizes across many internal batches (inputs of several MiB)', () => {
    const rnd = xorshift32(31337);
    const data = randomRecords(rnd, 3 * 1024 * 1024, { quotes: true, finalNewline: false });
    for (const f of FORMATS) {
      for (const params of [DEFAULT_CHUNK_PARAMS, SMALL]) {
        const whole = lengths(chunkAll(data, f, params));
        expect(whole).toEqual(referenceChunkLengths(data, f, params));
        for (const maxPiece of [1000, 70_000, 300_000, 3_000_000]) {
          const pieces = chunkInPieces(data, f, params, rnd, maxPiece);
          expect(lengths(pieces), `${f} pieces<=${maxPiece}`).toEqual(whole);
          expect(Buffer.concat(pieces).equals(data)).toBe(true);
        }
      }
    }
  });

  it('with reuseJoins, the chunks of each push (used before the next) are the same bytes as without', () => {
    const rnd = xorshift32(4242);
    const data = randomRecords(rnd, 2 * 1024 * 1024, { quotes: true, finalNewline: false });
    for (const f of FORMATS) {
      for (const params of [DEFAULT_CHUNK_PARAMS, SMALL]) {
        const whole = chunkAll(data, f, params).map((c) => Buffer.from(c));
        for (const maxPiece of [1000, 70_000, 1 << 20]) {
          const c = new Chunker(f, params, { reuseJoins: true });
          const got: Buffer[] = [];
          const copy = (cs: Uint8Array[]): void => {
            for (const x of cs) got.push(Buffer.from(x)); // copied at once: the next push may reuse them
          };
          for (let p = 0; p < data.length;) {
            const n = Math.min(data.length - p, 1 + (rnd() % maxPiece));
            copy(c.push(data.subarray(p, p + n)));
            p += n;
          }
          copy(c.finish());
          expect(lengths(got), `${f} pieces<=${maxPiece}`).toEqual(lengths(whole));
          expect(
            got.every((x, i) => x.equals(whole[i]!)),
            `${f} pieces<=${maxPiece}`,
          ).toBe(true);
        }
      }
    }
  });

  it('every chunk of a record format ends at a record boundary, and min/max hold', () => {
    const rnd = xorshift32(99);
    for (let round = 0; round < 12; round++) {
      const data = randomRecords(rnd, 200_000, { quotes: true, finalNewline: round % 2 === 0 });
      for (const f of FORMATS) {
        const quoted = f === 'csv' || f === 'tsv';
        const bounds = boundaries(data, quoted);
        const chunks = chunkAll(data, f, SMALL);
        expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
        let pos = 0;
        chunks.forEach((c, k) => {
          const start = pos;
          pos += c.length;
          expect(c.length).toBeLessThanOrEqual(SMALL.max);
          if (f === 'binary') {
            if (k < chunks.length - 1) expect(c.length).toBeGreaterThan(SMALL.min);
            return;
          }
          // A chunk that is not a whole-record run is a piece of a record longer than max.
          if (!bounds.has(pos)) {
            let next = pos;
            while (!bounds.has(next)) next++;
            let prev = start;
            while (prev > 0 && !bounds.has(prev)) prev--;
            expect(next - prev, `${f}: chunk ${k} cuts a record that is not over-long`).toBeGreaterThan(
              SMALL.max,
            );
          }
        });
      }
    }
  });

  it('keeps CSV quoted fields with embedded newlines whole', () => {
    const header = 'id,text\n';
    const rows: string[] = [];
    for (let i = 0; i < 400; i++)
      rows.push(`${i},"line one of ${i}\nline two ""quoted""\nline three ${'z'.repeat(i % 50)}"\n`);
    const data = Buffer.from(header + rows.join(''));
    for (const f of ['csv', 'tsv'] as const) {
      const chunks = chunkAll(data, f, SMALL);
      expect(chunks.length).toBeGreaterThan(10);
      expect(Buffer.from(chunks[0]!).toString()).toBe(header);
      for (const c of chunks.slice(1)) {
        const s = Buffer.from(c).toString();
        expect(s).toMatch(/^\d+,"line one/);
        expect(s.endsWith('"\n')).toBe(true);
        expect((s.match(/"/g) ?? []).length % 2).toBe(0);
      }
    }
    // The same bytes as JSONL cut at any newline, including those inside quotes.
    const asText = chunkAll(data, 'text', SMALL).map((c) => Buffer.from(c).toString());
    expect(asText.some((s) => !/^\d+,"line one/.test(s))).toBe(true);
  });

  it('makes the CSV header its own chunk, so later chunks hold only data rows', () => {
    const header = 'a,b,c\r\n';
    const body = Array.from({ length: 3000 }, (_, i) => `${i},${i * 7},x${i}\r\n`).join('');
    const chunks = chunkAll(Buffer.from(header + body), 'csv');
    expect(chunks.length).toBeGreaterThan(2);
    expect(Buffer.from(chunks[0]!).toString()).toBe(header);
    for (const c of chunks.slice(1))
      expect(Buffer.from(c).toString()).toMatch(/^\d+,\d+,x\d+\r\n(?:.*\r\n)*$/);
  });

  it('handles a file without a final newline (text, JSONL, CSV)', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ i, t: 'w'.repeat(i % 97) }));
    const data = Buffer.from(lines.join('\n')); // no final newline
    for (const f of ['jsonl', 'text', 'csv'] as const) {
      const chunks = chunkAll(data, f, SMALL);
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      const last = Buffer.from(chunks.at(-1)!).toString();
      expect(last.endsWith(lines.at(-1)!)).toBe(true);
      for (const c of chunks.slice(0, -1)) expect(c.at(-1)).toBe(0x0a);
    }
  });

  it('ends CRLF lines after the \\n, keeping \\r\\n pairs together', () => {
    const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => `{"n":${i}}\r\n`).join(''));
    for (const f of ['jsonl', 'text', 'csv'] as const) {
      const chunks = chunkAll(data, f, SMALL);
      expect(chunks.length).toBeGreaterThan(20);
      for (const c of chunks) expect(Buffer.from(c).subarray(-2).toString()).toBe('\r\n');
    }
  });

  it('gives zero chunks for empty input and one chunk for input of at most min bytes', () => {
    for (const f of FORMATS) {
      expect(chunkAll(new Uint8Array(0), f)).toEqual([]);
      const c = new Chunker(f);
      expect(c.push(new Uint8Array(0))).toEqual([]);
      expect(c.finish()).toEqual([]);
      const small = Buffer.from('h1,h2\n1,2\n3,4\n'.repeat(1000)).subarray(0, DEFAULT_CHUNK_PARAMS.min);
      expect(lengths(chunkAll(small, f))).toEqual([DEFAULT_CHUNK_PARAMS.min]);
      expect(lengths(chunkAll(small.subarray(0, 5), f))).toEqual([5]);
    }
  });

  it('splits a record longer than max with FastCDC and resumes record alignment after it', () => {
    const rnd = xorshift32(4242);
    let giant = '';
    for (let i = 0; i < 5000; i++) giant += String.fromCharCode(97 + (rnd() % 26));
    const before = 'short\n'.repeat(50);
    const after = Array.from({ length: 300 }, (_, i) => `after ${i}\n`).join('');
    const data = Buffer.from(before + giant + '\n' + after);
    const chunks = chunkAll(data, 'jsonl', SMALL);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    const ends: number[] = [];
    chunks.reduce((p, c) => (ends.push(p + c.length), p + c.length), 0);
    const giantStart = before.length;
    const giantEnd = giantStart + giant.length + 1;
    expect(ends).toContain(giantStart);
    expect(ends).toContain(giantEnd);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(SMALL.max);
    for (const e of ends) if (e <= giantStart || e >= giantEnd) expect(data[e - 1]).toBe(0x0a);
  });

  it('reports every record longer than max, exactly, however the input is pushed (takeLongRecords)', () => {
    const rnd = xorshift32(99);
    const word = (): string => String.fromCharCode(97 + (rnd() % 26)).repeat(1 + (rnd() % 7));
    const text = (n: number): string => Array.from({ length: n }, word).join(' ');
    for (const format of ['jsonl', 'csv'] as const) {
      // Records of 10..6000 bytes with SMALL (max 1024); CSV ones hold quoted newlines; the last has no '\n'.
      const recs: string[] = [];
      for (let i = 0; i < 60; i++) {
        const body = text(rnd() % 3 === 0 ? 300 + (rnd() % 700) : 1 + (rnd() % 20));
        recs.push(format === 'csv' ? `${i},"${body.replace(/ q/g, '\n"" ')}"\n` : `{"t":"${body}"}\n`);
      }
      recs[recs.length - 1] = recs[recs.length - 1]!.slice(0, -1);
      const data = Buffer.from(recs.join(''));
      const expected: [number, number][] = [];
      let at = 0;
      for (const r of recs) {
        const n = Buffer.byteLength(r);
        // A CSV header longer than max is over-long too; otherwise only records past max count.
        if (n > SMALL.max) expected.push([at, n]);
        at += n;
      }
      expect(expected.length).toBeGreaterThan(5);
      for (const maxPiece of [0, 7, 5000]) {
        const c = new Chunker(format, SMALL);
        const long: [number, number][] = [];
        const chunks: Uint8Array[] = [];
        if (maxPiece === 0) chunks.push(...c.push(data));
        else
          for (let p = 0; p < data.length; p += maxPiece) {
            chunks.push(...c.push(data.subarray(p, p + maxPiece)));
            long.push(...c.takeLongRecords());
          }
        chunks.push(...c.finish());
        long.push(...c.takeLongRecords());
        expect(long).toEqual(expected);
        // Chunk boundaries fall inside a record only inside the reported ones.
        let end = 0;
        for (const ch of chunks.slice(0, -1)) {
          end += ch.length;
          const inside = expected.some(([s, n]) => s < end && end < s + n);
          expect(inside || data[end - 1] === 0x0a).toBe(true);
        }
      }
    }
  });

  it('can be reused after finish()', () => {
    const data = vectorInput(TEXT_ALPHABET, 100_000);
    const c = new Chunker('csv', SMALL);
    const a = [...c.push(data), ...c.finish()];
    const b = [...c.push(data), ...c.finish()];
    expect(lengths(b)).toEqual(lengths(a));
  });

  it('refuses bad parameters and formats with BAD_INPUT', () => {
    const bad: ChunkParams[] = [
      { min: 0, avg: 16, max: 64 },
      { min: 16, avg: 16, max: 64 },
      { min: 4, avg: 24, max: 64 },
      { min: 4, avg: 16, max: 16 },
      { min: 1.5, avg: 16, max: 64 },
      { min: 4, avg: 2 ** 30, max: 2 ** 31 },
    ];
    for (const p of bad)
      expect(() => new Chunker('jsonl', p)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    try {
      new Chunker('parquet' as ChunkFormat);
      expect.unreachable();
    } catch (e) {
      expect(isStrataError(e, 'BAD_INPUT')).toBe(true);
    }
  });
});

describe('chunkStream', () => {
  it('yields the same chunks as Chunker for a Node stream', async () => {
    const data = Buffer.from(vectorInput(CSV_ALPHABET));
    const got: Uint8Array[] = [];
    for await (const c of chunkStream(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), 'csv'))
      got.push(c);
    expect(lengths(got)).toEqual(lengths(chunkAll(data, 'csv')));
    const none: Uint8Array[] = [];
    for await (const c of chunkStream(Readable.from([]), 'jsonl')) none.push(c);
    expect(none).toEqual([]);
  });
});

describe('chunkFormatForPath', () => {
  it('maps extensions case-insensitively, anything else to binary', () => {
    const cases: Array<[string, ChunkFormat]> = [
      ['data/train.jsonl', 'jsonl'],
      ['x.NDJSON', 'jsonl'],
      ['a/b.csv', 'csv'],
      ['a.tsv', 'tsv'],
      ['notes.txt', 'text'],
      ['README.md', 'text'],
      ['train.jsonl.gz', 'binary'],
      ['model.bin', 'binary'],
      ['Makefile', 'binary'],
      ['.csv', 'binary'],
      ['dir.csv/file', 'binary'],
      ['C:\\data\\x.csv', 'csv'],
    ];
    for (const [p, f] of cases) expect(chunkFormatForPath(p), p).toBe(f);
  });
});
