// fsck verifies every object through the batched, two-core reads (LocalObjectReader.readWith): a chunk the
// pool finds damaged is read again by LocalPacks.get, whose error fsck reports by object and pack; nothing
// else is reported, and every object is counted once.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsck } from '../../src/core/fsck.js';
import { Repository } from '../../src/core/repository.js';
import { flipByte, tempDir } from './helpers.js';

function repoWithChunks(n: number): { repo: Repository; chunks: string[] } {
  const repo = Repository.init(tempDir());
  const chunks: string[] = [];
  for (let i = 0; i < n; i++)
    chunks.push(
      repo.objects.putChunk(Buffer.from(`{"id":${i},"text":"${'words and more words '.repeat(40)}"}\n`)),
    );
  repo.objects.flush();
  return { repo, chunks };
}

describe('fsck through the batched reads', () => {
  it('a clean repository of many chunks has no problem, every object counted', async () => {
    const { repo, chunks } = repoWithChunks(300);
    try {
      const r = await fsck(repo);
      expect(r.problems).toEqual([]);
      expect(r.objects).toBe(chunks.length);
    } finally {
      repo.close();
    }
  });

  it('two damaged chunks among 300 are each reported as INTEGRITY with their pack, and only they', async () => {
    const { repo, chunks } = repoWithChunks(300);
    try {
      const victims = [chunks[17]!, chunks[250]!];
      const packs = repo.db.packs();
      for (const v of victims) {
        const loc = repo.db.findObject(v)!;
        const name = packs.find((p) => p.id === loc.pack)!.name;
        flipByte(join(repo.strataDir, 'packs', `${name}.pack`), loc.offset + loc.length - 3);
      }
      repo.objects.packs.forgetPacks();
      const r = await fsck(repo);
      expect(r.objects).toBe(chunks.length);
      const integrity = r.problems.filter((p) => p.object !== undefined);
      expect(integrity.map((p) => p.object).sort()).toEqual([...victims].sort());
      for (const p of integrity) {
        expect(p.code).toBe('INTEGRITY');
        expect(p.pack).toBeDefined();
        expect(p.message).toContain('(chunk)');
      }
    } finally {
      repo.close();
    }
  });
});
