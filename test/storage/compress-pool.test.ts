/**
 * CompressPool's worker threads (the built pool, dist/: workers need the compiled worker file): a worker is
 * handed several jobs at once, so that it goes on with the next while this thread is busy, the answers come
 * back right and in order, and a pool whose jobs are done lets the process exit without close().
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it, vi } from 'vitest';
import { encode } from '../../src/storage/codec.js';
import { hashBytes } from '../../src/storage/hash.js';
import { tempDir } from '../core/helpers.js';

const built = new URL('../../dist/storage/compress-pool.js', import.meta.url);
type PoolModule = typeof import('../../src/storage/compress-pool.js');

const text = (i: number): Uint8Array => new Uint8Array(Buffer.from(`item ${i} `.repeat(200 + 50 * i)));
const job = (i: number) => {
  const data = text(i);
  return [{ ...encode(data), rawLength: data.length, hash: hashBytes(data) }];
};

describe('CompressPool (worker threads)', () => {
  it('hands one worker up to three jobs at once; every answer comes back right, in order', async () => {
    const { CompressPool } = (await import(built.href)) as PoolModule;
    const pool = new CompressPool(1);
    expect(pool.parallel).toBe(true);
    const post = vi.spyOn(Worker.prototype, 'postMessage');
    try {
      const pending = Array.from({ length: 7 }, (_, i) => pool.decode(job(i)));
      // Sent before any answer was taken: three jobs, the rest queued here.
      expect(post).toHaveBeenCalledTimes(3);
      const out = await Promise.all(pending);
      expect(post).toHaveBeenCalledTimes(7);
      out.forEach((d, i) => expect(Buffer.from(d[0]!).equals(Buffer.from(text(i)))).toBe(true));
    } finally {
      post.mockRestore();
      await pool.close();
    }
  });

  it('lets the process exit once its jobs are done, without close()', () => {
    const script = `
      import { CompressPool } from ${JSON.stringify(built.href)};
      const pool = new CompressPool(1);
      const data = new Uint8Array(Buffer.from('x'.repeat(5000)));
      const jobs = Array.from({ length: 6 }, () => pool.compress([data], 3));
      const out = await Promise.all(jobs);
      console.log(out.length);
    `;
    // A file, not --input-type=module -e: worker threads inherit the flag, and it refuses their file.
    const dir = tempDir('strata-pool-exit-');
    const file = join(dir, 'pool.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(r.error, 'the process did not exit on its own').toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('6');
  });
});
