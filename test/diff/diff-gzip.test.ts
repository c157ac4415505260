// Gzip-compressed record files (core/formats/gzip.ts): stored as they are, read through a streaming gunzip
// by diff (example by example, as the format inside), examples() (sharded round robin) and stats.
import { existsSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, commit, diffRevisions, isStrataError, open, Repository } from '../../src/core/index.js';
import type { DiffEvent, SummaryEvent } from '../../src/core/diff/index.js';
import { gzipContentFormat } from '../../src/core/formats/gzip.js';
import { ok, strata, tempDir } from '../core/helpers.js';
import { SHARED_DATA } from '../helpers/shared-data.js';

type Pair = { chosen: string; rejected: string };

/** The HH-RLHF test split's preference pairs (a real .jsonl.gz). */
const pairs = (): Pair[] =>
  gunzipSync(readFileSync(join(SHARED_DATA, 'hh-rlhf-harmless-base-test.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Pair);

const gz = (rows: unknown[]): Buffer => gzipSync(rows.map((r) => JSON.stringify(r) + '\n').join(''));

async function events(repo: Repository, a?: string, b?: string, key?: string[]): Promise<DiffEvent[]> {
  const out: DiffEvent[] = [];
  for await (const e of diffRevisions(repo, a, b, key ? { key } : {})) out.push(e);
  return out;
}
const summary = (evs: DiffEvent[], path: string): SummaryEvent =>
  evs.find((e): e is SummaryEvent => e.type === 'summary' && e.path === path)!;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('gzip content format', () => {
  it('is the format before .gz, or the declared one, for record formats only', () => {
    expect(gzipContentFormat('data/train.jsonl.gz')).toBe('jsonl');
    expect(gzipContentFormat('data/train.jsonl.gz', 'binary')).toBe('jsonl');
    expect(gzipContentFormat('t.CSV.GZ')).toBe('csv');
    expect(gzipContentFormat('a.json.gz')).toBe('json');
    expect(gzipContentFormat('dump.gz', 'jsonl')).toBe('jsonl');
    expect(gzipContentFormat('dump.gz')).toBeUndefined();
    expect(gzipContentFormat('x.parquet.gz')).toBeUndefined();
    expect(gzipContentFormat('x.tar.gz')).toBeUndefined();
    expect(gzipContentFormat('train.jsonl')).toBeUndefined();
    expect(gzipContentFormat('.gz')).toBeUndefined();
  });
});

describe('diff of gzip-compressed record files', () => {
  let repo: Repository;
  let dir: string;
  const base = pairs();
  beforeAll(async () => {
    dir = tempDir('strata-gz-');
    repo = Repository.init(dir);
    writeFileSync(join(dir, 'pairs.jsonl.gz'), gz(base));
    writeFileSync(join(dir, 't.csv.gz'), gzipSync('id,text\n1,"a, b"\n2,c\n3,d\n'));
    await add(repo, ['pairs.jsonl.gz', 't.csv.gz']);
    await commit(repo, { message: 'v0' });
  });
  afterAll(() => repo.close());

  it('finds exactly the edited, deleted and inserted pairs, nothing for reordered keys or recompression', async () => {
    // Every object's keys reversed (and a different compression level): the same examples.
    const next: unknown[] = base.map((p) => ({ rejected: p.rejected, chosen: p.chosen }));
    next.splice(2000, 1); // deleted
    next.splice(100, 1); // deleted
    (next[10] as Pair).chosen += ' (edited)';
    (next[1500] as Pair).rejected = 'replaced';
    next.splice(700, 0, { chosen: 'new pair', rejected: 'new rejected' }); // inserted
    writeFileSync(
      join(dir, 'pairs.jsonl.gz'),
      gzipSync(next.map((r) => JSON.stringify(r) + '\n').join(''), { level: 1 }),
    );
    const work = await events(repo); // the working tree against HEAD
    const s = summary(work, 'pairs.jsonl.gz');
    expect(s.format).toBe('jsonl');
    expect(s.counts).toEqual({ added: 1, removed: 2, modified: 2 });
    // Sizes are the stored (compressed) files'.
    expect(s.bytes.before).toBe(gz(base).length);
    expect(s.bytes.after).toBe(readFileSync(join(dir, 'pairs.jsonl.gz')).length);
    const edited = work.filter((e) => e.type === 'change' && e.kind === 'modified');
    expect(edited.map((e) => (e.type === 'change' ? e.fields?.map((f) => f.path) : []))).toEqual([
      ['chosen'],
      ['rejected'],
    ]);
    // Committed: the same between the two revisions; nothing left in the repository's scratch space.
    await commit(repo, { message: 'v1', all: true });
    const revs = await events(repo, 'HEAD~1', 'HEAD');
    expect(summary(revs, 'pairs.jsonl.gz').counts).toEqual({ added: 1, removed: 2, modified: 2 });
    expect(summary(revs, 't.csv.gz')).toBeUndefined();
    expect(readdirIfAny(join(repo.strataDir, 'tmp'))).toEqual([]);
  });

  it('diffs CSV inside gzip by its rows, keyed', async () => {
    writeFileSync(join(dir, 't.csv.gz'), gzipSync('id,text\n1,"a, b"\n3,D\n4,e\n'));
    const evs = await events(repo, undefined, undefined, ['id']);
    const s = summary(evs, 't.csv.gz');
    expect(s.format).toBe('csv');
    expect(s.counts).toEqual({ added: 1, removed: 1, modified: 1 });
  });

  it('does not decompress past the free disk space (less STRATA_DISK_RESERVE): a binary change, with a warning', async () => {
    const committed = readFileSync(join(dir, 'pairs.jsonl.gz'));
    const text = gunzipSync(committed).toString('utf8');
    writeFileSync(join(dir, 'pairs.jsonl.gz'), gzipSync(text.slice(text.indexOf('\n') + 1)));
    const free = statfsSync(repo.strataDir);
    process.env.STRATA_DISK_RESERVE = String(free.bavail * free.bsize - 100_000); // room for 100 kB
    try {
      const evs = await events(repo);
      const warning = evs.find((e) => e.type === 'warning' && e.path === 'pairs.jsonl.gz');
      expect(warning?.type === 'warning' && warning.message).toMatch(/more than the free disk space/);
      expect(summary(evs, 'pairs.jsonl.gz').format).toBe('binary');
      expect(readdirIfAny(join(repo.strataDir, 'tmp'))).toEqual([]);
    } finally {
      delete process.env.STRATA_DISK_RESERVE;
    }
    expect(summary(await events(repo), 'pairs.jsonl.gz').counts).toEqual({
      added: 0,
      removed: 1,
      modified: 0,
    });
    writeFileSync(join(dir, 'pairs.jsonl.gz'), committed);
  });

  it('compares a file that is not readable gzip as a binary file, with a warning', async () => {
    const good = readFileSync(join(dir, 'pairs.jsonl.gz'));
    writeFileSync(join(dir, 'pairs.jsonl.gz'), good.subarray(0, 1000)); // truncated
    const evs = await events(repo);
    const warning = evs.find((e) => e.type === 'warning' && e.path === 'pairs.jsonl.gz');
    expect(warning?.type === 'warning' && warning.message).toMatch(/not a readable gzip stream.*binary/);
    const change = evs.find((e) => e.type === 'change' && e.path === 'pairs.jsonl.gz');
    expect(change?.type === 'change' && change.binary).toBe(true);
    expect(summary(evs, 'pairs.jsonl.gz').format).toBe('binary');
    writeFileSync(join(dir, 'pairs.jsonl.gz'), good);
  });
});

describe('strata add of a gzip-compressed record file', () => {
  it('hints, when a new version is staged, that it is stored whole and how to do better', () => {
    const dir = tempDir('strata-gz-add-');
    ok(dir, ['init']);
    writeFileSync(join(dir, 'train.jsonl.gz'), gz([{ id: 1 }]));
    writeFileSync(join(dir, 'blob.gz'), gzipSync('opaque'));
    const first = strata(dir, ['add', '.']);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    ok(dir, ['commit', '-m', 'v0']);
    writeFileSync(join(dir, 'train.jsonl.gz'), gz([{ id: 1 }, { id: 2 }]));
    writeFileSync(join(dir, 'blob.gz'), gzipSync('opaque, changed'));
    const next = strata(dir, ['add', '.']);
    expect(next.code).toBe(0);
    expect(next.stderr).toBe(
      'hint: train.jsonl.gz is gzip-compressed: each new version is stored whole and diffed by decompressing it; stored uncompressed, a new version reuses the examples of the last one (strata compresses what it stores)\n',
    );
  });
});

describe('examples() of gzip-compressed files', () => {
  let repo: Repository;
  let dir: string;
  let commitHash: string;
  const plain = Array.from({ length: 300 }, (_, i) => ({ id: `p${i}`, text: 'x'.repeat(i % 97) }));
  const zipped = Array.from({ length: 1000 }, (_, i) => ({ id: `z${i}`, text: 'y'.repeat(i % 89) }));
  beforeAll(async () => {
    dir = tempDir('strata-gz-ex-');
    repo = Repository.init(dir);
    writeFileSync(join(dir, 'a.jsonl'), plain.map((r) => JSON.stringify(r) + '\n').join(''));
    writeFileSync(join(dir, 'b.jsonl.gz'), gz(zipped));
    writeFileSync(
      join(dir, 'c.csv.gz'),
      gzipSync(
        'id,text\n' + Array.from({ length: 50 }, (_, i) => `c${i},"t ${i}\nsecond line"`).join('\n') + '\n',
      ),
    );
    writeFileSync(
      join(dir, 'd.json.gz'),
      gzipSync(JSON.stringify(zipped.slice(0, 20).map((r) => ({ ...r, id: `d${r.id}` })))),
    );
    writeFileSync(join(dir, 'e.json.gz'), gzipSync('{"config": true}')); // not an array: not read from a directory
    writeFileSync(join(dir, 'f.gz'), gzipSync('opaque')); // no format inside
    await add(repo, ['a.jsonl', 'b.jsonl.gz', 'c.csv.gz', 'd.json.gz', 'e.json.gz', 'f.gz']);
    commitHash = (await commit(repo, { message: 'v0' })).commit;
  });
  afterAll(() => repo.close());

  it('every shard count reads every example exactly once, in file order within a shard', async () => {
    const rev = await open(`${dir}@${commitHash}`);
    const all = (await collect(rev.examples<{ id: string }>(undefined))).map((e) => e.value.id);
    expect(all).toEqual([
      ...plain.map((r) => r.id),
      ...zipped.map((r) => r.id),
      ...Array.from({ length: 50 }, (_, i) => `c${i}`),
      ...zipped.slice(0, 20).map((r) => `d${r.id}`),
    ]);
    for (const n of [2, 3, 5, 8]) {
      const shards = await Promise.all(
        Array.from({ length: n }, (_, k) =>
          collect(rev.examples<{ id: string }>(undefined, { shard: k, numShards: n })),
        ),
      );
      const seen = shards.flat().map((e) => e.value.id);
      expect(seen.slice().sort()).toEqual(all.slice().sort());
      for (const s of shards) {
        const order = s.map((e) => all.indexOf(e.value.id));
        expect(order).toEqual(order.slice().sort((x, y) => x - y));
      }
    }
  });

  it('resumes a shard of a gzip file after a cursor, with the examples after it', async () => {
    const rev = await open(`${dir}@${commitHash}`);
    const opts = { shard: 1, numShards: 3 };
    const full = await collect(rev.examples<{ id: string }>('b.jsonl.gz', opts));
    expect(full.length).toBe(333); // 1000 examples dealt to 3 shards
    const rest = await collect(
      rev.examples<{ id: string }>('b.jsonl.gz', { ...opts, startAfter: full[100]!.cursor }),
    );
    expect(rest.map((e) => e.value.id)).toEqual(full.slice(101).map((e) => e.value.id));
  });

  it('a damaged gzip file is BAD_INPUT naming it', async () => {
    writeFileSync(join(dir, 'b.jsonl.gz'), gz(zipped).subarray(0, 500));
    await add(repo, ['b.jsonl.gz']);
    const c = (await commit(repo, { message: 'damaged' })).commit;
    const rev = await open(`${dir}@${c}`);
    await expect(collect(rev.examples('b.jsonl.gz'))).rejects.toSatisfy(
      (e) =>
        isStrataError(e, 'BAD_INPUT') &&
        /b\.jsonl\.gz: not a readable gzip stream/.test((e as Error).message),
    );
    await expect(collect(rev.examples('f.gz'))).rejects.toSatisfy((e) => isStrataError(e, 'BAD_INPUT'));
  });
});

const readdirIfAny = (p: string): string[] => (existsSync(p) ? readdirSync(p) : []);
