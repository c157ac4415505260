import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION_NAMES, generate, makeRow, type Truth, type VersionName } from '../../bench/generate.js';
import { Rng, sampleDistinct } from '../../bench/lib/prng.js';
import { parseSize } from '../../bench/lib/util.js';

const SIZE = 512 * 1024;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'strata-bench-gen-'));
  dirs.push(d);
  return d;
}

let dirA: string;
let truth: Truth;

beforeAll(async () => {
  dirA = tempDir();
  truth = await generate({ dir: dirA, size: SIZE, seed: 7 });
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function jsonlById(version: VersionName): Map<string, string> {
  const lines = readFileSync(join(dirA, `${version}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean);
  const m = new Map<string, string>();
  for (const line of lines) m.set((JSON.parse(line) as { id: string }).id, line);
  expect(m.size).toBe(lines.length); // ids are unique
  return m;
}

function ids(version: VersionName): string[] {
  return readFileSync(join(dirA, `${version}.jsonl`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);
}

describe('prng', () => {
  it('is deterministic per (seed, a, b) and streams differ', () => {
    const a = new Rng(1, 2, 3);
    const b = new Rng(1, 2, 3);
    const c = new Rng(1, 2, 4);
    const xs = Array.from({ length: 8 }, () => a.next());
    expect(Array.from({ length: 8 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.next())).not.toEqual(xs);
  });

  it('samples distinct sorted indices', () => {
    const s = sampleDistinct(new Rng(3), 1000, 100);
    expect(new Set(s).size).toBe(100);
    expect([...s]).toEqual([...s].sort((x, y) => x - y));
  });
});

describe('generator', () => {
  it('parses sizes', () => {
    expect(parseSize('64M')).toBe(64 * 1024 * 1024);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('4096')).toBe(4096);
  });

  it('makes ~1 KiB chat examples with system/user/assistant turns', () => {
    const row = makeRow(1, 42, 0);
    expect(row.id).toBe('ex-00000042');
    expect(makeRow(1, 42, 1).user).toBe(row.user);
    expect(makeRow(1, 42, 1).assistant).not.toBe(row.assistant);
    const lines = readFileSync(join(dirA, 'v0.jsonl'), 'utf8').split('\n').filter(Boolean);
    const avg = SIZE / lines.length;
    expect(avg).toBeGreaterThan(700);
    expect(avg).toBeLessThan(1400);
    const first = JSON.parse(lines[0] as string) as { messages: { role: string }[]; meta: object };
    expect(first.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(first.meta).toHaveProperty('source');
  });

  it('gives the same bytes for the same seed, different bytes for another seed', async () => {
    const dirB = tempDir();
    const again = await generate({ dir: dirB, size: SIZE, seed: 7, force: true });
    const other = await generate({ dir: tempDir(), size: SIZE, seed: 8, force: true });
    for (const [i, v] of truth.versions.entries()) {
      const w = again.versions[i];
      expect(w?.files).toEqual(v.files);
      expect(
        readFileSync(join(dirB, `${v.name}.jsonl`)).equals(readFileSync(join(dirA, `${v.name}.jsonl`))),
      ).toBe(true);
      expect(other.versions[i]?.files.jsonl?.sha256).not.toBe(v.files.jsonl?.sha256);
    }
  });

  it('records ground truth that matches the files (diff by id of every pair)', () => {
    const maps = Object.fromEntries(VERSION_NAMES.map((v) => [v, jsonlById(v)])) as Record<
      VersionName,
      Map<string, string>
    >;
    expect(truth.pairs).toHaveLength(10);
    for (const p of truth.pairs) {
      const a = maps[p.from];
      const b = maps[p.to];
      let added = 0;
      let removed = 0;
      let modified = 0;
      for (const [id, line] of b) {
        const old = a.get(id);
        if (old === undefined) added++;
        else if (old !== line) modified++;
      }
      for (const id of a.keys()) if (!b.has(id)) removed++;
      expect({ pair: `${p.from}->${p.to}`, added, removed, modified }).toEqual({
        pair: `${p.from}->${p.to}`,
        added: p.added,
        removed: p.removed,
        modified: p.modified,
      });
    }
    const n = truth.baseRows;
    expect(truth.edited).toBe(Math.round(n * 0.01));
    expect(truth.pairs.find((p) => p.from === 'v0' && p.to === 'v1')).toMatchObject({
      added: 0,
      removed: 0,
      modified: truth.edited,
    });
    expect(truth.pairs.find((p) => p.from === 'v1' && p.to === 'v2')).toMatchObject({
      added: truth.appended,
    });
    expect(truth.pairs.find((p) => p.from === 'v2' && p.to === 'v3')).toMatchObject({
      removed: truth.deleted,
    });
    expect(truth.pairs.find((p) => p.from === 'v3' && p.to === 'v4')).toMatchObject({
      added: 0,
      removed: 0,
      modified: 0,
    });
  });

  it('scatters edits and deletions and really shuffles v4', () => {
    const v0 = ids('v0');
    const v1 = jsonlById('v1');
    const base = jsonlById('v0');
    const editedPositions = v0.flatMap((id, i) => (base.get(id) !== v1.get(id) ? [i] : []));
    expect(editedPositions.length).toBe(truth.edited);
    // Not clustered: the edits span most of the file.
    expect((editedPositions.at(-1) ?? 0) - (editedPositions[0] ?? 0)).toBeGreaterThan(v0.length / 4);
    const v3 = ids('v3');
    const v4 = ids('v4');
    expect([...v4].sort()).toEqual([...v3].sort());
    expect(v4).not.toEqual(v3);
  });

  it('writes CSV and Parquet with the same rows as the JSONL', async () => {
    for (const v of truth.versions) {
      const jsonIds = ids(v.name);
      const csv = parse(readFileSync(join(dirA, `${v.name}.csv`)), { columns: true }) as Record<
        string,
        string
      >[];
      expect(csv.length).toBe(v.rows);
      expect(csv.map((r) => r.id)).toEqual(jsonIds);
      const buf = readFileSync(join(dirA, `${v.name}.parquet`));
      const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
      expect(Number(parquetMetadata(ab).num_rows)).toBe(v.rows);
      const rows = (await parquetReadObjects({ file: ab, columns: ['id', 'assistant'] })) as {
        id: string;
        assistant: string;
      }[];
      expect(rows.map((r) => r.id)).toEqual(jsonIds);
      const firstJson = JSON.parse(
        readFileSync(join(dirA, `${v.name}.jsonl`), 'utf8').split('\n')[0] as string,
      ) as {
        messages: { content: string }[];
      };
      expect(rows[0]?.assistant).toBe(firstJson.messages[2]?.content);
      expect(csv[0]?.assistant).toBe(firstJson.messages[2]?.content);
    }
  });
});
