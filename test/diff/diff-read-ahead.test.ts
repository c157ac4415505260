// The chunks a diff of two stored versions will read (the pieces that do not cancel) are read ahead and
// decoded on the compression pool (src/core/diff/repo-sides.ts, ChunkCache.readAhead). What comes back from
// the pool is only a shortcut: anything it cannot decode is read and verified inline.
import { describe, expect, it, vi } from 'vitest';
import { Repository } from '../../src/core/repository.js';
import type { FileManifest, Span } from '../../src/core/objects/objects.js';
import { sidesFromManifests } from '../../src/core/diff/repo-sides.js';
import { sharedCompressPool } from '../../src/storage/compress-pool.js';
import { StrataError } from '../../src/storage/errors.js';
import { tempDir } from '../core/helpers.js';
import { damageReadAhead, slowDecodePool } from '../helpers/read-ahead-faults.js';
import { collect } from './helpers.js';

const line = (id: number, text = `example ${id} with a handful of words`): string =>
  JSON.stringify({ id, text }) + '\n';

/**
 * 1,000 chunks (or `chunks`) of three records; the after version edits the middle record of every third chunk, stored
 * span-coded as a commit stores it: sub-chunk spans around the edit into the old chunk, the edited record in
 * a new chunk - one per record, or with `group`, one per `group` edited records (each a span of it).
 */
function setup(
  group = 1,
  chunks = 1000,
): { repo: Repository; before: FileManifest; after: FileManifest; edited: number[] } {
  const repo = Repository.init(tempDir());
  const put = (list: Span[]): FileManifest => {
    const size = list.reduce((n, s) => n + s[2], 0);
    return repo.objects.manifest(repo.objects.putManifest({ size, format: 'jsonl' }, list));
  };
  const beforeSpans: Span[] = [];
  const afterSpans: Span[] = [];
  const edited: number[] = [];
  // The edited record of example `id`, in its new chunk: the chunk of its group of `group` consecutive edits.
  const editedSpan = (id: number): Span => {
    const k = Math.floor(id / 9 / group) * 9 * group; // (every ninth id is edited: 1, 10, 19, ...)
    const records = Array.from({ length: group }, (_, j) => k + 9 * j + 1).map((i) =>
      line(i, `example ${i}, edited`),
    );
    const at = records.slice(0, (id - k - 1) / 9).reduce((n, r) => n + Buffer.byteLength(r), 0);
    const chunk = Buffer.from(records.join(''));
    return [repo.objects.putChunk(chunk), at, Buffer.byteLength(records[(id - k - 1) / 9]!)];
  };
  for (let c = 0; c < chunks; c++) {
    const [a, b, d] = [line(3 * c), line(3 * c + 1), line(3 * c + 2)];
    const bytes = Buffer.from(a + b + d);
    const h = repo.objects.putChunk(bytes);
    beforeSpans.push([h, 0, bytes.length]);
    if (c % 3 !== 0) {
      afterSpans.push([h, 0, bytes.length]);
      continue;
    }
    edited.push(3 * c + 1);
    const alen = Buffer.byteLength(a);
    const blen = Buffer.byteLength(b);
    afterSpans.push([h, 0, alen], editedSpan(3 * c + 1), [h, alen + blen, Buffer.byteLength(d)]);
  }
  repo.objects.flush();
  return { repo, before: put(beforeSpans), after: put(afterSpans), edited };
}

/** Diffs the two versions of `setup` and checks that exactly the edited examples come out modified. */
async function diffsExactly({ repo, before, after, edited }: ReturnType<typeof setup>): Promise<void> {
  const [bs, as] = sidesFromManifests(repo, 'd.jsonl', before, after);
  const r = await collect(bs, as);
  expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: edited.length });
  expect(r.changes.map((c) => (c.after as { id: number }).id)).toEqual(edited);
}

describe('reading ahead in a diff of stored versions', () => {
  it('decodes the chunks of the pieces that do not cancel ahead, each once, and finds exactly the edits', async () => {
    const setupResult = setup();
    const { repo } = setupResult;
    const decode = vi.spyOn(sharedCompressPool(), 'decodeKeyed');
    const chunk = vi.spyOn(repo.objects, 'chunk');
    try {
      await diffsExactly(setupResult);
      // Every edited old chunk and every new chunk was read ahead: none was read again inline. Those the
      // reader did not decode itself (still waiting for the pool when it got to them) went to the pool in
      // batches, none twice.
      expect(chunk).not.toHaveBeenCalled();
      const sent = decode.mock.calls.flatMap((c) => c[0].map((e) => e.hash));
      expect(sent.length).toBeGreaterThan(0);
      expect(new Set(sent).size).toBe(sent.length);
      expect(decode.mock.calls.every((c) => c[0].length <= 32)).toBe(true);
    } finally {
      decode.mockRestore();
      chunk.mockRestore();
    }
  });

  it('the reader decodes chunks read ahead itself while the pool is busy, and waits only for those sent', async () => {
    const setupResult = setup();
    const { repo, edited } = setupResult;
    // A slow pool: each batch comes back only after a timer.
    const decode = slowDecodePool(20);
    const chunk = vi.spyOn(repo.objects, 'chunk');
    try {
      await diffsExactly(setupResult);
      expect(chunk).not.toHaveBeenCalled();
      // The pool got some batches (the furthest ahead), the reader decoded most chunks itself.
      const sent = decode.mock.calls.flatMap((c) => c[0].map((e) => e.hash));
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.length).toBeLessThan(2 * edited.length);
      expect(new Set(sent).size).toBe(sent.length);
    } finally {
      decode.mockRestore();
      chunk.mockRestore();
    }
  });

  it('damaged bytes read ahead are never used, whichever thread decodes them: the chunk is read inline', async () => {
    const setupResult = setup();
    const { repo } = setupResult;
    // Every 5th chunk read ahead comes back with a flipped byte (as if the pack were damaged on the way).
    const { victims, spy: read } = damageReadAhead(repo.objects.packs, 5);
    const chunk = vi.spyOn(repo.objects, 'chunk');
    try {
      await diffsExactly(setupResult);
      expect(victims.size).toBeGreaterThan(10);
      // Each damaged chunk was read again inline (verified there), and only those.
      expect(new Set(chunk.mock.calls.map((c) => c[0]))).toEqual(victims);
    } finally {
      read.mockRestore();
      chunk.mockRestore();
    }
  });

  it('a chunk the pool cannot decode is read inline: damage there is reported as INTEGRITY', async () => {
    const { repo, before, after } = setup();
    const [bs, as] = sidesFromManifests(repo, 'd.jsonl', before, after);
    // The 10th chunk the diff reads: its stored bytes come back damaged to the read-ahead.
    const victim = before.segments
      ? repo.objects.segmentSpans(before.segments[0]!)[27]![0]
      : before.spans![27]![0];
    // The pool reports it as not decoding to its hash (what it does with damaged stored bytes).
    const pool = sharedCompressPool();
    const decodeOnPool = pool.decodeKeyed.bind(pool);
    const damaged = vi.spyOn(pool, 'decodeKeyed').mockImplementation(async (items, ...rest) => {
      const out = await decodeOnPool(items, ...rest);
      return { ...out, data: out.data.map((d, i) => (items[i]!.hash === victim ? undefined : d)) };
    });
    // First, the inline read is sound: the diff is exact all the same.
    const r = await collect(bs, as);
    expect(r.summary.counts.modified).toBe(334);
    // Then the inline read sees the damage too: the diff stops with INTEGRITY, it does not show wrong data.
    const [bs2, as2] = sidesFromManifests(repo, 'd.jsonl', before, after);
    const chunk = repo.objects.chunk.bind(repo.objects);
    vi.spyOn(repo.objects, 'chunk').mockImplementation((h) => {
      if (h === victim) throw new StrataError('INTEGRITY', `chunk ${h} is damaged`, { hash: h });
      return chunk(h);
    });
    await expect(collect(bs2, as2)).rejects.toMatchObject({ code: 'INTEGRITY' });
    expect(damaged.mock.calls.some((c) => c[0].some((e) => e.hash === victim))).toBe(true);
    damaged.mockRestore();
  });

  // (6,000 chunks: what the diff reads ahead at once is ~500 chunks, so that buffers come back to be reused.)
  it.each([
    ['whole new chunks', 1],
    ['edits gathered in new chunks', 10],
  ])('bytes handed out stay as they were, whatever buffer is reused: %s', async (_, group) => {
    const setupResult = setup(group, 6000);
    const { repo, before, after, edited } = setupResult;
    const decode = vi.spyOn(sharedCompressPool(), 'decodeKeyed');
    const read = vi.spyOn(repo.objects.packs, 'readEncodedShared');
    try {
      const [bs, as] = sidesFromManifests(repo, 'd.jsonl', before, after);
      // Every piece's bytes as handed out, kept to the end, with a copy made at once. With `group` 1 the new
      // side's edited records are whole chunks; the old side's are pieces of chunks. Both are copied out of
      // the buffer they were decoded into.
      const kept: { bytes: Uint8Array; then: Buffer }[] = [];
      for (const side of [bs!, as!]) {
        const readPiece = side.readPiece.bind(side);
        side.readPiece = async (i) => {
          const bytes = await readPiece(i);
          kept.push({ bytes, then: Buffer.from(bytes) });
          return bytes;
        };
      }
      const r = await collect(bs, as);
      expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: edited.length });
      expect(kept.length).toBeGreaterThan(2 * edited.length - 1);
      for (const k of kept) expect(Buffer.from(k.bytes).equals(k.then)).toBe(true);
      // Stored bytes were read into buffers that earlier reads used.
      const into = read.mock.calls.map((c) => c[1]).filter((b) => b !== undefined);
      expect(new Set(into).size).toBeLessThan(into.length);
      // Batches were decoded into buffers that came back from earlier ones, whole chunks or not: only the
      // first few batches of each side needed a new one (the decoding thread makes it). Handing whole chunks
      // out as views, their buffers never reused, made the thread allocate one per batch: memory that glibc
      // kept in its arenas once freed.
      const fresh = decode.mock.calls.filter((c) => c[2] === undefined).length;
      expect(decode.mock.calls.length).toBeGreaterThan(4 * fresh);
      expect(decode.mock.calls.filter((c) => c[2] instanceof ArrayBuffer).length).toBeGreaterThan(2);
    } finally {
      decode.mockRestore();
      read.mockRestore();
    }
  });
});
