import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hashBytes,
  isStrataError,
  open,
  PinnedRevision,
  type Cursor,
  type Example,
  type Repository,
} from '../../src/core/index.js';
import { commitFiles, jsonl, makeRepo } from './helpers.js';

type Row = { id: string; n: number; text: string };

// Five JSONL files of very unequal sizes (3 .. 1500 examples), plus CSV, text and a binary file.
const FILES: Record<string, string> = {
  'data/a.jsonl': jsonl('a', 3, 1),
  'data/b.jsonl': jsonl('b', 40, 2),
  'data/c.jsonl': jsonl('c', 1500, 3),
  'data/d.jsonl': jsonl('d', 311, 4),
  'data/e.jsonl': jsonl('e', 1, 5),
  'tables/t.csv':
    'id,text\n' +
    Array.from(
      { length: 400 },
      (_, i) => `${i},"line ${i}${i % 7 === 0 ? '\nwith, a newline and ""quotes""' : ''}"`,
    ).join('\n') +
    '\n',
  'notes/n.txt': Array.from({ length: 500 }, (_, i) => `note ${i} ${'y'.repeat(i % 50)}`).join('\n'),
  'bin/blob.bin': 'binary-ish\0\x01\x02'.repeat(500),
};
const JSONL = ['data/a.jsonl', 'data/b.jsonl', 'data/c.jsonl', 'data/d.jsonl', 'data/e.jsonl'];
const allIds = (): string[] =>
  JSONL.flatMap((p) =>
    FILES[p]!.split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as Row).id),
  ).sort();

let repo: Repository;
let dir: string;
let c1: string;
let pin: string;

beforeAll(async () => {
  ({ repo, dir, commit: c1 } = await makeRepo(FILES));
  pin = `${dir}@${c1}`;
});
afterAll(() => repo.close());

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('open(pin)', () => {
  it('lists files with size, format and example counts', async () => {
    const rev = await open(pin);
    try {
      expect(rev.commit).toBe(c1);
      const files = await rev.files();
      expect(files.map((f) => f.path)).toEqual([
        'bin/blob.bin',
        'data/a.jsonl',
        'data/b.jsonl',
        'data/c.jsonl',
        'data/d.jsonl',
        'data/e.jsonl',
        'notes/n.txt',
        'tables/t.csv',
      ]);
      const c = files.find((f) => f.path === 'data/c.jsonl')!;
      expect(c).toMatchObject({
        size: Buffer.byteLength(FILES['data/c.jsonl']!),
        format: 'jsonl',
        examples: 1500,
      });
      expect((await rev.files('data')).length).toBe(5);
      // c.jsonl is long enough for a segmented manifest.
      expect((await rev.manifest('data/c.jsonl')).segments?.length).toBeGreaterThan(1);
    } finally {
      await rev.close();
    }
  });

  it('read() streams the exact bytes, and byte ranges of them', async () => {
    const rev = await open(pin);
    try {
      for (const p of Object.keys(FILES)) {
        const got = Buffer.concat(await collect<Buffer>(rev.read(p)));
        expect(got.equals(Buffer.from(FILES[p]!))).toBe(true);
      }
      const whole = Buffer.from(FILES['data/c.jsonl']!);
      for (const [s, e] of [
        [0, 1],
        [1000, 1001],
        [12345, 99999],
        [whole.length - 5, whole.length + 10],
      ] as const) {
        const got = Buffer.concat(await collect<Buffer>(rev.read('data/c.jsonl', { start: s, end: e })));
        expect(got.equals(whole.subarray(s, e))).toBe(true);
      }
    } finally {
      await rev.close();
    }
  });

  it('refuses malformed pins, unknown commits and missing paths with stable codes', async () => {
    await expect(open(`${dir}@main`)).rejects.toSatisfy((e) => isStrataError(e, 'BAD_INPUT'));
    await expect(open(`${dir}@${c1.slice(0, 12)}`)).rejects.toSatisfy((e) => isStrataError(e, 'BAD_INPUT'));
    await expect(open(`${dir}@${'0'.repeat(64)}`)).rejects.toSatisfy((e) => isStrataError(e, 'NOT_FOUND'));
    await expect(open(`${join(dir, 'nope')}@${c1}`)).rejects.toSatisfy((e) =>
      isStrataError(e, 'NOT_A_REPOSITORY'),
    );
    await expect(open(`gopher://x@${c1}`)).rejects.toSatisfy((e) => isStrataError(e, 'BAD_INPUT'));
    const rev = await open(`file://${dir}@${c1}`);
    try {
      await expect(rev.file('data/zz.jsonl')).rejects.toSatisfy((e) => isStrataError(e, 'NOT_FOUND'));
      await expect(rev.file('../x')).rejects.toSatisfy((e) => isStrataError(e, 'UNSAFE_PATH'));
      await expect(collect(rev.examples('bin/blob.bin'))).rejects.toSatisfy((e) =>
        isStrataError(e, 'BAD_INPUT'),
      );
    } finally {
      await rev.close();
    }
  });

  it('resolves a relative local pin against cwd', async () => {
    const rev = await open(`.@${c1}`, { cwd: dir });
    expect((await rev.files()).length).toBe(8);
    await rev.close();
  });
});

describe('sharded examples', () => {
  it('numShards 1..7: disjoint shards that together hold every JSONL example exactly once', async () => {
    const rev = await open(pin);
    try {
      for (let n = 1; n <= 7; n++) {
        const seen: string[] = [];
        const perShard: number[] = [];
        for (let k = 0; k < n; k++) {
          const ex = await collect(rev.examples<Row>('data', { shard: k, numShards: n }));
          perShard.push(ex.length);
          seen.push(...ex.map((e) => e.value.id));
        }
        expect(seen.sort()).toEqual(allIds());
        // Balanced by bytes: no shard is far from 1/n of the examples (examples have similar sizes).
        const total = perShard.reduce((a, b) => a + b, 0);
        for (const s of perShard) expect(Math.abs(s - total / n)).toBeLessThan(total / n / 4 + 5);
      }
    } finally {
      await rev.close();
    }
  });

  it('3 and then 4 concurrent workers together see every example exactly once, in file order per shard', async () => {
    for (const n of [3, 4]) {
      const workers = Array.from({ length: n }, async (_, k) => {
        const rev = await open(pin);
        try {
          return await collect(rev.examples<Row>(JSONL, { shard: k, numShards: n }));
        } finally {
          await rev.close();
        }
      });
      const results = await Promise.all(workers);
      const ids = results.flat().map((e) => e.value.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual(allIds());
      for (const r of results) {
        const keys = r.map((e) => JSONL.indexOf(e.path) * 1e9 + e.offset);
        expect(keys).toEqual([...keys].sort((a, b) => a - b));
      }
    }
  });

  it('per-file sharding and CSV rows / text lines are exact too', async () => {
    const rev = await open(pin);
    try {
      const csvAll = await collect(rev.examples<Record<string, string>>('tables/t.csv'));
      expect(csvAll.length).toBe(400);
      expect(csvAll[7]!.value).toEqual({ id: '7', text: 'line 7\nwith, a newline and "quotes"' });
      const txtAll = await collect(rev.examples<string>('notes/n.txt'));
      expect(txtAll.length).toBe(500);
      expect(txtAll[3]!.value).toBe('note 3 yyy');
      for (const p of ['tables/t.csv', 'notes/n.txt', 'data/c.jsonl', 'data/a.jsonl']) {
        const all = (await collect(rev.examples(p))).map((e) => JSON.stringify(e.value));
        for (const n of [2, 3, 5, 7]) {
          const parts: string[] = [];
          for (let k = 0; k < n; k++)
            parts.push(
              ...(await collect(rev.examples(p, { shard: k, numShards: n }))).map((e) =>
                JSON.stringify(e.value),
              ),
            );
          expect(parts).toEqual(all); // shards are contiguous and in order, so concatenation is the file
        }
      }
    } finally {
      await rev.close();
    }
  });

  it('every record file at once (JSONL, CSV, text mixed), any numShards: each example once', async () => {
    const rev = await open(pin);
    try {
      const key = (e: Example): string => `${e.path}#${e.offset}`;
      const all = (await collect(rev.examples(undefined))).map(key);
      expect(all.length).toBe(1855 + 400 + 500);
      for (const n of [2, 5, 6]) {
        const got: string[] = [];
        for (let k = 0; k < n; k++)
          got.push(...(await collect(rev.examples(undefined, { shard: k, numShards: n }))).map(key));
        expect(got).toEqual(all);
      }
      // A cursor from one shard layout cannot resume another.
      const [first] = await collect(rev.examples(undefined, { shard: 0, numShards: 2 }));
      await expect(
        collect(rev.examples(undefined, { shard: 0, numShards: 3, startAfter: first!.cursor })),
      ).rejects.toSatisfy((e) => isStrataError(e, 'BAD_INPUT'));
    } finally {
      await rev.close();
    }
  });

  it('more shards than examples: most shards are empty, none duplicates', async () => {
    const rev = await open(pin);
    try {
      const n = 50;
      const ids: string[] = [];
      for (let k = 0; k < n; k++)
        ids.push(
          ...(await collect(rev.examples<Row>('data/b.jsonl', { shard: k, numShards: n }))).map(
            (e) => e.value.id,
          ),
        );
      expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => `b-${i}`));
      await expect(collect(rev.examples('data', { shard: 3, numShards: 3 }))).rejects.toSatisfy((e) =>
        isStrataError(e, 'BAD_INPUT'),
      );
    } finally {
      await rev.close();
    }
  });

  it('resume: workers that checkpoint and restart together see exactly the remaining examples', async () => {
    const rev = await open(pin);
    try {
      const n = 4;
      const seen: string[] = [];
      for (let k = 0; k < n; k++) {
        // Read a few examples, checkpoint (through JSON, as a real worker would), "crash", resume.
        let cursor: Cursor | undefined;
        let i = 0;
        for await (const e of rev.examples<Row>('data', { shard: k, numShards: n })) {
          seen.push(e.value.id);
          cursor = JSON.parse(JSON.stringify(e.cursor)) as Cursor;
          if (++i === 37 + k * 50) break;
        }
        for await (const e of rev.examples<Row>('data', { shard: k, numShards: n, startAfter: cursor }))
          seen.push(e.value.id);
      }
      expect(seen.sort()).toEqual(allIds());

      // Resuming CSV and at every position of a small shard.
      const full = await collect(rev.examples('tables/t.csv', { shard: 1, numShards: 3 }));
      for (let j = 0; j < full.length; j += 17) {
        const rest = await collect(
          rev.examples('tables/t.csv', { shard: 1, numShards: 3, startAfter: full[j]!.cursor }),
        );
        expect(rest.map((e) => e.offset)).toEqual(full.slice(j + 1).map((e) => e.offset));
      }
    } finally {
      await rev.close();
    }
  });

  it('is exact for any span layout: sub-chunk spans cutting records anywhere, over-long records', async () => {
    // One chunk holding a file with a record longer than the chunker's max, described by sub-chunk spans
    // of 37 bytes that cut records at arbitrary places.
    const lines = [
      ...Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `s-${i}` })),
      JSON.stringify({ id: 'long', text: 'z'.repeat(5000) }),
      ...Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `t-${i}` })),
    ];
    const bytes = Buffer.from(lines.join('\n') + '\n');
    const chunk = repo.objects.putChunk(bytes);
    const spans: [string, number, number][] = [];
    for (let o = 0; o < bytes.length; o += 37) spans.push([chunk, o, Math.min(37, bytes.length - o)]);
    const manifest = repo.objects.putManifest({ size: bytes.length, format: 'jsonl' }, spans as never);
    const tree = repo.objects.put({
      type: 'tree/v1',
      entries: [{ name: 'odd.jsonl', kind: 'file', hash: manifest, size: bytes.length }],
    });
    const commit = repo.objects.put({
      type: 'commit/v1',
      tree,
      parents: [],
      author: { name: 'T', email: 't@x' },
      time: 0,
      tz: 0,
      message: 'odd spans',
      meta: {},
    });
    repo.objects.flush();
    const rev = await open(`${dir}@${commit}`);
    try {
      expect(Buffer.concat(await collect<Buffer>(rev.read('odd.jsonl'))).equals(bytes)).toBe(true);
      const want = lines.map((l) => (JSON.parse(l) as Row).id);
      for (let n = 1; n <= 9; n++) {
        const got: string[] = [];
        for (let k = 0; k < n; k++)
          got.push(
            ...(await collect(rev.examples<Row>('odd.jsonl', { shard: k, numShards: n }))).map(
              (e) => e.value.id,
            ),
          );
        expect(got).toEqual(want);
      }
    } finally {
      await rev.close();
    }
  });

  it('malformed JSON lines are BAD_INPUT naming the byte offset', async () => {
    const { repo: r2, dir: d2, commit } = await makeRepo({ 'x.jsonl': '{"a":1}\n{"a":\n{"a":3}\n' });
    r2.close();
    const rev = await open(`${d2}@${commit}`);
    try {
      await expect(collect(rev.examples('x.jsonl'))).rejects.toSatisfy(
        (e) => isStrataError(e, 'BAD_INPUT') && (e as { data: Record<string, unknown> }).data.offset === 8,
      );
    } finally {
      await rev.close();
    }
  });
});

describe('a pin names bytes forever', () => {
  it('after the branch moves on, the old pin still gives the old bytes', async () => {
    const { repo: r, dir: d, commit: old } = await makeRepo({ 'train.jsonl': jsonl('v1', 200, 9) });
    const oldBytes = Buffer.from(jsonl('v1', 200, 9));
    const newer = await commitFiles(r, { 'train.jsonl': jsonl('v2', 250, 10), 'extra.jsonl': jsonl('x', 3) });
    r.close();
    expect(newer).not.toBe(old);
    const before = await open(`${d}@${old}`);
    const after = await open(`${d}@${newer}`);
    try {
      const got = Buffer.concat(await collect<Buffer>(before.read('train.jsonl')));
      expect(hashBytes(got)).toBe(hashBytes(oldBytes));
      expect((await before.files()).map((f) => f.path)).toEqual(['train.jsonl']);
      const ids = (await collect(before.examples<Row>('train.jsonl'))).map((e) => e.value.id);
      expect(ids[0]).toBe('v1-0');
      expect(ids.length).toBe(200);
      expect((await collect(after.examples<Row>('train.jsonl'))).length).toBe(250);
      expect(readFileSync(join(d, 'train.jsonl'), 'utf8')).toContain('v2-0');
    } finally {
      await before.close();
      await after.close();
    }
  });

  it('PinnedRevision.fromRepository opens a revision of an open repository', async () => {
    const rev = await PinnedRevision.fromRepository(repo, 'HEAD');
    expect(rev.commit).toBe(c1);
    expect(rev.pin).toBe(`${repo.root}@${c1}`);
    const ex: Example[] = await collect(rev.examples('data/e.jsonl'));
    expect(ex.length).toBe(1);
    await rev.close();
  });
});
