// Bounded memory: beyond a budget the diff's identity state spills to sorted runs on disk. A tiny budget must
// give exactly the events of the in-memory path, on shuffled, edited and duplicated data, and leave no files.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffFile, sideFromBytes, type DiffOptions, type DiffSide } from '../../src/core/diff/index.js';
import { renderJsonLine } from '../../src/cli/diff-output.js';
import { longestIncreasing, StreamingLis } from '../../src/core/diff/align.js';
import { IntLog, SortedRecords, SpillDir } from '../../src/core/diff/spill.js';
import { mulberry32 } from '../helpers/prng.js';

const tmp = mkdtempSync(join(tmpdir(), 'strata-spill-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const rng = mulberry32;
const WORDS = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'.split(' ');
const text = (r: () => number, n = 12): string =>
  Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');
const shuffle = <T>(a: T[], r: () => number): T[] => {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

interface Row {
  id: number;
  text: string;
  meta: { n: number };
}

function base(n: number, r: () => number): Row[] {
  const rows: Row[] = Array.from({ length: n }, (_, i) => ({ id: i, text: text(r), meta: { n: i % 7 } }));
  // Exact copies (equal bytes) and duplicate keys with other content.
  for (let k = 0; k < 5; k++) rows.splice(100 + k * 50, 0, { ...rows[3]! });
  for (let k = 0; k < 5; k++) rows.splice(400 + k * 60, 0, { id: 7 + k, text: text(r), meta: { n: 1 } });
  return rows;
}

function edit(rows: Row[], r: () => number, share: number): Row[] {
  const out: Row[] = [];
  for (const row of rows) {
    const x = r();
    if (x < share) continue; // deleted
    if (x < 2 * share) out.push({ ...row, text: `${row.text} edited` });
    else out.push(row);
    if (r() < share) out.push({ id: 100_000 + out.length, text: text(r), meta: { n: 9 } }); // inserted
  }
  // A line whose keys were reordered (same content, other bytes), and more copies of one line.
  out.push({ meta: { n: 0 }, text: rows[20]!.text, id: 20 } as unknown as Row);
  out.push({ ...rows[3]! }, { ...rows[3]! });
  return out;
}

const lines = (rows: Row[]): string => rows.map((x) => JSON.stringify(x)).join('\n') + '\n';
const csv = (rows: Row[]): string =>
  'id,text,n\n' + rows.map((x) => `${x.id},${x.text},${x.meta.n}`).join('\n') + '\n';

/** All events rendered (fields included), and whether a spill directory held files while the diff ran. */
async function run(
  b: DiffSide,
  a: DiffSide,
  opts: DiffOptions,
): Promise<{ out: string[]; spilled: boolean }> {
  const out: string[] = [];
  let spilled = false;
  for await (const ev of diffFile(b, a, { ...opts, tmpDir: tmp })) {
    // What was read differs with the budget (a small one takes every changed region as a large one,
    // identities only): the events must not.
    out.push(ev.type === 'summary' ? JSON.stringify({ ...ev, cost: undefined }) : renderJsonLine(ev));
    for (const d of readdirSync(tmp)) if (readdirSync(join(tmp, d)).length > 0) spilled = true;
  }
  return { out, spilled };
}

describe('diff with a memory budget', () => {
  const r = rng(7);
  const rows = base(3000, r);
  const few = base(800, r);
  const cases: Array<[string, string, string, string]> = [
    ['shuffled and edited', 'd.jsonl', lines(rows), lines(shuffle(edit(rows, r, 0.02), r))],
    ['edited in place', 'd.jsonl', lines(rows), lines(edit(rows, r, 0.01))],
    ['fully shuffled', 'd.jsonl', lines(rows), lines(shuffle(rows, r))],
    ['csv shuffled and edited', 'd.csv', csv(few), csv(shuffle(edit(few, r, 0.02), r))],
  ];
  for (const [name, path, before, after] of cases) {
    it(`${name}: a tiny budget spills and gives the same events as memory`, async () => {
      const b = sideFromBytes(path, before, { avgSize: 2048 });
      const a = sideFromBytes(path, after, { avgSize: 2048 });
      for (const opts of [{}, { key: ['id'] }, { limit: 0 }, { limit: 5 }] as DiffOptions[]) {
        const mem = await run(b, a, opts);
        const disk = await run(b, a, { ...opts, memoryBudget: 2048 });
        expect(mem.spilled).toBe(false);
        expect(disk.spilled).toBe(true);
        expect(disk.out).toEqual(mem.out);
        expect(mem.out.at(-1)).toContain('"type":"summary"');
      }
      // Nothing is left behind.
      expect(readdirSync(tmp)).toEqual([]);
    });
  }

  it('the shuffle finds nothing changed, the edits are counted exactly', async () => {
    const b = sideFromBytes('d.jsonl', lines(rows), { avgSize: 2048 });
    const moved = sideFromBytes('d.jsonl', lines(shuffle(rows, r)), { avgSize: 2048 });
    const s = (await run(b, moved, { memoryBudget: 2048, limit: 0 })).out.at(-1)!;
    expect(JSON.parse(s).counts).toEqual({ added: 0, removed: 0, modified: 0 });
    const one = rows.map((x, i) => (i === 1234 ? { ...x, text: 'changed' } : x));
    const e = sideFromBytes('d.jsonl', lines(shuffle(one, r)), { avgSize: 2048 });
    const res = await run(b, e, { memoryBudget: 2048 });
    const changes = res.out.filter((l) => l.includes('"type":"change"')).map((l) => JSON.parse(l));
    // The edited example moved: it is a removed and an added example unless it lands in the same gap.
    const counts = JSON.parse(res.out.at(-1)!).counts;
    expect(counts.added + counts.modified).toBe(1);
    expect(counts.removed + counts.modified).toBe(1);
    expect(changes.some((c) => c.after?.text === 'changed')).toBe(true);
  });
  it('keyed, a tiny budget: a shuffle with one example with its keys reordered is unchanged, an edited one modified', async () => {
    const b = sideFromBytes('d.jsonl', lines(rows), { avgSize: 2048 });
    const reorder = (x: Row): Row => ({ meta: x.meta, text: x.text, id: x.id }) as unknown as Row;
    const moved = shuffle(
      rows.map((x, i) => (i === 1500 ? reorder(x) : i === 1600 ? { ...reorder(x), text: 'changed' } : x)),
      r,
    );
    const a = sideFromBytes('d.jsonl', lines(moved), { avgSize: 2048 });
    const res = await run(b, a, { memoryBudget: 2048, key: ['id'] });
    expect(JSON.parse(res.out.at(-1)!).counts).toEqual({ added: 0, removed: 0, modified: 1 });
    const change = JSON.parse(res.out.find((l) => l.includes('"type":"change"'))!);
    expect(change.key).toBe(rows[1600]!.id);
    expect(change.fields).toEqual([
      expect.objectContaining({ path: 'text', kind: 'changed', after: 'changed' }),
    ]);
  });

  it('a consumer that stops early leaves no spill files', async () => {
    const b = sideFromBytes('d.jsonl', lines(rows), { avgSize: 2048 });
    const a = sideFromBytes('d.jsonl', lines(shuffle(edit(rows, r, 0.02), r)), { avgSize: 2048 });
    let seen = 0;
    for await (const ev of diffFile(b, a, { memoryBudget: 2048, tmpDir: tmp, key: ['id'] })) {
      if (ev.type === 'change') {
        expect(readdirSync(tmp).length).toBe(1);
        seen++;
        break;
      }
    }
    expect(seen).toBe(1);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('spill building blocks', () => {
  it('sorted records: runs merged in key order, readable twice, same as memory', () => {
    const r = rng(3);
    const dir = new SpillDir(tmp);
    const disk = new SortedRecords(3, 2, 600, dir);
    const mem = new SortedRecords(3, 2, 1 << 20, new SpillDir(tmp));
    const all: number[][] = [];
    for (let i = 0; i < 5000; i++) {
      const w = [Math.floor(r() * 50), Math.floor(r() * 2 ** 32), i];
      all.push(w);
      disk.push(w);
      mem.push(w);
    }
    expect(disk.spilled).toBe(true);
    expect(mem.spilled).toBe(false);
    const read = (s: SortedRecords): number[][] => {
      const out: number[][] = [];
      const rd = s.reader();
      while (rd.next()) out.push([...rd.rec]);
      return out;
    };
    const want = [...all].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!);
    expect(read(mem)).toEqual(want);
    expect(read(disk)).toEqual(want);
    expect(read(disk)).toEqual(want);
    dir.close();
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('sorted records: large buffers (radix sorted) in unsigned key order, ties in the order pushed', () => {
    const r = rng(5);
    // Key words: constant, few values, high bits only (>= 2^31: unsigned order), full range.
    const gens: Array<() => number> = [
      () => 7,
      () => Math.floor(r() * 3),
      () => (Math.floor(r() * 4) * 2 ** 30 + 5) >>> 0,
      () => Math.floor(r() * 2 ** 32),
    ];
    // Hash-like: a first word with a few repeats (runs sorted by comparison), then anything.
    const firsts: number[] = [];
    const hashLike = (k: number): number => {
      if (k > 0) return gens[k % 4]!();
      const w = firsts.length > 0 && r() < 0.05 ? firsts[Math.floor(r() * firsts.length)]! : gens[3]!();
      firsts.push(w);
      return w;
    };
    for (const [keyWords, hashes] of [
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [2, true],
      [4, true],
    ] as const) {
      const rec = new SortedRecords(keyWords + 1, keyWords, 1 << 24, new SpillDir(tmp));
      const all: number[][] = [];
      for (let i = 0; i < 30_000; i++) {
        const w = Array.from({ length: keyWords }, (_, k) =>
          hashes ? hashLike(k) : gens[(k + i) % 4 === 0 ? 3 : k % 4]!(),
        );
        w.push(i);
        all.push(w);
        rec.push(w);
      }
      const want = [...all].sort((x, y) => {
        for (let k = 0; k <= keyWords; k++) if (x[k] !== y[k]) return x[k]! - y[k]!;
        return 0;
      });
      const got: number[][] = [];
      const rd = rec.reader();
      while (rd.next()) got.push([...rd.rec]);
      expect(got).toEqual(want);
    }
  });

  it('streamed longest increasing run equals the in-memory one, back-pointers on disk', () => {
    const r = rng(11);
    for (const n of [0, 1, 10, 5000]) {
      const seq = Array.from({ length: n }, () => Math.floor(r() * 1000));
      const dir = new SpillDir(tmp);
      const log = new IntLog(64, dir);
      const lis = new StreamingLis(log);
      for (const v of seq) lis.push(v);
      expect([...lis.result()]).toEqual(longestIncreasing(seq));
      log.close();
      dir.close();
    }
  });
});
