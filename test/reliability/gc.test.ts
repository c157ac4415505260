/**
 * `strata gc`: unreachable objects go, everything reachable (refs, tags, detached HEAD, young reflog
 * entries, staged files, delta bases) stays readable byte for byte, packs are consolidated, a concurrent
 * commit is never lost, and a gc killed at any point leaves a readable repository.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repository } from '../../src/core/repository.js';
import { ok, strata, tempDir } from '../core/helpers.js';
import {
  bytes,
  catAll,
  catRaw,
  ENV,
  expectClean,
  fsckJson,
  hasObject,
  jsonl,
  packFiles,
  rev,
  spawnCli,
  spansOf,
  sql,
  write,
} from './helpers.js';

interface GcJson {
  dryRun: boolean;
  objects: { before: number; kept: number; removed: number; copied: number };
  bytes: { before: number; after: number };
  packs: { before: number; after: number; written: number; deleted: number };
  reflog: { expire: string; expired: number };
  leftovers: string[];
}

const gcJson = (dir: string, args: string[] = []): GcJson =>
  JSON.parse(ok(dir, ['gc', '--json', ...args], ENV)) as GcJson;

/** A repository with four commits on main (each its own pack), a tag, and an abandoned branch. */
function history(): { dir: string; main: string[]; dropped: string; droppedChunks: string[] } {
  const dir = tempDir('strata-gc-');
  ok(dir, ['init'], ENV);
  const main: string[] = [];
  for (let i = 0; i < 4; i++) {
    write(dir, `f${i}.bin`, bytes(120_000, i + 1));
    write(dir, 'data.jsonl', jsonl(400 + i * 50, i));
    ok(dir, ['add', '.'], ENV);
    ok(dir, ['commit', '-m', `c${i}`], ENV);
    main.push(rev(dir, 'HEAD'));
  }
  ok(dir, ['tag', 'v0', main[0]!], ENV);
  ok(dir, ['switch', '-c', 'tmp'], ENV);
  write(dir, 'junk.bin', bytes(200_000, 99));
  ok(dir, ['add', 'junk.bin'], ENV);
  ok(dir, ['commit', '-m', 'junk'], ENV);
  const dropped = rev(dir, 'HEAD');
  const droppedChunks = spansOf(dir, rev(dir, 'HEAD:junk.bin'));
  ok(dir, ['switch', 'main'], ENV);
  ok(dir, ['branch', '-d', 'tmp'], ENV);
  return { dir, main, dropped, droppedChunks };
}

describe('gc', () => {
  it(
    'removes unreachable objects, keeps every reachable one byte-identical, consolidates packs',
    { timeout: 300_000 },
    () => {
      const { dir, main, dropped, droppedChunks } = history();
      const before = main.map((c) => catAll(dir, c));
      const packsBefore = packFiles(dir);
      expect(packsBefore.length).toBeGreaterThanOrEqual(5);

      // Default expiry (90 days): the abandoned commit is still in the reflog, so nothing is removed.
      const first = gcJson(dir);
      expect(first.objects.removed).toBe(0);
      expect(hasObject(dir, dropped)).toBe(true);
      expect(first.packs.after).toBe(1);

      // Dry run with the reflog expired: predicts, changes nothing.
      const packsNow = packFiles(dir);
      const dry = gcJson(dir, ['--dry-run', '--expire-reflog', 'now']);
      expect(dry.dryRun).toBe(true);
      expect(dry.objects.removed).toBeGreaterThan(droppedChunks.length);
      expect(packFiles(dir)).toEqual(packsNow);
      expect(hasObject(dir, dropped)).toBe(true);

      const r = gcJson(dir, ['--expire-reflog', 'now']);
      expect(r.objects.removed).toBe(dry.objects.removed);
      expect(r.bytes.after).toBe(dry.bytes.after);
      expect(r.packs.after).toBe(dry.packs.after);
      expect(r.bytes.after).toBeLessThan(r.bytes.before);
      expect(r.reflog.expired).toBeGreaterThan(0);
      expect(packFiles(dir)).toHaveLength(1);
      // The abandoned commit and its only chunks are gone; rev-parse no longer finds it.
      expect(hasObject(dir, dropped)).toBe(false);
      for (const c of droppedChunks) expect(hasObject(dir, c)).toBe(false);
      expect(strata(dir, ['rev-parse', dropped], ENV).code).not.toBe(0);
      expect(sql(dir, 'SELECT 1 FROM commits WHERE hash = ?', [dropped])).toHaveLength(0);
      // Everything reachable reads back byte-identical (tag v0 and every commit of main).
      main.forEach((c, i) => expect(catAll(dir, c)).toEqual(before[i]));
      expect(rev(dir, 'v0')).toBe(main[0]);
      expectClean(dir);
      expect(fsckJson(dir).report.danglingFiles).toEqual([]);

      // A second gc has nothing to do and writes nothing.
      const again = gcJson(dir, ['--expire-reflog', 'now']);
      expect(again.objects.removed).toBe(0);
      expect(again.packs.written).toBe(0);
      expect(packFiles(dir)).toHaveLength(1);
    },
  );

  it(
    'respects reflog expiry: a commit only the reflog names survives until its entry expires',
    { timeout: 300_000 },
    () => {
      const dir = tempDir('strata-gc-');
      ok(dir, ['init'], ENV);
      write(dir, 'a.bin', bytes(50_000, 1));
      ok(dir, ['add', '.'], ENV);
      ok(dir, ['commit', '-m', 'one'], ENV);
      write(dir, 'b.bin', bytes(50_000, 2));
      ok(dir, ['add', '.'], ENV);
      ok(dir, ['commit', '-m', 'two'], ENV);
      const two = rev(dir, 'HEAD');
      const twoFiles = catAll(dir, two);
      ok(dir, ['reset', '--hard', 'HEAD~1'], ENV);

      gcJson(dir); // default 90d
      expect(catAll(dir, two)).toEqual(twoFiles);
      gcJson(dir, ['--expire-reflog', '30d']);
      expect(catAll(dir, two)).toEqual(twoFiles);
      ok(dir, ['config', 'gc.reflogExpire', 'never'], ENV);
      gcJson(dir);
      expect(hasObject(dir, two)).toBe(true);

      // Entries dated 100 days ago expire under the default; the commit goes with them.
      sql(dir, 'UPDATE reflog SET time = time - ?', [100 * 86_400_000], true);
      ok(dir, ['config', '--unset', 'gc.reflogExpire'], ENV);
      const r = gcJson(dir);
      expect(r.reflog.expired).toBeGreaterThan(0);
      expect(hasObject(dir, two)).toBe(false);
      expectClean(dir);

      const bad = strata(dir, ['gc', '--expire-reflog', 'soon'], ENV);
      expect(bad.code).toBe(2);
    },
  );

  it('keeps staged-but-uncommitted files, a detached HEAD and tagged commits', { timeout: 300_000 }, () => {
    const dir = tempDir('strata-gc-');
    ok(dir, ['init'], ENV);
    write(dir, 'a.bin', bytes(60_000, 1));
    ok(dir, ['add', '.'], ENV);
    ok(dir, ['commit', '-m', 'one'], ENV);
    const one = rev(dir, 'HEAD');
    // A tagged commit off to the side, reachable only through the tag once HEAD moves on.
    ok(dir, ['switch', '--detach', one], ENV);
    write(dir, 'tagged.bin', bytes(60_000, 4));
    ok(dir, ['add', '.'], ENV);
    ok(dir, ['commit', '-m', 'tagged'], ENV);
    const tagged = rev(dir, 'HEAD');
    ok(dir, ['tag', 't1'], ENV);
    const taggedFiles = catAll(dir, tagged);
    // Then a detached commit that HEAD (detached) is the only ref to.
    ok(dir, ['switch', '--detach', one], ENV);
    write(dir, 'det.bin', bytes(60_000, 2));
    ok(dir, ['add', '.'], ENV);
    ok(dir, ['commit', '-m', 'detached'], ENV);
    const det = rev(dir, 'HEAD');
    const detFiles = catAll(dir, det);
    // Staged, never committed: only the index names it.
    write(dir, 'staged.bin', bytes(70_000, 3));
    ok(dir, ['add', 'staged.bin'], ENV);

    const r = gcJson(dir, ['--expire-reflog', 'now']);
    expect(r.objects.removed).toBe(0);
    expect(catAll(dir, det)).toEqual(detFiles);
    expect(catAll(dir, tagged)).toEqual(taggedFiles);
    expectClean(dir);
    ok(dir, ['commit', '-m', 'staged'], ENV);
    expect(catRaw(dir, 'HEAD:staged.bin').equals(bytes(70_000, 3))).toBe(true);
    expectClean(dir);
  });

  it(
    'keeps the old chunks a span-coded version spans into, although the version that stored them is gone',
    { timeout: 300_000 },
    () => {
      const dir = tempDir('strata-gc-');
      ok(dir, ['init'], ENV);
      write(dir, 'd.jsonl', jsonl(4000, 1));
      ok(dir, ['add', 'd.jsonl'], ENV); // v0 only staged, never committed
      const v1 = jsonl(4000, 1, 5); // ~1% of the records edited
      write(dir, 'd.jsonl', v1);
      ok(dir, ['add', 'd.jsonl'], ENV); // span-coded: spans into v0's chunks (FORMAT.md)
      ok(dir, ['commit', '-m', 'v1'], ENV);
      const repo = Repository.open(dir);
      try {
        const m = repo.objects.manifest(ok(dir, ['rev-parse', 'HEAD:d.jsonl']).trim());
        expect(m.content).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        repo.close();
      }
      const objects = sql<{ n: number }>(dir, 'SELECT count(*) AS n FROM objects')[0]!.n;
      const r = gcJson(dir, ['--expire-reflog', 'now']);
      expect(r.objects.removed).toBeGreaterThan(0); // v0's manifest and the chunks v1 does not span into
      expect(sql<{ n: number }>(dir, 'SELECT count(*) AS n FROM objects')[0]!.n).toBe(
        objects - r.objects.removed,
      );
      expect(ok(dir, ['cat', 'HEAD:d.jsonl'])).toBe(v1);
      expectClean(dir);
    },
  );

  it(
    'a concurrent commit and gc in two processes: the loser fails CONFLICT (locked) and is retried; nothing is lost',
    { timeout: 300_000 },
    async () => {
      const { dir, main } = history();
      const first = catAll(dir, main[0]!);
      for (let round = 0; round < 3; round++) {
        const data = bytes(300_000, 1000 + round);
        write(dir, 'f0.bin', data); // a tracked file: commit -a picks it up
        const [g, c] = await Promise.all([
          spawnCli(dir, ['gc', '--expire-reflog', 'now', '--json']),
          spawnCli(dir, ['commit', '-a', '-m', `round ${round}`]),
        ]);
        for (const r of [g, c]) {
          // Exit 5 = CONFLICT: the repository lock was held by the other process.
          expect([0, 5], r.stderr).toContain(r.code);
          if (r.code === 5) expect(r.stderr).toMatch(/locked/);
        }
        if (c.code !== 0) ok(dir, ['commit', '-a', '-m', `round ${round} (retry)`], ENV);
        expect(catRaw(dir, 'HEAD:f0.bin').equals(data)).toBe(true);
        // fsck re-hashes every object and walks every commit of main down to its chunks.
        expectClean(dir);
      }
      expect(catAll(dir, main[0]!)).toEqual(first);
    },
  );

  it(
    'a gc killed (SIGKILL) at each step of its ordering, or at random moments, leaves a readable repository',
    { timeout: 400_000 },
    async () => {
      const { dir, main } = history();
      const expected = new Map(main.map((c) => [c, catAll(dir, c)]));
      let killed = 0;
      const commitFile = (name: string, data: Buffer): void => {
        write(dir, name, data);
        ok(dir, ['add', name], ENV);
        ok(dir, ['commit', '-m', name], ENV);
      };
      for (const point of ['after-write', 'after-switch', 'mid-delete']) {
        // A fresh small pack so that every run has packs to rewrite and delete.
        const data = bytes(90_000, point.length);
        commitFile(`p-${point}.bin`, data);
        const r = await spawnCli(dir, ['gc', '--expire-reflog', 'now'], {
          env: { STRATA_GC_CRASH_AT: point },
        });
        expect(r.code).toBeNull(); // killed by its own SIGKILL at that point
        killed++;
        // Leftovers are reported as dangling files, never as problems; every commit is intact.
        expectClean(dir);
        expect(catRaw(dir, `HEAD:p-${point}.bin`).equals(data)).toBe(true);
        if (point !== 'after-switch') expect(fsckJson(dir).report.danglingFiles.length).toBeGreaterThan(0);
      }
      // Random moments: larger files so that gc takes long enough to be hit mid-way.
      for (let i = 0; i < 2; i++) {
        const data = bytes(1_500_000, 500 + i);
        commitFile(`r${i}.bin`, data);
        const r = await spawnCli(dir, ['gc', '--expire-reflog', 'now'], { killAfterMs: 300 + i * 500 });
        if (r.code === null) killed++;
        expectClean(dir);
        expect(catRaw(dir, `HEAD:r${i}.bin`).equals(data)).toBe(true);
      }
      expect(killed).toBeGreaterThanOrEqual(3);
      // A normal gc afterwards finishes the job and removes every leftover.
      const done = gcJson(dir, ['--expire-reflog', 'now']);
      expect(done.packs.after).toBe(1);
      for (const [commit, files] of expected) expect(catAll(dir, commit)).toEqual(files);
      expectClean(dir);
      expect(fsckJson(dir).report.danglingFiles).toEqual([]);
      expect(existsSync(join(dir, '.strata', 'lock'))).toBe(false);
    },
  );
});
