// Segmented manifests (FORMAT.md): long span lists are stored as content-defined segments, and two versions
// of a file share most of them. The diff cancels shared segments whole, without expanding them.
import { describe, expect, it, vi } from 'vitest';
import { Repository } from '../../src/core/repository.js';
import type { FileManifest, Span } from '../../src/core/objects/objects.js';
import { sidesFromManifests } from '../../src/core/diff/repo-sides.js';
import { tempDir } from '../core/helpers.js';
import { collect, instrument } from './helpers.js';

const line = (id: number, text = `example ${id} with a handful of words`): string =>
  JSON.stringify({ id, text }) + '\n';

/** 2,000 chunks of two records each: far more spans than a manifest keeps inline, so it is segmented. */
function setup(): { repo: Repository; spans: Span[]; put: (spans: Span[]) => FileManifest } {
  const repo = Repository.init(tempDir());
  const spans: Span[] = [];
  for (let c = 0; c < 2000; c++) {
    const bytes = Buffer.from(line(2 * c) + line(2 * c + 1));
    spans.push([repo.objects.putChunk(bytes), 0, bytes.length]);
  }
  const put = (list: Span[]): FileManifest => {
    const size = list.reduce((n, s) => n + s[2], 0);
    return repo.objects.manifest(repo.objects.putManifest({ size, format: 'jsonl' }, list));
  };
  return { repo, spans, put };
}

describe('segmented manifests in the diff', () => {
  it('an append: shared segments cancel unexpanded; only the tail is expanded and read', async () => {
    const { repo, spans, put } = setup();
    const tail = Buffer.from(line(9001) + line(9002) + line(9003));
    const extra: Span = [repo.objects.putChunk(tail), 0, tail.length];
    const before = put(spans);
    const after = put([...spans, extra]);
    expect(before.segments!.length).toBeGreaterThan(4);
    const decoded = vi.spyOn(repo.objects, 'segmentSpans');
    const [bs, as] = sidesFromManifests(repo, 'd.jsonl', before, after);
    // At most the last segment of each side is expanded (the append changes it); the others stay whole,
    // decoded once each only to see whether their last span may end inside a record.
    expect(bs!.pieces.length).toBeLessThan(before.segments!.length + 300);
    expect(decoded.mock.calls.length).toBeLessThanOrEqual(after.segments!.length + 2);
    const b = instrument(bs!);
    const a = instrument(as!);
    const r = await collect(b.side, a.side);
    expect(r.summary.counts).toEqual({ added: 3, removed: 0, modified: 0 });
    expect(r.changes.map((c) => (c.after as { id: number }).id)).toEqual([9001, 9002, 9003]);
    for (const side of [b, a])
      for (const i of side.read) expect(side.side.pieces[i]!.id.startsWith('segment:')).toBe(false);
    expect(r.summary.cost.bytesRead).toBeLessThan(4 * 1024);
  });

  it('an edit in one segment and a repeated block: exact, whatever occurs more often on one side is read', async () => {
    const { repo, spans, put } = setup();
    const edited = Buffer.from(line(2000, 'example 2000, edited') + line(2001));
    const e: Span = [repo.objects.putChunk(edited), 0, edited.length];
    const before = put(spans);
    // Chunk 1000 edited; the first 600 chunks repeated at the end (their segments occur twice after).
    const afterSpans = [...spans.slice(0, 1000), e, ...spans.slice(1001), ...spans.slice(0, 600)];
    const after = put(afterSpans);
    const [bs, as] = sidesFromManifests(repo, 'd.jsonl', before, after);
    const r = await collect(bs, as);
    expect(r.summary.counts).toEqual({ added: 1200, removed: 0, modified: 1 });
    const modified = r.changes.filter((c) => c.kind === 'modified');
    expect(modified.map((c) => (c.after as { text: string }).text)).toEqual(['example 2000, edited']);
    // Reading the repeated segments through their segment pieces gives the right bytes.
    const whole = async (side: NonNullable<typeof as>): Promise<Buffer> => {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < side.pieces.length; i++) parts.push(await side.readPiece(i));
      return Buffer.concat(parts);
    };
    const expected = Buffer.concat(
      await Promise.all(
        afterSpans.map(async ([h, off, len]) => repo.objects.chunk(h).subarray(off, off + len)),
      ),
    );
    expect((await whole(as!)).equals(expected)).toBe(true);
    expect(Buffer.from(await as!.readRange(100, 5000)).equals(expected.subarray(100, 5100))).toBe(true);
  });

  it('a segment whose spans do not cover what the manifest says is refused as INTEGRITY', () => {
    const { repo, spans, put } = setup();
    const before = put(spans);
    const after = put([...spans.slice(0, 10), ...spans.slice(11)]);
    const bad = {
      ...after,
      segments: after.segments!.map((s, i) => (i === 0 ? { ...s, size: s.size + 1 } : s)),
    };
    expect(() => sidesFromManifests(repo, 'd.jsonl', before, bad as FileManifest)).toThrow(
      expect.objectContaining({ code: 'INTEGRITY' }),
    );
  });
});
