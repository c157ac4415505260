/**
 * Damaged bytes: flipped and truncated packs, index rows pointing past a pack's end, a missing pack, a
 * damaged index.sqlite, a damaged object on a directory remote. Every read fails with INTEGRITY naming the
 * object and where it came from; fsck lists every problem; fsck --repair restores what the packs hold and
 * names what it could not.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flipByte, ok, strata, tempDir } from '../core/helpers.js';
import { decodePackIndex } from '../../src/storage/pack-format.js';
import {
  bytes,
  catAll,
  catRaw,
  ENV,
  expectClean,
  fsckJson,
  jsonl,
  rev,
  spansOf,
  sql,
  write,
} from './helpers.js';

interface Row {
  hash: string;
  pack: string;
  offset: number;
  length: number;
}

const rowOf = (dir: string, hash: string): Row =>
  sql<Row>(
    dir,
    'SELECT o.hash, p.name AS pack, o.offset, o.length FROM objects o JOIN packs p ON p.id = o.pack WHERE o.hash = ?',
    [hash],
  )[0]!;

const packPath = (dir: string, name: string): string => join(dir, '.strata', 'packs', `${name}.pack`);

interface RepairJson {
  indexRebuilt: boolean;
  movedAside: string[];
  objectsIndexed: number;
  rowsDropped: { hash: string; pack: string; reason: string }[];
  packProblems: { pack: string; object?: string; problem: string }[];
  salvaged: Record<string, number>;
  unsalvageable: string[];
  recoveredRefs: { name: string; commit: string }[];
  unrepairable: { code: string; message: string; object?: string }[];
}

const repairJson = (dir: string): { code: number; r: RepairJson } => {
  const res = strata(dir, ['fsck', '--repair', '--json'], ENV);
  return { code: res.code, r: JSON.parse(res.stdout.trim().split('\n')[0]!) as RepairJson };
};

/** One file per commit, so that each file's chunks sit in their own pack. */
function repoWithPacks(n: number): { dir: string; commits: string[]; chunks: string[][] } {
  const dir = tempDir('strata-corrupt-');
  ok(dir, ['init'], ENV);
  const commits: string[] = [];
  const chunks: string[][] = [];
  for (let i = 0; i < n; i++) {
    write(dir, `f${i}.bin`, bytes(100_000, i + 1));
    ok(dir, ['add', `f${i}.bin`], ENV);
    ok(dir, ['commit', '-m', `c${i}`], ENV);
    commits.push(rev(dir, 'HEAD'));
    chunks.push(spansOf(dir, rev(dir, `HEAD:f${i}.bin`)));
  }
  return { dir, commits, chunks };
}

describe('corruption', () => {
  it(
    'flipped bytes, a truncated pack, a row past a pack end and a missing pack: named errors, fsck lists all, repair restores what the packs hold',
    {
      timeout: 300_000,
    },
    () => {
      const { dir, commits, chunks } = repoWithPacks(5);
      const files = catAll(dir, commits[4]!);

      // f0: a byte flipped in the middle of a chunk's payload.
      const flipped = rowOf(dir, chunks[0]![0]!);
      flipByte(packPath(dir, flipped.pack), flipped.offset + (flipped.length >> 1));
      // f1: its pack loses its last 100 bytes (the last object is cut).
      const truncPack = rowOf(dir, chunks[1]![0]!).pack;
      const truncLast = sql<Row>(
        dir,
        'SELECT o.hash, o.offset FROM objects o JOIN packs p ON p.id = o.pack WHERE p.name = ? ORDER BY o.offset DESC LIMIT 1',
        [truncPack],
      )[0]!;
      truncateSync(packPath(dir, truncPack), statSync(packPath(dir, truncPack)).size - 100);
      // f2: an index row pointing past its pack's end (the bytes themselves are fine).
      const past = rowOf(dir, chunks[2]![0]!);
      sql(
        dir,
        'UPDATE objects SET offset = ? WHERE hash = ?',
        [statSync(packPath(dir, past.pack)).size + 10, past.hash],
        true,
      );
      // f3: its pack is deleted.
      const missingPack = rowOf(dir, chunks[3]![0]!).pack;
      const f3Manifest = rev(dir, 'HEAD:f3.bin'); // stored with f3's chunks, in the pack that goes
      const missingRows = sql<{ hash: string }>(
        dir,
        'SELECT hash FROM objects WHERE pack = (SELECT id FROM packs WHERE name = ?)',
        [missingPack],
      ).map((r) => r.hash);
      unlinkSync(packPath(dir, missingPack));

      // Each read fails with INTEGRITY (exit 7) naming the object and the pack it came from.
      const read = (path: string): { code: number; stderr: string } =>
        strata(dir, ['cat', `HEAD:${path}`], ENV);
      const e0 = read('f0.bin');
      expect(e0.code).toBe(7);
      expect(e0.stderr).toContain(flipped.hash);
      expect(e0.stderr).toContain(`pack ${flipped.pack}`);
      const e1 = read('f1.bin');
      expect(e1.code).toBe(7);
      expect(e1.stderr).toContain(truncPack);
      const e2 = read('f2.bin');
      expect(e2.code).toBe(7);
      expect(e2.stderr).toContain(past.pack);
      const e3 = read('f3.bin');
      expect(e3.code).toBe(7);
      expect(e3.stderr).toContain(missingPack);
      expect(e3.stderr).toMatch(/missing/);
      expect(catRaw(dir, 'HEAD:f4.bin').equals(bytes(100_000, 5))).toBe(true);

      // fsck lists every one of them, not just the first.
      const f = fsckJson(dir);
      expect(f.code).toBe(7);
      const probs = f.report.problems;
      expect(probs.some((p) => p.object === flipped.hash && p.pack === flipped.pack)).toBe(true);
      expect(probs.some((p) => p.pack === truncPack && p.code === 'PACK_SIZE')).toBe(true);
      expect(probs.some((p) => p.object === truncLast.hash)).toBe(true);
      expect(probs.some((p) => p.object === past.hash)).toBe(true);
      expect(probs.some((p) => p.code === 'MISSING_PACK' && p.pack === missingPack)).toBe(true);
      for (const h of missingRows) expect(probs.some((p) => p.object === h)).toBe(true);

      // Repair: the row past the end is re-pointed at the real bytes; rows for the missing pack and the
      // damaged bytes go; what is lost for good is named.
      const { code, r } = repairJson(dir);
      expect(code).toBe(7);
      expect(r.indexRebuilt).toBe(false);
      expect(r.rowsDropped.map((d) => d.hash).sort()).toEqual(
        [...new Set([flipped.hash, truncLast.hash, ...missingRows])].sort(),
      );
      expect(r.rowsDropped.find((d) => d.hash === missingRows[0])!.reason).toMatch(/missing/);
      expect(r.packProblems.some((p) => p.object === flipped.hash)).toBe(true);
      expect(r.packProblems.some((p) => p.pack === truncPack)).toBe(true);
      const lost = r.unrepairable.map((p) => p.object);
      expect(lost).toContain(flipped.hash);
      expect(lost).toContain(truncLast.hash);
      expect(missingRows).toContain(f3Manifest);
      expect(lost).toContain(f3Manifest); // its chunks are unreachable without it, so they are not listed
      expect(lost).not.toContain(past.hash);
      // f2 reads again, byte-identical; the intact files too; fsck now lists only what is really lost.
      expect(catRaw(dir, 'HEAD:f2.bin').equals(bytes(100_000, 3))).toBe(true);
      expect(catRaw(dir, 'HEAD:f4.bin').equals(bytes(100_000, 5))).toBe(true);
      const after = fsckJson(dir).report.problems;
      expect(after.every((p) => p.code === 'MISSING_OBJECT')).toBe(true);
      expect(after.map((p) => p.object).sort()).toEqual([...new Set(lost)].sort());
      expect(files.size).toBe(5);
      // The damaged pack files were rewritten without their bad entries and kept aside, not deleted.
      expect(r.movedAside.some((f) => f.endsWith(`damaged-packs/${flipped.pack}.pack`))).toBe(true);
      expect(r.movedAside.some((f) => f.endsWith(`damaged-packs/${truncPack}.pack`))).toBe(true);
      expect(r.movedAside.every((f) => existsSync(f))).toBe(true);
    },
  );

  it(
    'a damaged index.sqlite: every command fails INTEGRITY naming it; fsck --repair keeps it aside and rebuilds refs from the packs',
    {
      timeout: 300_000,
    },
    () => {
      const dir = tempDir('strata-corrupt-');
      ok(dir, ['init'], ENV);
      write(dir, 'd.jsonl', jsonl(2000, 1));
      ok(dir, ['add', '.'], ENV);
      ok(dir, ['commit', '-m', 'base'], ENV);
      ok(dir, ['switch', '-c', 'side'], ENV);
      write(dir, 'side.bin', bytes(50_000, 7));
      ok(dir, ['add', '.'], ENV);
      ok(dir, ['commit', '-m', 'side'], ENV);
      const side = rev(dir, 'HEAD');
      const sideFiles = catAll(dir, side);
      ok(dir, ['switch', 'main'], ENV);
      write(dir, 'd.jsonl', jsonl(2000, 1, 3));
      ok(dir, ['commit', '-a', '-m', 'main edit'], ENV); // newest commit: main's tip
      const main = rev(dir, 'HEAD');
      const mainFiles = catAll(dir, main);

      const db = join(dir, '.strata', 'index.sqlite');
      const damaged = Buffer.from(readFileSync(db));
      damaged.write('this is not sqlite', 0);
      writeFileSync(db, damaged);
      for (const args of [['status'], ['log'], ['add', '.'], ['commit', '-m', 'x'], ['gc'], ['fsck']]) {
        const r = strata(dir, args, ENV);
        expect(r.code, args.join(' ')).toBe(7);
        expect(r.stderr).toContain(db);
        expect(r.stderr).toMatch(/fsck --repair/);
      }

      const { code, r } = repairJson(dir);
      expect(code, JSON.stringify(r.unrepairable)).toBe(0);
      expect(r.indexRebuilt).toBe(true);
      // The damaged file is kept, byte for byte.
      expect(r.movedAside).toHaveLength(1);
      expect(readFileSync(r.movedAside[0]!).equals(damaged)).toBe(true);
      expect(
        readdirSync(join(dir, '.strata')).filter((f) => f.startsWith('index.sqlite.damaged-')),
      ).toHaveLength(1);
      // Nothing was readable: refs come back as recovered/<n> at the two tips, newest first; HEAD on recovered/1.
      expect(r.unsalvageable).toContain('refs');
      expect(r.recoveredRefs.map((x) => x.commit)).toEqual([main, side]);
      expect(
        ok(dir, ['branch'])
          .trim()
          .split('\n')
          .map((l) => l.trim()),
      ).toEqual(['* recovered/1', 'recovered/2']);
      expect(catAll(dir, 'recovered/1')).toEqual(mainFiles);
      expect(catAll(dir, 'recovered/2')).toEqual(sideFiles);
      expect(ok(dir, ['log', '--oneline', 'recovered/2'])).toContain('base');
      // The staging index was rebuilt from HEAD's tree: the working tree (at main) is clean.
      expect(ok(dir, ['status', '-s']).trim()).toBe('');
      expectClean(dir);
      write(dir, 'new.txt', 'after repair\n');
      ok(dir, ['add', 'new.txt'], ENV);
      ok(dir, ['commit', '-m', 'after repair'], ENV);
      expectClean(dir);
    },
  );

  it(
    'a deleted index.sqlite is rebuilt too; refs salvaged from a readable damaged copy are kept',
    {
      timeout: 120_000,
    },
    () => {
      const dir = tempDir('strata-corrupt-');
      ok(dir, ['init'], ENV);
      write(dir, 'a.bin', bytes(40_000, 1));
      ok(dir, ['add', '.'], ENV);
      ok(dir, ['commit', '-m', 'one'], ENV);
      ok(dir, ['tag', 'v1'], ENV);
      const one = rev(dir, 'HEAD');
      // SQLite reads the file but quick_check fails: an index page of the objects table overwritten.
      const db = join(dir, '.strata', 'index.sqlite');
      const pages = sql<{ name: string; rootpage: number }>(
        dir,
        "SELECT name, rootpage FROM sqlite_master WHERE name = 'objects_pack'",
      );
      const pageSize = sql<{ page_size: number }>(dir, 'PRAGMA page_size')[0]!.page_size;
      const buf = readFileSync(db);
      buf.fill(0xab, (pages[0]!.rootpage - 1) * pageSize + 8, pages[0]!.rootpage * pageSize);
      writeFileSync(db, buf);
      const f = strata(dir, ['fsck', '--json'], ENV);
      expect(f.code).toBe(7);
      expect(f.stdout + f.stderr).toContain('index.sqlite');

      const { code, r } = repairJson(dir);
      expect(code, JSON.stringify(r)).toBe(0);
      expect(r.indexRebuilt).toBe(true);
      expect(r.salvaged.refs).toBeGreaterThanOrEqual(3); // HEAD, main, v1
      expect(r.recoveredRefs).toEqual([]);
      expect(rev(dir, 'v1')).toBe(one);
      expect(rev(dir, 'main')).toBe(one);
      expectClean(dir);

      // Gone altogether: rebuilt from the packs alone.
      unlinkSync(db);
      const again = repairJson(dir);
      expect(again.code).toBe(0);
      expect(again.r.recoveredRefs.map((x) => x.commit)).toEqual([one]);
      expect(catRaw(dir, 'HEAD:a.bin').equals(bytes(40_000, 1))).toBe(true);
      expect(existsSync(db)).toBe(true);
    },
  );

  it(
    'a damaged object on a directory remote: clone fails INTEGRITY naming the object and the remote pack',
    {
      timeout: 120_000,
    },
    () => {
      const dir = tempDir('strata-corrupt-');
      const remote = tempDir('strata-remote-');
      ok(dir, ['init'], ENV);
      write(dir, 'a.bin', bytes(200_000, 3));
      ok(dir, ['add', '.'], ENV);
      ok(dir, ['commit', '-m', 'one'], ENV);
      ok(dir, ['remote', 'add', 'origin', remote], ENV);
      ok(dir, ['push', 'origin', 'main'], ENV);
      // Flip a byte inside the largest object's payload on the remote (located through the pack index).
      const packsDir = join(remote, 'packs');
      const idx = readdirSync(packsDir).find((f) => f.endsWith('.idx'))!;
      const entries = decodePackIndex(readFileSync(join(packsDir, idx)), idx);
      const victim = entries.reduce((a, b) => (a.length > b.length ? a : b));
      const packFile = idx.replace(/\.idx$/, '.pack');
      flipByte(join(packsDir, packFile), victim.offset + (victim.length >> 1));

      const clone = join(tempDir('strata-clone-'), 'c');
      const r = strata(dir, ['clone', '--all', remote, clone], ENV);
      expect(r.code).toBe(7);
      expect(r.stderr).toContain(victim.hash);
      expect(r.stderr).toContain(packFile);
      // The local repository is untouched and clean.
      expectClean(dir);
      expect(createHash('sha256').update(catRaw(dir, 'HEAD:a.bin')).digest('hex')).toBe(
        createHash('sha256').update(bytes(200_000, 3)).digest('hex'),
      );
    },
  );
});
