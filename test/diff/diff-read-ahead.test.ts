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
import { collect } from './helpers.js';

const line = (id: number, text = `example ${id} with a handful of words`): string =>
  JSON.stringify({ id, text }) + '\n';

/**
 * 1,000 chunks of three records; the after version edits the middle record of every third chunk, stored
 * span-coded as a commit stores it: sub-chunk spans around the edit into the old chunk, the edited record in
 * a new chunk.
 */
function setup(): { repo: Repository; before: FileManifest; after: FileManifest; edited: number[] } {
  const repo = Repository.init(tempDir());
  const put = (list: Span[]): FileManifest => {
    const size = list.reduce((n, s) => n + s[2], 0);
    return repo.objects.manifest(repo.objects.putManifest({ size, format: 'jsonl' }, list));
  };
  const beforeSpans: Span[] = [];
  const afterSpans: Span[] = [];
  const edited: number[] = [];
  for (let c = 0; c < 1000; c++) {
    const [a, b, d] = [line(3 * c), line(3 * c + 1), line(3 * c + 2)];
    const bytes = Buffer.from(a + b + d);
    const h = repo.objects.putChunk(bytes);
    beforeSpans.push([h, 0, bytes.length]);
    if (c % 3 !== 0) {
      afterSpans.push([h, 0, bytes.length]);
      continue;
    }
    edited.push(3 * c + 1);
    const e = Buffer.from(line(3 * c + 1, `example ${3 * c + 1}, edited`));
    const alen = Buffer.byteLength(a);
    const blen = Buffer.byteLength(b);
    afterSpans.push(
      [h, 0, alen],
      [repo.objects.putChunk(e), 0, e.length],
      [h, alen + blen, Buffer.byteLength(d)],
    );
  }
  repo.objects.flush();
  return { repo, before: put(beforeSpans), after: put(afterSpans), edited };
}

describe('reading ahead in a diff of stored versions', () => {
  it('decodes the chunks of the pieces that do not cancel on the pool, and finds exactly the edits', async () => {
    const { repo, before, after, edited } = setup();
    const decode = vi.spyOn(sharedCompressPool(), 'decode');
    try {
      const [bs, as] = sidesFromManifests(repo, 'd.jsonl', before, after);
      const r = await collect(bs, as);
      expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: edited.length });
      expect(r.changes.map((c) => (c.after as { id: number }).id)).toEqual(edited);
      // Every edited old chunk and every new chunk went through the pool, in batches.
      const sent = decode.mock.calls.flatMap((c) => c[0].map((e) => e.hash));
      expect(new Set(sent).size).toBe(2 * edited.length);
      expect(decode.mock.calls.length).toBeLessThan(sent.length / 8);
    } finally {
      decode.mockRestore();
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
    const decodeOnPool = pool.decode.bind(pool);
    const damaged = vi.spyOn(pool, 'decode').mockImplementation(async (items) => {
      const out = await decodeOnPool(items);
      return out.map((d, i) => (items[i]!.hash === victim ? undefined : d));
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
});
