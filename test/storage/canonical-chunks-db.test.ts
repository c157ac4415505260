// The index's cache of canonical chunk lists (canonical_chunks): the newest lists are kept, at most a number
// of them and a number of bytes together, and always the newest one whatever its size; a schema-2 index is
// migrated to it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { IndexDb } from '../../src/storage/index-db.js';
import { tempDir } from '../core/helpers.js';

const list = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);
const contents = (db: IndexDb): string[] =>
  (db.db.prepare('SELECT content FROM canonical_chunks ORDER BY id').all() as { content: string }[]).map(
    (r) => r.content,
  );

/** An index file as schema 2 left it: no canonical_chunks table, user_version 2. */
function schema2Index(): string {
  const file = join(tempDir(), 'index.sqlite');
  IndexDb.open(file, { create: true }).close();
  const raw = new Database(file);
  raw.exec('DROP TABLE canonical_chunks');
  raw.pragma('user_version = 2');
  raw.close();
  return file;
}

describe('canonical chunk lists in the index', () => {
  it('keeps the newest lists within the count and byte budgets, and the newest always', () => {
    const db = IndexDb.open(join(tempDir(), 'index.sqlite'), { create: true });
    try {
      const keep = { lists: 3, bytes: 1000 };
      for (let i = 0; i < 5; i++) db.putCanonicalChunks(`c${i}`, list(100, i), keep);
      expect(contents(db)).toEqual(['c2', 'c3', 'c4']);
      expect(db.getCanonicalChunks('c3')).toEqual(list(100, 3));
      expect(db.getCanonicalChunks('c0')).toBeUndefined();
      // Re-adding a list makes it the newest.
      db.putCanonicalChunks('c2', list(100, 2), keep);
      expect(contents(db)).toEqual(['c3', 'c4', 'c2']);
      // 600 + 100 + 100 fits 1000; the next 600 pushes the older ones out by bytes.
      db.putCanonicalChunks('big', list(600, 9), keep);
      expect(contents(db)).toEqual(['c4', 'c2', 'big']);
      db.putCanonicalChunks('big2', list(600, 8), keep);
      expect(contents(db)).toEqual(['big2']);
      // A list over the whole budget is still kept: it is the newest.
      db.putCanonicalChunks('huge', list(5000, 7), keep);
      expect(contents(db)).toEqual(['huge']);
      expect(db.getCanonicalChunks('huge')!.length).toBe(5000);
    } finally {
      db.close();
    }
  });

  it('migrates a schema-2 index to it', () => {
    const file = schema2Index();
    const db = IndexDb.open(file);
    try {
      db.putCanonicalChunks('c', list(36, 1));
      expect(db.getCanonicalChunks('c')).toEqual(list(36, 1));
      expect(db.db.pragma('user_version', { simple: true })).toBe(3);
    } finally {
      db.close();
    }
  });

  it('is migrated once when several processes open a schema-2 index at the same moment', async () => {
    const file = schema2Index();
    const dist = join(import.meta.dirname, '..', '..', 'dist', 'storage', 'index-db.js');
    const open = (): Promise<number> =>
      new Promise((res) => {
        const p = spawn(process.execPath, [
          '--input-type=module',
          '-e',
          `const { IndexDb } = await import(${JSON.stringify(dist)}); IndexDb.open(${JSON.stringify(file)}).close();`,
        ]);
        p.stderr.resume();
        p.on('exit', (code) => res(code ?? -1));
      });
    expect(await Promise.all(Array.from({ length: 6 }, open))).toEqual([0, 0, 0, 0, 0, 0]);
    const db = IndexDb.open(file);
    try {
      expect(db.db.pragma('user_version', { simple: true })).toBe(3);
    } finally {
      db.close();
    }
  });
});
