// `strata examples`: a file's examples as JSON Lines (JSONL, CSV, Parquet), from a revision or a pin, whole or
// one shard.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { PinnedRevision } from '../../src/core/pin/revision.js';
import { Repository } from '../../src/core/repository.js';
import { ok, strata, tempDir } from '../core/helpers.js';
import { SHARED_DATA } from '../helpers/shared-data.js';

const GSM8K = join(SHARED_DATA, 'gsm8k-test.jsonl');
const lines = (s: string): unknown[] =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);

describe('strata examples', () => {
  it('prints examples of JSONL, CSV and Parquet files of a revision or a pin; --limit, --fields, --shard', async () => {
    const dir = tempDir('strata-examples-');
    const gsm = readFileSync(GSM8K, 'utf8').split('\n').slice(0, 300).join('\n') + '\n';
    writeFileSync(join(dir, 'gsm.jsonl'), gsm);
    writeFileSync(join(dir, 't.csv'), 'id,name\n1,"a, quoted"\n2,"two\nlines"\n');
    ok(dir, ['init']);
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'data']);
    const want = lines(gsm);
    expect(lines(ok(dir, ['examples', 'HEAD:gsm.jsonl']))).toEqual(want);
    expect(lines(ok(dir, ['examples', 'HEAD:t.csv']))).toEqual([
      { id: '1', name: 'a, quoted' },
      { id: '2', name: 'two\nlines' },
    ]);
    expect(lines(ok(dir, ['examples', 'HEAD:gsm.jsonl', '-n', '3', '--fields', 'question']))).toEqual(
      want.slice(0, 3).map((e) => ({ question: (e as { question: string }).question })),
    );
    const first = lines(ok(dir, ['examples', 'HEAD:gsm.jsonl', '-n', '1', '--with-position']))[0];
    expect(first).toEqual({ path: 'gsm.jsonl', offset: 0, value: want[0] });
    // Three shards: disjoint, in order, together every example once (as training workers read them).
    const shards = [0, 1, 2].map((k) => lines(ok(dir, ['examples', 'HEAD:gsm.jsonl', '--shard', `${k}/3`])));
    expect(shards.every((s) => s.length > 50)).toBe(true);
    expect(shards.flat()).toEqual(want);
    // A revision alone: every record file, in tree order; a pin, with or without a path.
    expect(lines(ok(dir, ['examples', 'HEAD'])).length).toBe(want.length + 2);
    const pin = ok(dir, ['pin', 'HEAD']).trim();
    expect(lines(ok(dir, ['examples', `${pin}:t.csv`]))).toHaveLength(2);
    expect(lines(ok(dir, ['examples', pin, '-n', '5']))).toHaveLength(5);
    // Parquet: rows as objects (INT64 as numbers), by row groups; shards split at row groups.
    const ids = Array.from({ length: 1000 }, (_, i) => i);
    writeFileSync(
      join(dir, 'p.parquet'),
      new Uint8Array(
        parquetWriteBuffer({
          columnData: [
            { name: 'id', data: ids.map(BigInt), type: 'INT64' },
            { name: 'text', data: ids.map((i) => `row ${i}`), type: 'STRING' },
          ],
          rowGroupSize: 100,
        }),
      ),
    );
    ok(dir, ['add', 'p.parquet']);
    ok(dir, ['commit', '-m', 'parquet']);
    const rows = ids.map((i) => ({ id: i, text: `row ${i}` }));
    expect(lines(ok(dir, ['examples', 'HEAD:p.parquet']))).toEqual(rows);
    const pq = [0, 1, 2, 3].map((k) => lines(ok(dir, ['examples', 'HEAD:p.parquet', '--shard', `${k}/4`])));
    expect(pq.filter((s) => s.length > 0).length).toBeGreaterThan(2);
    expect(pq.flat()).toEqual(rows);
    expect(lines(ok(dir, ['examples', 'HEAD:p.parquet', '-n', '1', '--with-position']))).toEqual([
      { path: 'p.parquet', offset: 0, value: rows[0] },
    ]);
    // Resuming a Parquet shard after a checkpoint (library): exactly the rows after it.
    const repo = Repository.open(dir);
    try {
      const rev = await PinnedRevision.fromRepository(repo, 'HEAD');
      const got: unknown[] = [];
      for await (const ex of rev.examples('p.parquet', { startAfter: { path: 'p.parquet', offset: 249 } }))
        got.push(ex.offset);
      expect(got).toEqual(ids.slice(250));
    } finally {
      repo.close();
    }
    // Resuming from the CLI: the position --with-position printed, within a shard, or PATH:OFFSET.
    const s1 = lines(ok(dir, ['examples', 'HEAD:gsm.jsonl', '--shard', '1/3', '--with-position'])) as {
      path: string;
      offset: number;
    }[];
    const rest = lines(
      ok(dir, ['examples', 'HEAD:gsm.jsonl', '--shard', '1/3', '--start-after', String(s1[4]!.offset)]),
    );
    expect(rest).toEqual(shards[1]!.slice(5));
    expect(
      lines(ok(dir, ['examples', 'HEAD', '--start-after', `gsm.jsonl:${s1[0]!.offset}`, '-n', '1'])),
    ).toEqual([shards[1]![1]]);
    expect(strata(dir, ['examples', 'HEAD', '--start-after', '12']).code).toBe(2);
    // A directory holding several record files: OFFSET alone does not say which file.
    expect(strata(dir, ['examples', 'HEAD:.', '--start-after', '12']).code).toBe(2);
    // Bad input: a shard out of range, a count that is not one, a missing file.
    expect(strata(dir, ['examples', 'HEAD:gsm.jsonl', '--shard', '3/3']).code).toBe(2);
    expect(strata(dir, ['examples', 'HEAD:gsm.jsonl', '-n', 'x']).code).toBe(2);
    expect(strata(dir, ['examples', 'HEAD:nope.jsonl']).code).toBe(4);
  });

  it('JSON arrays: element by element, sharded by where elements start, resumable; bad structure is BAD_INPUT', async () => {
    const dir = tempDir('strata-examples-json-');
    const want = lines(readFileSync(GSM8K, 'utf8')).slice(0, 400);
    const text = JSON.stringify(want, null, 2);
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'gsm.json'), text);
    writeFileSync(join(dir, 'data', 'gsm.json'), text);
    writeFileSync(join(dir, 'data', 'info.json'), '{"config": {"lr": 0.1}}\n');
    writeFileSync(join(dir, 'bad.json'), '[{"a": 1}, {"a": 2} {"a": 3}]');
    ok(dir, ['init']);
    ok(dir, ['add', '.']);
    ok(dir, ['commit', '-m', 'json']);
    expect(lines(ok(dir, ['examples', 'HEAD:gsm.json']))).toEqual(want);
    // A JSON document that is not an array is one example when named, and configuration (left out) when a
    // directory is read.
    expect(lines(ok(dir, ['examples', 'HEAD:data/info.json']))).toEqual([{ config: { lr: 0.1 } }]);
    expect(lines(ok(dir, ['examples', 'HEAD:data']))).toEqual(want);
    // Positions are the bytes where elements start.
    const bytes = Buffer.from(text);
    const pos = lines(ok(dir, ['examples', 'HEAD:gsm.json', '-n', '3', '--with-position'])) as {
      offset: number;
    }[];
    for (const [i, p] of pos.entries()) {
      expect(bytes[p.offset]).toBe(0x7b);
      const end = bytes.indexOf('\n  }', p.offset) + 4;
      expect(JSON.parse(bytes.subarray(p.offset, end).toString())).toEqual(want[i]);
    }
    for (const n of [3, 7]) {
      const shards = Array.from({ length: n }, (_, k) =>
        lines(ok(dir, ['examples', 'HEAD:gsm.json', '--shard', `${k}/${n}`])),
      );
      expect(shards.filter((s) => s.length > 0).length).toBe(n);
      expect(shards.flat()).toEqual(want);
    }
    const repo = Repository.open(dir);
    try {
      const rev = await PinnedRevision.fromRepository(repo, 'HEAD');
      const all: { offset: number; cursor: unknown }[] = [];
      for await (const ex of rev.examples('gsm.json', { shard: 1, numShards: 2 })) all.push(ex);
      const got: unknown[] = [];
      for await (const ex of rev.examples('gsm.json', {
        shard: 1,
        numShards: 2,
        startAfter: all[9]!.cursor as never,
      }))
        got.push(ex.offset);
      expect(got).toEqual(all.slice(10).map((e) => e.offset));
    } finally {
      repo.close();
    }
    // The elements before the error come out; then the structure error, with its byte.
    const bad = strata(dir, ['examples', 'HEAD:bad.json']);
    expect(bad.code).toBe(2);
    expect(lines(bad.stdout)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(bad.stderr).toContain(
      "bad.json: not a JSON array: expected ',' or ']' after an array element at byte 20",
    );
  });
});
