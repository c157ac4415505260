// `strata diff` against the working tree when the stored version is span-coded (FORMAT.md): a touched but
// unchanged file is unchanged without a diff, and a file whose stored manifest the stat cache names (staged)
// is diffed stored side against stored side, so the span-coded layout cancels what the versions share.
import { readdirSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
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

/** A repository with d.jsonl (`n` examples, 20,000 by default) committed as v0. */
async function committedV0(n = 20000): Promise<{ repo: Repository; file: string }> {
  const dir = tempDir();
  const repo = Repository.init(dir);
  const file = join(dir, 'd.jsonl');
  writeFileSync(file, lines(n));
  await add(repo, ['d.jsonl']);
  await commit(repo, { message: 'v0' });
  return { repo, file };
}

async function setup(): Promise<{ repo: Repository; file: string }> {
  const { repo, file } = await committedV0();
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

  it('an unstaged edit against a span-coded HEAD reads only the changed chunks (canonical chunk list)', async () => {
    const { repo, file } = await committedV0();
    // v1: every 10th example deleted, so nearly every chunk is span-coded (sub-chunk spans into v0's).
    const keep = (text: string): string =>
      text
        .split('\n')
        .filter((_, i) => i % 10 !== 5)
        .join('\n');
    writeFileSync(file, keep(lines(20000)));
    await commit(repo, { message: 'v1', all: true });
    // Not added: the working tree is cut into canonical chunks, HEAD is seen as the ones `add` cut.
    writeFileSync(file, keep(lines(20000, 12000)));
    const size = keep(lines(20000)).length;
    const check = async (): Promise<SummaryEvent> => {
      const ev = await events(repo);
      const summary = ev.find((e): e is SummaryEvent => e.type === 'summary')!;
      expect(summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
      const changes = ev.filter((e) => e.type === 'change');
      expect(changes.map((c) => (c as { before: { id: number } }).before.id)).toEqual([12000]);
      return summary;
    };
    // One chunk on each side (16 KiB on average), not the file.
    expect((await check()).cost.bytesRead).toBeLessThan(0.05 * size);
    // Edits in many chunks: the stored spans under them are read ahead on the decoding thread.
    const many = keep(lines(20000))
      .split('\n')
      .map((l, i) => (i % 60 === 7 ? l.replace('as it was', 'EDITED') : l))
      .join('\n');
    writeFileSync(file, many);
    const ev = await events(repo);
    const edited = keep(lines(20000))
      .split('\n')
      .flatMap((l, i) => (i % 60 === 7 ? [(JSON.parse(l) as { id: number }).id] : []));
    expect(edited.length).toBe(300);
    const changed = ev.filter((e) => e.type === 'change') as unknown as Array<{
      kind: string;
      before: { id: number };
    }>;
    expect(changed.every((c) => c.kind === 'modified')).toBe(true);
    expect(changed.map((c) => c.before.id)).toEqual(edited);
    writeFileSync(file, keep(lines(20000, 12000)));
    // Without the list (a clone, or one evicted), or with a list that does not rebuild HEAD's `content`,
    // the stored spans are diffed as they are: still exact, but most of the file is read.
    const db = repo.db.db;
    const row = db.prepare('SELECT chunks FROM canonical_chunks').get() as { chunks: Buffer };
    const forged = Buffer.from(row.chunks);
    forged[0] = forged[0]! ^ 1;
    db.prepare('UPDATE canonical_chunks SET chunks = ?').run(forged);
    expect((await check()).cost.bytesRead).toBeGreaterThan(0.5 * size);
    db.prepare('DELETE FROM canonical_chunks').run();
    expect((await check()).cost.bytesRead).toBeGreaterThan(0.5 * size);
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

  it('reads the working-tree file through one descriptor, closed when the diff is done', async () => {
    const { repo, file } = await committedV0();
    // Every 50th example edited: the working-tree side reads ~400 of its pieces.
    const edited = lines(20000)
      .split('\n')
      .map((l, i) => (i % 50 === 7 ? l.replace('as it was', 'EDITED') : l))
      .join('\n');
    writeFileSync(file, edited);
    const open = (): number =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === file;
        } catch {
          return false;
        }
      }).length;
    let most = 0;
    let summary: SummaryEvent | undefined;
    for await (const e of diffRevisions(repo, undefined, undefined)) {
      most = Math.max(most, open());
      if (e.type === 'summary') summary = e;
    }
    expect(summary?.counts).toEqual({ added: 0, removed: 0, modified: 400 });
    expect(most).toBe(1);
    expect(open()).toBe(0);
  });

  it('--name-only names the changed files from their manifests: no segment expanded, no piece read', async () => {
    // Large enough that its manifests are segmented (more spans than a manifest holds inline).
    const { repo, file } = await committedV0(60000);
    const dir = repo.root;
    writeFileSync(file, lines(60000, 7000));
    await commit(repo, { message: 'v1', all: true });
    expect(repo.objects.manifest(repo.db.indexEntries()[0]!.manifest).segments?.length).toBeGreaterThan(1);
    writeFileSync(join(dir, 'gone.jsonl'), lines(10));
    await add(repo, ['gone.jsonl']);
    await commit(repo, { message: 'v2' });
    rmSync(join(dir, 'gone.jsonl'));
    writeFileSync(join(dir, 'new.jsonl'), lines(3));
    writeFileSync(file, lines(60000, 9000));
    const expanded = vi.spyOn(repo.objects, 'segmentSpans');
    const scanned = vi.spyOn(repo.objects, 'scanSegmentSpans');
    const chunks = vi.spyOn(repo.objects, 'chunk');
    const canonical = vi.spyOn(repo.db, 'getCanonicalChunks');
    const names = async (a?: string, b?: string) => {
      const out: Array<[string, string, number, number]> = [];
      for await (const e of diffRevisions(repo, a, b, { nameOnly: true }))
        if (e.type === 'summary') out.push([e.path, e.status, e.bytes.before, e.bytes.after]);
        else throw new Error(`--name-only gave a ${e.type} event`);
      return out;
    };
    const size = (n: number, edit = -1) => Buffer.byteLength(lines(n, edit));
    // The working tree against HEAD (the edited file is not staged), then two commits.
    expect(await names()).toEqual([
      ['d.jsonl', 'modified', size(60000, 7000), size(60000, 9000)],
      ['gone.jsonl', 'removed', size(10), 0],
      ['new.jsonl', 'added', 0, size(3)],
    ]);
    expect(await names('HEAD~2', 'HEAD')).toEqual([
      ['d.jsonl', 'modified', size(60000), size(60000, 7000)],
      ['gone.jsonl', 'added', 0, size(10)],
    ]);
    expect(expanded).not.toHaveBeenCalled();
    expect(scanned).not.toHaveBeenCalled();
    expect(chunks).not.toHaveBeenCalled();
    expect(canonical).not.toHaveBeenCalled();
  });

  it('--name-only names a file removed after the scan, while the events are read, as removed', async () => {
    const { repo, file } = await committedV0(100);
    const dir = repo.root;
    writeFileSync(join(dir, 'e.jsonl'), lines(5));
    await add(repo, ['e.jsonl']);
    await commit(repo, { message: 'v1' });
    writeFileSync(file, lines(100, 3));
    writeFileSync(join(dir, 'e.jsonl'), lines(5, 1));
    writeFileSync(join(dir, 'f.jsonl'), lines(2));
    const it = diffRevisions(repo, undefined, undefined, { nameOnly: true });
    // The scan runs before the first event; both other files go once it is out.
    const first = await it.next();
    expect(first.value).toMatchObject({ path: 'd.jsonl', status: 'modified' });
    rmSync(join(dir, 'e.jsonl'));
    rmSync(join(dir, 'f.jsonl'));
    const rest: Array<[string, string, number]> = [];
    for (let r = await it.next(); !r.done; r = await it.next())
      if (r.value.type === 'summary') rest.push([r.value.path, r.value.status, r.value.bytes.after]);
    // e.jsonl: stored, now gone. f.jsonl: new, and gone before it was named: not named at all.
    expect(rest).toEqual([['e.jsonl', 'removed', 0]]);
  });
});
