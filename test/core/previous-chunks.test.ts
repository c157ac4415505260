// `add` of a version after a span-coded one: the new chunks equal to the previous version's canonical chunks
// (remembered in the index) are written as the previous version's spans over the same bytes, instead of
// being keyed and matched record by record again. The result is the same as without the list.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, commit, fsck, Repository } from '../../src/core/index.js';
import { readFile } from '../../src/core/object-reader.js';
import { tempDir } from './helpers.js';

const line = (i: number, tag = ''): string =>
  JSON.stringify({ id: i, text: `example ${i}${tag} ${'lorem ipsum dolor '.repeat(4 + (i % 7))}` }) + '\n';
const v0 = Array.from({ length: 30000 }, (_, i) => line(i));
// v1: every 10th example deleted (nearly every chunk span-coded); v2: v1 with 300 appended, 1 edited.
const v1 = v0.filter((_, i) => i % 10 !== 3);
const v2 = [
  ...v1.map((l, i) => (i === 5000 ? line(99999, ' edited') : l)),
  ...Array.from({ length: 300 }, (_, i) => line(40000 + i)),
];

async function commitAll(dir: string, repo: Repository, text: string[], message: string): Promise<string> {
  writeFileSync(join(dir, 'd.jsonl'), text.join(''));
  await add(repo, ['d.jsonl']);
  await commit(repo, { message });
  return repo.db.indexEntries()[0]!.manifest;
}

async function read(repo: Repository, manifest: string): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const b of readFile(repo.objects, repo.objects.manifest(manifest))) parts.push(b);
  return Buffer.concat(parts).toString();
}

describe('a version after a span-coded version', () => {
  it('reuses the previous canonical chunks as its spans, with the same result as matching records', async () => {
    const results: { manifest: string; reused: number }[] = [];
    for (const forget of [false, true]) {
      const dir = tempDir();
      const repo = Repository.init(dir);
      try {
        await commitAll(dir, repo, v0, 'v0');
        const m1 = await commitAll(dir, repo, v1, 'v1');
        expect(repo.objects.manifest(m1).content).toBeDefined();
        if (forget) repo.db.db.prepare('DELETE FROM canonical_chunks').run();
        repo.counters.previousChunksReused = 0;
        const m2 = await commitAll(dir, repo, v2, 'v2');
        expect(repo.objects.manifest(m2).content).toBeDefined();
        expect(await read(repo, m2)).toBe(v2.join(''));
        expect((await fsck(repo)).problems).toEqual([]);
        results.push({ manifest: m2, reused: repo.counters.previousChunksReused });
      } finally {
        repo.close();
      }
    }
    const [withList, without] = results;
    // All of v1's chunks but the one edited and the last one (the append follows it) are found again.
    const chunks = Math.round(v1.join('').length / 16384);
    expect(withList!.reused).toBeGreaterThan(0.8 * chunks);
    expect(without!.reused).toBe(0);
    expect(withList!.manifest).toBe(without!.manifest);
  });
});
