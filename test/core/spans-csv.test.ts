/**
 * Span-coded CSV/TSV versions (docs/FORMAT.md, "Span-coded versions"): records end at a '\n' outside double
 * quotes, so a span (and so a piece the diff parses) never ends inside a quoted field. Through the library:
 * versions whose rows hold multi-line quoted fields are span-coded, read back byte for byte, and diff to
 * exactly the rows changed. Plus the splitter (record-keys.ts) against a reference, in process and on the
 * pool's worker thread, and the encoder's refusal of a chunk that ends inside quotes.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { add, commit, diffRevisions, fsck, Repository } from '../../src/core/index.js';
import { readFile } from '../../src/core/object-reader.js';
import type { ChangeEvent, DiffEvent, SummaryEvent } from '../../src/core/diff/index.js';
import { SpanEncoder, type Piece } from '../../src/core/worktree/span-encoder.js';
import { CompressPool } from '../../src/storage/compress-pool.js';
import { encode } from '../../src/storage/codec.js';
import { hashBytes } from '../../src/storage/hash.js';
import { keyAll, keyRecords, recordEnd, recordKey } from '../../src/storage/record-keys.js';
import { rng } from '../helpers/prng.js';
import { tempDir } from './helpers.js';

const SMALL = { min: 256, avg: 1024, max: 4096 };

/** Bytes of the repository's packs. */
function packBytes(dir: string): number {
  const packs = join(dir, '.strata', 'packs');
  return readdirSync(packs).reduce((n, f) => n + statSync(join(packs, f)).size, 0);
}

async function events(repo: Repository, a: string, b: string): Promise<DiffEvent[]> {
  const out: DiffEvent[] = [];
  for await (const e of diffRevisions(repo, a, b)) out.push(e);
  return out;
}

function split(evs: DiffEvent[]) {
  return {
    changes: evs.filter((e): e is ChangeEvent => e.type === 'change'),
    warnings: evs.filter((e) => e.type === 'warning'),
    summary: evs.find((e): e is SummaryEvent => e.type === 'summary')!,
  };
}

/** The file `path` of commit `c`: its manifest and bytes. */
async function fileAt(repo: Repository, c: string, path: string) {
  const entry = repo.objects.tree(repo.objects.commit(c).tree).entries.find((e) => e.name === path)!;
  const m = repo.objects.manifest(entry.hash);
  const parts: Uint8Array[] = [];
  for await (const b of readFile(repo.objects, m)) parts.push(Uint8Array.prototype.slice.call(b));
  return { manifest: m, bytes: Buffer.concat(parts) };
}

/** Commits `text` as `name`; returns the commit and the bytes the packs grew by. */
async function put(repo: Repository, name: string, text: string, message: string) {
  const before = packBytes(repo.root);
  writeFileSync(join(repo.root, name), text);
  await add(repo, [name]);
  const c = (await commit(repo, { message })).commit;
  return { commit: c, stored: packBytes(repo.root) - before };
}

describe('span-coded CSV versions diff where CSV splits records', () => {
  it('two rows edited in a file of two-line quoted fields: exactly 2 modified, field `text`', async () => {
    const d = tempDir('strata-spans-csv-');
    const repo = Repository.init(d);
    try {
      const rows = ['id,text'];
      for (let i = 0; i < 3000; i++)
        rows.push(`${i},"line one of ${i}\nline two of ${i} ${'w'.repeat(i % 50)}"`);
      const v0 = rows.join('\n') + '\n';
      const v1 = v0
        .replace('line two of 1500 ', 'line TWO of 1500 ')
        .replace('line two of 700 ', 'line 2 of 700 ');
      await put(repo, 'd.csv', v0, 'v0');
      const c1 = (await put(repo, 'd.csv', v1, 'v1')).commit;
      const f1 = await fileAt(repo, c1, 'd.csv');
      expect(f1.manifest.content, 'v1 is span-coded').toBeDefined();
      expect(f1.bytes.toString()).toBe(v1);
      const { changes, warnings, summary } = split(await events(repo, 'HEAD~1', 'HEAD'));
      expect(warnings).toEqual([]);
      expect(summary.counts).toEqual({ added: 0, removed: 0, modified: 2 });
      expect(changes.map((c) => c.raw)).toEqual([undefined, undefined]);
      const byId = new Map(changes.map((c) => [(c.after as { id: string }).id, c]));
      expect([...byId.keys()].sort()).toEqual(['1500', '700']);
      expect(byId.get('700')!.fields).toMatchObject([
        {
          path: 'text',
          before: `line one of 700\nline two of 700 `,
          after: `line one of 700\nline 2 of 700 `,
        },
      ]);
      const w = 'w'.repeat(1500 % 50);
      expect(byId.get('1500')!.fields).toMatchObject([
        {
          path: 'text',
          before: `line one of 1500\nline two of 1500 ${w}`,
          after: `line one of 1500\nline TWO of 1500 ${w}`,
        },
      ]);
    } finally {
      repo.close();
    }
  }, 60_000);
});

/** A row with a 3- or 4-line quoted field holding `""` escapes (and a quoted delimiter), as CSV or TSV. */
function row(i: number, sep: string, rev = 0, r: () => number = () => 0.5): string {
  const n = 3 + (i % 2);
  const lines = Array.from(
    { length: n },
    (_, k) => `part ${k} of row ${i} says ""hi${sep}there"" ${'x'.repeat(Math.floor(r() * 40))}`,
  );
  return [String(i), `"${lines.join('\n')}"`, `"rev ${rev}"`, String(i * 7)].join(sep);
}

async function versions(format: 'csv' | 'tsv') {
  const sep = format === 'csv' ? ',' : '\t';
  const name = `d.${format}`;
  const d = tempDir('strata-spans-csv-');
  writeFileSync(join(d, '.strataattributes'), `*.${format} format=${format} key=id\n`);
  const repo = Repository.init(d, { chunking: SMALL });
  const header = ['id', 'text', 'rev', 'n'].join(sep);
  const r = rng(5);
  const base = Array.from({ length: 2000 }, (_, i) => row(i, sep, 0, r));
  const text = (rows: string[]) => [header, ...rows].join('\n') + '\n';
  // v1: 20 rows edited in place (their multi-line field and rev), 30 deleted, 25 inserted.
  const edited = new Set(Array.from({ length: 20 }, (_, k) => 37 + k * 97));
  const deleted = new Set(Array.from({ length: 30 }, (_, k) => 50 + k * 61));
  const v1rows: string[] = [];
  const inserted: number[] = [];
  for (const [i, l] of base.entries()) {
    if (i % 80 === 3) {
      inserted.push(10_000 + i);
      v1rows.push(row(10_000 + i, sep, 0));
    }
    if (deleted.has(i)) continue;
    v1rows.push(edited.has(i) ? row(i, sep, 1).replace('part 1 of', 'PART ONE of') : l);
  }
  return { repo, name, v0: text(base), v1: text(v1rows), edited, deleted, inserted };
}

for (const format of ['csv', 'tsv'] as const) {
  describe(`span-coded ${format.toUpperCase()} with multi-line quoted fields`, () => {
    it('is span-coded, reads back byte for byte and diffs to exactly the rows edited, deleted, inserted', async () => {
      const { repo, name, v0, v1, edited, deleted, inserted } = await versions(format);
      try {
        const s0 = await put(repo, name, v0, 'v0');
        const s1 = await put(repo, name, v1, 'v1');
        const f1 = await fileAt(repo, s1.commit, name);
        expect(f1.bytes.equals(Buffer.from(v1))).toBe(true);
        expect(f1.manifest.content, 'v1 is span-coded').toBeDefined();
        expect(s1.stored).toBeLessThan(s0.stored / 4);
        const { changes, warnings, summary } = split(await events(repo, 'HEAD~1', 'HEAD'));
        expect(warnings).toEqual([]);
        expect(summary.counts).toEqual({
          added: inserted.length,
          removed: deleted.size,
          modified: edited.size,
        });
        expect(changes.filter((c) => c.raw)).toEqual([]);
        const modified = changes.filter((c) => c.kind === 'modified');
        expect(modified.map((c) => Number(c.key)).sort((a, b) => a - b)).toEqual(
          [...edited].sort((a, b) => a - b),
        );
        for (const c of modified) {
          expect(c.fields!.map((f) => f.path).sort()).toEqual(['rev', 'text']);
          const t = c.fields!.find((f) => f.path === 'text')!;
          expect(String(t.after)).toContain('\nPART ONE of row');
          expect(String(t.after)).toContain(`"hi${format === 'csv' ? ',' : '\t'}there"`);
        }
        expect(
          changes
            .filter((c) => c.kind === 'removed')
            .map((c) => Number(c.key))
            .sort((a, b) => a - b),
        ).toEqual([...deleted].sort((a, b) => a - b));
        expect(changes.filter((c) => c.kind === 'added').map((c) => Number(c.key))).toEqual(inserted);
        expect((await fsck(repo)).problems).toEqual([]);
      } finally {
        repo.close();
      }
    }, 120_000);
  });
}

/** Reference splitter: a byte state machine; records end at '\n' outside quotes; an open remainder is dropped. */
function reference(data: Uint8Array, min: number): number[] {
  const out: number[] = [];
  let q = false;
  let s = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x22) q = !q;
    else if (data[i] === 0x0a && !q) {
      if (i + 1 - s >= min) out.push(s, i + 1, recordKey(data, s, i + 1));
      s = i + 1;
    }
  }
  if (s < data.length && !q && data.length - s >= min)
    out.push(s, data.length, recordKey(data, s, data.length));
  return out;
}

function randomCsv(r: () => number, n: number): Uint8Array {
  const alphabet = ['a', 'b', ',', '\t', '"', '"', '""', '\n', '\n', 'long text '];
  let t = '';
  for (let i = 0; i < n; i++) t += alphabet[Math.floor(r() * alphabet.length)]!;
  return new Uint8Array(Buffer.from(t));
}

describe('quoted record splitting (record-keys.ts)', () => {
  it('keyRecords with quoted splits as a reference state machine does, random input', () => {
    const r = rng(11);
    for (let k = 0; k < 400; k++) {
      const data = randomCsv(r, 1 + Math.floor(r() * 300));
      for (const min of [1, 16]) {
        const { out, at } = keyRecords(data, min, new Float64Array(3), 0, true);
        expect(Array.from(out.subarray(0, at)), `case ${k} min ${min}`).toEqual(reference(data, min));
      }
    }
  });

  it('recordEnd: quotes, "" escapes, a bound `to`, an open remainder, and jsonl splitting at every \\n', () => {
    const b = Buffer.from('1,"a\nb ""c""\nd",x\n2,y\n3,"open\n');
    const e1 = b.indexOf('2,y');
    expect(recordEnd(b, 0, b.length, true)).toBe(e1);
    expect(recordEnd(b, 0, b.length, false)).toBe(5);
    expect(recordEnd(b, e1, b.length, true)).toBe(e1 + 4);
    expect(recordEnd(b, e1 + 4, b.length, true)).toBe(-1);
    // Bounded before the closing quote: the piece ends inside quotes.
    expect(recordEnd(b, 0, 7, true)).toBe(-1);
    expect(recordEnd(b, 0, 8, true)).toBe(8); // quotes at 2 and 7: even
    // Bounded after a closing quote, before the '\n': a balanced last piece.
    expect(recordEnd(b, 0, e1 - 1, true)).toBe(e1 - 1);
    // The records parse as CSV one each.
    const recs = keyAll([b], 1, true);
    const rs = Array.from(recs.keys);
    expect(rs.length / 3).toBe(2);
    for (let k = 0; k < rs.length; k += 3) {
      const rec = b.subarray(rs[k]!, rs[k + 1]!).toString();
      expect(parse(rec, { relax_column_count: true })).toHaveLength(1);
    }
    // Unquoted (jsonl) keying is unchanged: every '\n'.
    const plain = keyAll([b], 1).keys;
    expect(plain.length / 3).toBe(b.toString().split('\n').length - 1);
  });

  it('a worker thread (built pool) keys quoted records as inline does', async () => {
    const url = new URL('../../dist/storage/compress-pool.js', import.meta.url).href;
    const built = (await import(url)) as typeof import('../../src/storage/compress-pool.js');
    const pool = new built.CompressPool(1);
    const inline = new CompressPool(0);
    try {
      const r = rng(3);
      const texts = [0, 1, 2].map(() => randomCsv(r, 2000));
      const items = texts.map((data) => ({
        ...encode(data),
        rawLength: data.length,
        hash: hashBytes(data),
      }));
      const got = await pool.decodeKeyed(items, 16, undefined, true);
      const want = await inline.decodeKeyed(items, 16, undefined, true);
      const plain = await pool.decodeKeyed(items, 16);
      for (const [i, data] of texts.entries()) {
        expect(Array.from(got.records![i]!)).toEqual(reference(data, 16));
        expect(Array.from(want.records![i]!)).toEqual(reference(data, 16));
      }
      expect(plain.records!.map((x) => x.length)).not.toEqual(got.records!.map((x) => x.length));
    } finally {
      await pool.close();
    }
  });
});

describe('SpanEncoder, quoted', () => {
  it('a new chunk that ends inside quotes is not span-coded; a balanced one of the same records is', async () => {
    const d = tempDir('strata-spans-csv-');
    writeFileSync(join(d, '.strataattributes'), '*.csv format=csv\n');
    const repo = Repository.init(d, { chunking: SMALL });
    try {
      const rows = Array.from({ length: 200 }, (_, i) => row(i, ','));
      const c = (await put(repo, 'd.csv', ['id,text,rev,n', ...rows].join('\n') + '\n', 'v0')).commit;
      const previous = repo.objects
        .tree(repo.objects.commit(c).tree)
        .entries.find((e) => e.name === 'd.csv')!;
      const balanced = Buffer.from(rows.slice(10, 20).join('\n') + '\n');
      // The same rows plus the start of another, cut inside its quoted field.
      const open = Buffer.concat([balanced, Buffer.from(row(20, ',').slice(0, 30))]);
      const chunks = [balanced, open].map((b) => new Uint8Array(b));
      const enc = await SpanEncoder.build(
        repo,
        previous.hash as never,
        new Map(),
        chunks.length,
        (i) => chunks[i]!,
        { quoted: true },
      );
      expect(enc).toBeDefined();
      const p0 = enc!.encode(0);
      expect(p0).toBeDefined();
      expect(p0!.every((p: Piece) => p.kind === 'ref')).toBe(true);
      const got = Buffer.concat(
        p0!.map((p) =>
          p.kind === 'ref'
            ? repo.objects.chunk(p.chunk).subarray(p.offset, p.offset + p.length)
            : Buffer.alloc(0),
        ),
      );
      expect(got.equals(balanced)).toBe(true);
      expect(enc!.encode(1)).toBeUndefined();
    } finally {
      repo.close();
    }
  });
});
