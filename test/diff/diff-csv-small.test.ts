// A CSV or TSV file smaller than a chunk is stored as one chunk, its header row and its rows together (the
// chunker cuts the header as a chunk of its own only when there is more to cut). The diff must still see
// those rows, between two commits and against the working tree.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commit } from '../../src/core/commit.js';
import { diffRevisions } from '../../src/core/diff/diff-revisions.js';
import type { ChangeEvent, DiffEvent, SummaryEvent } from '../../src/core/diff/types.js';
import { Repository } from '../../src/core/repository.js';
import { add } from '../../src/core/stage.js';
import { tempDir } from '../core/helpers.js';

async function events(repo: Repository, a: string, b?: string): Promise<DiffEvent[]> {
  const out: DiffEvent[] = [];
  for await (const e of diffRevisions(repo, a, b)) out.push(e);
  return out;
}

const changes = (ev: DiffEvent[]): string[] =>
  ev
    .filter((e): e is ChangeEvent => e.type === 'change')
    .map((e) => `${e.kind} ${JSON.stringify(e.after ?? e.before)}`)
    .sort();

const summary = (ev: DiffEvent[]): SummaryEvent => ev.find((e): e is SummaryEvent => e.type === 'summary')!;

describe('small CSV/TSV files (header and rows in one chunk)', () => {
  for (const [name, sep] of [
    ['t.csv', ','],
    ['t.tsv', '\t'],
  ] as const) {
    it(`${name}: rows edited, added and removed, between commits and against the working tree`, async () => {
      const dir = tempDir();
      const repo = Repository.init(dir);
      const file = join(dir, name);
      const rows = (r: string[][]): string => r.map((x) => x.join(sep) + '\n').join('');
      writeFileSync(
        file,
        rows([
          ['id', 'x'],
          ['1', 'a'],
          ['2', 'b'],
          ['3', 'c'],
        ]),
      );
      await add(repo, [name]);
      await commit(repo, { message: 'v0' });
      const v0 = repo.objects.manifest(
        repo.objects.tree(repo.objects.commit(repo.db.getRef('refs/heads/main')!).tree).entries[0]!.hash,
      );
      expect(v0.spans).toHaveLength(1); // the case under test: one chunk, header and rows

      writeFileSync(
        file,
        rows([
          ['id', 'x'],
          ['1', 'a'],
          ['2', 'B'],
          ['4', 'd'],
        ]),
      );
      const wt = await events(repo, 'HEAD');
      await add(repo, [name]);
      await commit(repo, { message: 'v1' });
      const revs = await events(repo, 'HEAD~1', 'HEAD');
      for (const ev of [wt, revs]) {
        // Without a key, 2 and 3 sit where 2→B and 4 are: positional alignment pairs them as modified.
        expect(summary(ev).counts).toEqual({ added: 0, removed: 0, modified: 2 });
        expect(changes(ev)).toEqual([`modified {"id":"2","x":"B"}`, `modified {"id":"4","x":"d"}`]);
      }

      // A header change is reported.
      writeFileSync(
        file,
        rows([
          ['id', 'y'],
          ['1', 'a'],
        ]),
      );
      const hdr = await events(repo, 'HEAD');
      expect(hdr.some((e) => e.type === 'warning' && e.message.includes('header changed'))).toBe(true);
      expect(summary(hdr).status).toBe('modified');
    });
  }
});
