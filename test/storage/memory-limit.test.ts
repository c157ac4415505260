/**
 * MemoryLimit (storage/memory-limit.ts): a full collection when the resident set is above the limit, none
 * below it or when turned off, a back-off after one that freed little; and a diff and a commit whose process
 * is always "above the limit" collect at their checkpoints and stay exact.
 */
import { describe, expect, it, vi } from 'vitest';
import { MemoryLimit, paceAllows } from '../../src/storage/memory-limit.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const tick = (): Promise<void> => sleep(15);
/** Waits until the collections so far are at most a tenth of the time since the limit was made (its pace). */
async function paced(limit: MemoryLimit): Promise<void> {
  await sleep(15 + 10 * limit.collectMs);
}
/** ArrayBuffers no one holds: only a full collection frees them (they are counted until then). */
function garbage(mib: number): void {
  let junk: ArrayBuffer[] | undefined = Array.from({ length: mib }, () => new ArrayBuffer(MiB));
  new Uint8Array(junk[0]!)[0] = 1;
  junk = undefined;
}

describe('MemoryLimit', () => {
  it('collects when the resident set is above the limit: garbage ArrayBuffers are freed', () => {
    const limit = new MemoryLimit(100 * MiB, () => 101 * MiB);
    garbage(40);
    const before = process.memoryUsage().arrayBuffers;
    expect(limit.check()).toBe(true);
    expect(limit.collections).toBe(1);
    expect(limit.lastFreed).toBeGreaterThanOrEqual(16 * MiB);
    expect(process.memoryUsage().arrayBuffers).toBeLessThan(before - 16 * MiB);
  });

  it('does not collect below the limit, nor when the limit is 0', async () => {
    const rss = vi.fn(() => 50 * MiB);
    const below = new MemoryLimit(100 * MiB, rss);
    expect(below.check()).toBe(false);
    expect(rss).toHaveBeenCalledTimes(1);
    const off = new MemoryLimit(0, () => 1e12);
    await tick();
    expect(off.check()).toBe(false);
    expect(below.collections + off.collections).toBe(0);
  });

  it('paces collections to 10% of the last 10 s at most: a long idle time banks no budget', () => {
    // 50 ms of collections at t = 0: allowed again from t = 500 ms.
    const pace = { from: 0, ms: 50 };
    expect(paceAllows(pace, 400)).toBe(false);
    expect(paceAllows(pace, 500)).toBe(true);
    // An hour without collections: the window is the last 10 s, so 1 s of collections is the most allowed
    // (not 6 minutes).
    const late = { from: 0, ms: 0 };
    expect(paceAllows(late, 3_600_000)).toBe(true);
    late.ms += 1000;
    expect(paceAllows(late, 3_600_000)).toBe(true);
    late.ms += 1;
    expect(paceAllows(late, 3_600_000)).toBe(false);
    // The time spent decays as the window slides: 10 s later half of it counts.
    expect(paceAllows(late, 3_610_000)).toBe(true);
    expect(late.ms).toBeCloseTo(500.5);
  });

  it('looks at the resident set at most every 10 ms', () => {
    const rss = vi.fn(() => 50 * MiB);
    const limit = new MemoryLimit(100 * MiB, rss);
    for (let i = 0; i < 100; i++) limit.check();
    expect(rss).toHaveBeenCalledTimes(1);
  });

  it('backs off after a collection that freed little, and collects again once one frees enough', async () => {
    // What each collection frees, as the limit measures it (before, after): scripted, because the engine may
    // free real garbage itself at any allocation (a scavenge), which made this test flaky under load.
    const frees = [40 * MiB, 0, 40 * MiB];
    let calls = 0;
    const managed = (): number => 500 * MiB - (calls++ % 2 === 1 ? frees[(calls - 2) / 2]! : 0);
    const limit = new MemoryLimit(100 * MiB, () => 101 * MiB, managed);
    expect(limit.check()).toBe(true); // frees 40 MiB: no back-off
    expect(limit.lastFreed).toBe(40 * MiB);
    await sleep(300);
    await paced(limit);
    expect(limit.check()).toBe(true); // frees nothing: backs off 250 ms (500 after two)
    expect(limit.lastFreed).toBe(0);
    await tick();
    expect(limit.check()).toBe(false);
    expect(limit.collections).toBe(2);
    await sleep(600);
    await paced(limit);
    expect(limit.check()).toBe(true);
    expect(limit.lastFreed).toBe(40 * MiB);
    expect(calls).toBe(6);
  });
});

describe('the process limit', () => {
  it("is off in a library user's process, on at 240 MiB once the CLI enables it, and STRATA_MEMORY_LIMIT wins", async () => {
    vi.stubEnv('STRATA_MEMORY_LIMIT', '');
    try {
      const { memoryLimit, enableMemoryLimit } = await import('../../src/storage/memory-limit.js');
      expect(new MemoryLimit().limit).toBe(0);
      enableMemoryLimit();
      expect(memoryLimit().limit).toBe(240 * MiB);
      vi.stubEnv('STRATA_MEMORY_LIMIT', '0');
      enableMemoryLimit();
      expect(memoryLimit().limit).toBe(0);
      vi.stubEnv('STRATA_MEMORY_LIMIT', '100');
      expect(new MemoryLimit().limit).toBe(100 * MiB);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('a diff under a limit it is always above', () => {
  it('collects at its checkpoints and finds exactly the changes', async () => {
    vi.stubEnv('STRATA_MEMORY_LIMIT', '1');
    try {
      const { memoryLimit, enableMemoryLimit } = await import('../../src/storage/memory-limit.js');
      enableMemoryLimit(); // (as the CLI does; the variable, 1 MiB, wins)
      const { sideFromBytes } = await import('../../src/core/diff/index.js');
      const { collect, jsonl } = await import('../diff/helpers.js');
      const rows = Array.from({ length: 20_000 }, (_, id) => ({ id, text: `example ${id} `.repeat(8) }));
      const edited = rows
        .filter((r) => r.id % 3 !== 0)
        .map((r) => (r.id % 10 === 1 ? { ...r, text: 'x' } : r));
      const b = sideFromBytes('d.jsonl', jsonl(rows));
      const a = sideFromBytes('d.jsonl', jsonl(edited));
      const limit = memoryLimit();
      expect(limit.limit).toBe(1 * MiB);
      const r = await collect(b, a, { key: ['id'] });
      const removed = rows.filter((x) => x.id % 3 === 0).length;
      const modified = rows.filter((x) => x.id % 10 === 1 && x.id % 3 !== 0).length;
      expect(r.summary.counts).toEqual({ added: 0, removed, modified });
      expect(limit.collections).toBeGreaterThan(0);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('a commit under a limit it is always above', () => {
  it('collects in the first pass and while resolving, not only in the second, and stores exactly the file', async () => {
    vi.stubEnv('STRATA_MEMORY_LIMIT', '1');
    try {
      const { memoryLimit, enableMemoryLimit } = await import('../../src/storage/memory-limit.js');
      enableMemoryLimit();
      const { add, commit, Repository } = await import('../../src/core/index.js');
      const { SpanEncoder } = await import('../../src/core/worktree/span-encoder.js');
      const { tempDir } = await import('../core/helpers.js');
      const { readFileSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const dir = tempDir();
      const repo = Repository.init(dir);
      const file = join(dir, 'd.jsonl');
      const rows = (edit: (i: number) => boolean): string =>
        Array.from(
          { length: 60_000 },
          (_, i) =>
            JSON.stringify({ id: i, text: `${edit(i) ? 'EDITED' : 'example'} ${i} `.repeat(6) }) + '\n',
        ).join('');
      writeFileSync(
        file,
        rows(() => false),
      );
      await add(repo, ['d.jsonl']);
      await commit(repo, { message: 'v0' });
      // v1: 2.5% of the examples edited (most chunks touched: more than 256 old chunks to index): span-coded against v0, so `add` runs both passes.
      writeFileSync(
        file,
        rows((i) => i % 40 === 7),
      );
      // Where each checkpoint falls: before the encoder resolves (pass 1), while it does, or after.
      const limit = memoryLimit();
      const when: string[] = [];
      let phase = 'pass 1';
      const check = vi.spyOn(limit, 'check').mockImplementation(function (this: typeof limit) {
        when.push(phase);
        return MemoryLimit.prototype.check.call(this);
      });
      const resolve = SpanEncoder.prototype.resolve;
      const spy = vi.spyOn(SpanEncoder.prototype, 'resolve').mockImplementation(async function (
        this: InstanceType<typeof SpanEncoder>,
        ...args: Parameters<typeof resolve>
      ) {
        phase = 'resolve';
        try {
          return await resolve.apply(this, args);
        } finally {
          phase = 'pass 2';
        }
      });
      try {
        await add(repo, ['d.jsonl']);
      } finally {
        check.mockRestore();
        spy.mockRestore();
      }
      expect(when).toContain('pass 1');
      expect(when).toContain('resolve');
      expect(when).toContain('pass 2');
      expect(limit.collections).toBeGreaterThan(0);
      await commit(repo, { message: 'v1' });
      // What was stored reads back as the file.
      const { readFile } = await import('../../src/core/object-reader.js');
      const stored = repo.objects.manifest(repo.db.indexEntries()[0]!.manifest);
      expect(stored.spans ?? stored.segments).toBeDefined();
      const parts: Uint8Array[] = [];
      for await (const b of readFile(repo.objects, stored)) parts.push(b);
      expect(Buffer.concat(parts).equals(readFileSync(file))).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('a clone under a limit it is always above', () => {
  it('checks after every range it reads (each object was decoded to be verified), and clones exactly', async () => {
    vi.stubEnv('STRATA_MEMORY_LIMIT', '1');
    try {
      const { memoryLimit, enableMemoryLimit } = await import('../../src/storage/memory-limit.js');
      enableMemoryLimit();
      const { add, commit, Repository } = await import('../../src/core/index.js');
      const { addRemote, clone, push } = await import('../../src/core/remote/index.js');
      const { tempDir } = await import('../core/helpers.js');
      const { readFileSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const a = tempDir();
      const repo = Repository.init(a);
      // ~3 MB in 16 KiB chunks: with 1 MiB ranges, several ranges.
      const text = Array.from({ length: 30_000 }, (_, i) =>
        JSON.stringify({ id: i, t: `row ${i} `.repeat(9) }),
      )
        .join('\n')
        .concat('\n');
      writeFileSync(join(a, 'd.jsonl'), text);
      await add(repo, ['d.jsonl']);
      await commit(repo, { message: 'v0' });
      const url = join(tempDir(), 'remote');
      addRemote(repo, 'origin', url);
      await push(repo, { remote: 'origin' });
      repo.close();
      const limit = memoryLimit();
      const from: string[] = [];
      const check = vi.spyOn(limit, 'check').mockImplementation(function (this: typeof limit) {
        if (/readRanges|ranges\.ts/.test(new Error().stack ?? '')) from.push('range');
        return MemoryLimit.prototype.check.call(this);
      });
      const parent = tempDir();
      try {
        await clone(url, join(parent, 'b'), { cwd: parent, maxRangeBytes: 1024 * 1024 });
      } finally {
        check.mockRestore();
      }
      expect(from.length).toBeGreaterThan(1);
      expect(readFileSync(join(parent, 'b', 'd.jsonl'), 'utf8')).toBe(text);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
