// SortedRecords.pause: once spilled, a list done filling for a while writes its buffer as one more run and
// frees it; the records read back are the same, in order, whether it paused or not.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SortedRecords, SpillDir } from '../../src/core/diff/spill.js';
import { mulberry32 } from '../helpers/prng.js';

function readAll(r: SortedRecords): number[][] {
  const out: number[][] = [];
  const rd = r.reader();
  while (rd.next()) out.push([...rd.rec]);
  return out;
}

describe('SortedRecords.pause', () => {
  it('keeps every record, in key order, across pauses and further pushes', () => {
    const rng = mulberry32(7);
    const rows = Array.from({ length: 5000 }, (_, i) => [Math.floor(rng() * 300), i]);
    const dirs = [new SpillDir(tmpdir()), new SpillDir(tmpdir())];
    try {
      // A budget of ~200 records: the list spills many times.
      const paused = new SortedRecords(2, 1, 200 * 12, dirs[0]!);
      const plain = new SortedRecords(2, 1, 200 * 12, dirs[1]!);
      rows.forEach((w, i) => {
        paused.push(w);
        plain.push(w);
        if (i % 777 === 0) paused.pause();
      });
      expect(paused.spilled).toBe(true);
      const got = readAll(paused);
      expect(got).toEqual(readAll(plain));
      // Sorted by key, equal keys in push order.
      const want = [...rows].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
      expect(got).toEqual(want);
    } finally {
      for (const d of dirs) d.close();
    }
  });

  it('does nothing below the budget: no run is written', () => {
    const dir = new SpillDir(tmpdir());
    try {
      const r = new SortedRecords(2, 1, 1 << 20, dir);
      r.push([2, 0]);
      r.push([1, 1]);
      r.pause();
      expect(r.spilled).toBe(false);
      expect(dir.used).toBe(false);
      expect(readAll(r)).toEqual([
        [1, 1],
        [2, 0],
      ]);
    } finally {
      dir.close();
    }
  });

  it('leaves no directory behind', () => {
    const dir = new SpillDir(tmpdir());
    const r = new SortedRecords(2, 1, 64 * 12, dir);
    for (let i = 0; i < 1000; i++) r.push([1000 - i, i]);
    r.pause();
    const path = dir.file();
    dir.close();
    expect(existsSync(path)).toBe(false);
  });
});
