// Examples longer than the largest chunk (long-context SFT data): the chunker cuts them into pieces at
// content-defined points (FORMAT.md rule 5), manifests list them (`long`), and the diff glues their pieces
// back into whole examples. Natural text matters here: a periodic text ('word '.repeat(n)) is never cut by
// the gear hash before the maximum size, which hid the fragments an earlier rule missed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, commit, diffRevisions, Repository } from '../../src/core/index.js';
import type { DiffEvent, SummaryEvent } from '../../src/core/diff/index.js';
import { decodeManifest, encodeObject, type FileManifest } from '../../src/core/objects/objects.js';
import { isStrataError } from '../../src/storage/errors.js';
import { tempDir } from '../core/helpers.js';
import { rng } from '../helpers/prng.js';

const VOCAB = 'the of and model answer question reason step because therefore data train token context'.split(
  ' ',
);

/** `words` random words: natural enough that the gear hash cuts it at content-defined points. */
function prose(seed: number, words: number): string {
  const r = rng(seed);
  const rnd = (): number => Math.floor(r() * 0x100000000);
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    const w = VOCAB[rnd() % VOCAB.length]!;
    out.push(rnd() % 9 === 0 ? w + String(rnd() % 1000) : w);
  }
  return out.join(' ');
}

interface Row {
  id: number;
  text: string;
}

/** 40 examples; every 8th is long (30,000 words, ~200 KB: several chunks). */
function rows(): Row[] {
  return Array.from({ length: 40 }, (_, i) => ({
    id: i,
    text: prose(1000 + i, i % 8 === 3 ? 30_000 : 20),
  }));
}

const jsonl = (rs: Row[]): string => rs.map((r) => JSON.stringify(r) + '\n').join('');
// Long CSV fields hold quoted newlines and "" escapes too.
const csv = (rs: Row[]): string =>
  'id,text\n' +
  rs.map((r) => `${r.id},"${r.text.replace(/ step /g, ' "step"\n').replace(/"/g, '""')}"\n`).join('');

/** Replaces one word in the middle of example `id`'s text. */
function editMiddle(rs: Row[], id: number, word: string): Row[] {
  return rs.map((r) => {
    if (r.id !== id) return r;
    const mid = r.text.indexOf(' ', r.text.length >> 1);
    return { ...r, text: r.text.slice(0, mid) + ` ${word}` + r.text.slice(mid) };
  });
}

async function events(repo: Repository, a?: string, b?: string): Promise<DiffEvent[]> {
  const out: DiffEvent[] = [];
  for await (const e of diffRevisions(repo, a, b)) out.push(e);
  return out;
}

type Change = { kind: string; before?: unknown; after?: unknown; fields?: Array<{ path: string }> };
const idOf = (v: unknown): number => Number((v as { id: unknown }).id);

describe('examples longer than the largest chunk', () => {
  for (const format of ['jsonl', 'csv'] as const) {
    const render = format === 'jsonl' ? jsonl : csv;
    const name = `d.${format}`;

    it(`${format}: an edit inside, a deletion and an insertion of long examples are whole examples, in the working tree and committed`, async () => {
      const dir = tempDir();
      const repo = Repository.init(dir);
      const file = join(dir, name);
      const v0 = rows();
      writeFileSync(file, render(v0));
      await add(repo, [name]);
      await commit(repo, { message: 'v0' });
      const m0 = repo.objects.manifest(repo.db.indexEntries()[0]!.manifest);
      expect(m0.long?.length).toBe(5);

      // Example 11 edited in the middle of its ~200 KB text, 27 deleted, a new long one inserted after 30.
      let v1 = editMiddle(v0, 11, 'INSERTED');
      v1 = v1.filter((r) => r.id !== 27);
      v1.splice(v1.findIndex((r) => r.id === 30) + 1, 0, { id: 100, text: prose(7, 30_000) });
      writeFileSync(file, render(v1));

      for (const rev of ['worktree', 'committed'] as const) {
        if (rev === 'committed') await commit(repo, { message: 'v1', all: true });
        const ev = rev === 'committed' ? await events(repo, 'HEAD~1', 'HEAD') : await events(repo);
        expect({ rev, warnings: ev.filter((e) => e.type === 'warning') }).toEqual({ rev, warnings: [] });
        const changes = ev.filter((e) => e.type === 'change') as unknown as Change[];
        const got = changes.map((c) => `${c.kind}:${idOf(c.before ?? c.after)}`).sort();
        expect(got).toEqual(['added:100', 'modified:11', 'removed:27']);
        const mod = changes.find((c) => c.kind === 'modified')!;
        expect(mod.fields!.map((f) => f.path)).toEqual(['text']);
        const summary = ev.find((e): e is SummaryEvent => e.type === 'summary')!;
        expect(summary.counts).toEqual({ added: 1, removed: 1, modified: 1 });
        // The unchanged long examples (3, 19, 35) cancel unread: at most the three changed ones and their
        // neighbourhood are read, far from the whole ~1 MB file.
        expect(summary.cost.bytesRead).toBeLessThan(1_000_000);
      }
      const m1 = repo.objects.manifest(repo.db.indexEntries()[0]!.manifest);
      expect(m1.long?.length).toBe(5);
    });
  }

  it('the manifest lists exactly the long records, and a malformed list is refused as INTEGRITY', async () => {
    const dir = tempDir();
    const repo = Repository.init(dir);
    const rs = rows();
    writeFileSync(join(dir, 'd.jsonl'), jsonl(rs));
    await add(repo, ['d.jsonl']);
    const m = repo.objects.manifest(repo.db.indexEntries()[0]!.manifest);
    const expected: [number, number][] = [];
    let at = 0;
    for (const r of rs) {
      const n = Buffer.byteLength(JSON.stringify(r)) + 1;
      if (n > repo.chunking.max) expected.push([at, n]);
      at += n;
    }
    expect(m.long).toEqual(expected);

    const bad = (long: unknown): unknown => {
      const o = { ...m, long } as unknown as FileManifest;
      try {
        decodeManifest(encodeObject(o), 'x'.repeat(64));
        return 'accepted';
      } catch (e) {
        return isStrataError(e) ? e.code : e;
      }
    };
    expect(bad(m.long)).toBe('accepted');
    expect(bad([])).toBe('INTEGRITY');
    expect(bad([[10, 0]])).toBe('INTEGRITY');
    expect(bad([expected[1], expected[0]])).toBe('INTEGRITY');
    expect(bad([[m.size - 5, 10]])).toBe('INTEGRITY');
    expect(bad([[0, 'x']])).toBe('INTEGRITY');
  });
});
