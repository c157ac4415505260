import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalStore } from '../../src/storage/local-store.js';
import { objectStoreConformance } from './conformance.js';

const tempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'strata-local-store-'));

objectStoreConformance('LocalStore', async () => {
  const dir = await tempDir();
  return {
    store: new LocalStore(join(dir, 'root')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('LocalStore specifics', () => {
  it('leaves no temp or lock files behind and keeps keys inside the root', async () => {
    const dir = await tempDir();
    try {
      const s = new LocalStore(join(dir, 'root'));
      await s.put('a/b', new Uint8Array([1, 2, 3]));
      await s.putIfMatch('refs/x', new Uint8Array([4]), null);
      expect((await readdir(join(dir, 'root', 'a'))).sort()).toEqual(['b']);
      expect((await readdir(join(dir, 'root', 'refs'))).sort()).toEqual(['x']);
      expect((await readdir(dir)).sort()).toEqual(['root']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing root lists nothing and reads NOT_FOUND', async () => {
    const s = new LocalStore('/nonexistent/strata/root');
    const keys: string[] = [];
    for await (const k of s.list('')) keys.push(k);
    expect(keys).toEqual([]);
    await expect(s.get('x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('breaks a lock left by a dead process', async () => {
    const dir = await tempDir();
    try {
      const s = new LocalStore(dir, { lockTimeoutMs: 5000 });
      await writeFile(
        join(dir, 'ref.#lock'),
        JSON.stringify({
          pid: 2 ** 22 + 12345,
          host: (await import('node:os')).hostname(),
          nonce: 'dead',
          time: Date.now(),
        }),
      );
      await s.putIfMatch('ref', new Uint8Array([1]), null);
      expect([...(await s.get('ref'))]).toEqual([1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('waits for a live lock and times out with IO', async () => {
    const dir = await tempDir();
    try {
      const s = new LocalStore(dir, { lockTimeoutMs: 200 });
      await writeFile(
        join(dir, 'ref.#lock'),
        JSON.stringify({
          pid: process.pid,
          host: (await import('node:os')).hostname(),
          nonce: 'live',
          time: Date.now(),
        }),
      );
      await expect(s.putIfMatch('ref', new Uint8Array([1]), null)).rejects.toMatchObject({ code: 'IO' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('putIfMatch is a compare-and-swap between processes: 6 processes x 15 increments lose none', async () => {
    const dir = await tempDir();
    try {
      const store = new LocalStore(dir);
      await store.putIfMatch('counter', new TextEncoder().encode('0'), null);
      const script = `
        import { LocalStore } from ${JSON.stringify(new URL('../../src/storage/local-store.ts', import.meta.url).href)};
        const s = new LocalStore(${JSON.stringify(dir)});
        for (let i = 0; i < 15; ) {
          const { data, etag } = await s.getWithEtag('counter');
          const next = String(Number(new TextDecoder().decode(data)) + 1);
          try { await s.putIfMatch('counter', new TextEncoder().encode(next), etag); i++; }
          catch (e) { if (e.code !== 'CONFLICT') throw e; }
        }
      `;
      const runs = Array.from(
        { length: 6 },
        () =>
          new Promise<number>((resolve, reject) => {
            const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
              stdio: ['ignore', 'inherit', 'inherit'],
            });
            p.on('error', reject);
            p.on('exit', (c) => resolve(c ?? -1));
          }),
      );
      expect(await Promise.all(runs)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(new TextDecoder().decode(await store.get('counter'))).toBe('90');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
