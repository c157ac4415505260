// `strata diff` against the working tree when the stored version is span-coded (FORMAT.md): a touched but
// unchanged file is unchanged without a diff, and a file whose stored manifest the stat cache names (staged)
// is diffed stored side against stored side, so the span-coded layout cancels what the versions share.
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, commit, diffRevisions, Repository } from '../../src/core/index.js';
import type { DiffEvent, SummaryEvent } from '../../src/core/diff/index.js';
import { tempDir } from '../core/helpers.js';

const lines = (n: number, edit = -1): string =>
  Array.from(
    { length: n },
    (_, i) =>
      JSON.stringify({
        id: i,
        text: `example ${i} ${i === edit ? 'EDITED' : 'as it was'} ${'word '.repeat(30)}`,
      }) + '\n',
  ).join('');

async function events(repo: Repository, a?: string, b?: string): Promise<DiffEvent[]> {
  const out: DiffEvent[] = [];
  for await (const e of diffRevisions(repo, a, b)) out.push(e);
  return out;
}

async function setup(): Promise<{ repo: Repository; file: string }> {
  const dir = tempDir();
  const repo = Repository.init(dir);
  const file = join(dir, 'd.jsonl');
  writeFileSync(file, lines(20000));
  await add(repo, ['d.jsonl']);
  await commit(repo, { message: 'v0' });
  // v1: one example edited, committed span-coded against v0.
  writeFileSync(file, lines(20000, 7000));
  await commit(repo, { message: 'v1', all: true });
  const m = repo.objects.manifest(repo.db.indexEntries()[0]!.manifest);
  expect(m.content).toBeDefined();
  return { repo, file };
}

describe('working-tree diffs against a span-coded version', () => {
  it("a file with HEAD's bytes but another version staged is unchanged against HEAD, nothing diffed", async () => {
    const { repo, file } = await setup();
    writeFileSync(file, lines(20000, 12000));
    await add(repo, ['d.jsonl']);
    writeFileSync(file, lines(20000, 7000));
    const later = new Date(Date.now() + 5000);
    utimesSync(file, later, later);
    // Its canonical manifest is HEAD's `content`: no file to diff at all (not even an "unchanged" summary).
    expect(await events(repo)).toEqual([]);
  });

  it('a staged edit is diffed stored against stored: only the edited example is read', async () => {
    const { repo, file } = await setup();
    writeFileSync(file, lines(20000, 12000));
    await add(repo, ['d.jsonl']);
    const ev = await events(repo);
    const summary = ev.find((e): e is SummaryEvent => e.type === 'summary')!;
    expect(summary.counts).toEqual({ added: 0, removed: 0, modified: 2 });
    // The two edited examples on each side (v1's at 7000, now restored, and the new one at 12000), not the file.
    expect(summary.cost.examplesRead).toBe(4);
    expect(summary.cost.bytesRead).toBeLessThan(4 * 400);
    const changes = ev.filter((e) => e.type === 'change');
    expect(changes.map((c) => (c as { before: { id: number } }).before.id)).toEqual([7000, 12000]);
  });

  it('an example longer than the largest chunk is compared whole, not as fragments', async () => {
    const dir = tempDir();
    const repo = Repository.init(dir);
    const file = join(dir, 'long.jsonl');
    const doc = (tail: string): string =>
      [
        JSON.stringify({ id: 1, text: 'short' }),
        JSON.stringify({ id: 2, text: 'word '.repeat(60_000) + tail }),
        JSON.stringify({ id: 3, text: 'short too' }),
      ].join('\n') + '\n';
    writeFileSync(file, doc('end'));
    await add(repo, ['long.jsonl']);
    await commit(repo, { message: 'v0' });
    // The edit is in the record's last chunk (it spans five of them).
    writeFileSync(file, doc('END'));
    for (const rev of [undefined, 'committed'] as const) {
      if (rev) await commit(repo, { message: 'v1', all: true });
      const ev = rev ? await events(repo, 'HEAD~1', 'HEAD') : await events(repo);
      expect(ev.filter((e) => e.type === 'warning')).toEqual([]);
      const changes = ev.filter((e) => e.type === 'change') as Array<{
        kind: string;
        before: { id: number };
        fields: Array<{ path: string }>;
      }>;
      expect(changes).toHaveLength(1);
      expect(changes[0]!.kind).toBe('modified');
      expect(changes[0]!.before.id).toBe(2);
      expect(changes[0]!.fields.map((f) => f.path)).toEqual(['text']);
    }
  });
});
