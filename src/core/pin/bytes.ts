/**
 * A file's bytes (or a byte range of them) from its manifest's spans, through any ObjectReader: segments
 * wholly outside the range are skipped without being read, chunks are fetched with the reader's bounded
 * read-ahead (getMany), and every chunk is hash-verified by the reader before a byte of it is used.
 */
import { StrataError } from '../../storage/errors.js';
import { decodeSegment, type FileManifest, type Span } from '../objects/objects.js';
import { chunksOfSpans, RecentChunks, type ObjectReader } from '../object-reader.js';

/** Spans of `m` that overlap [start, end), each with its file offset, reading only needed segments. */
async function* spansInRange(
  r: ObjectReader,
  m: FileManifest,
  start: number,
  end: number,
  /** Segments starting at or after this offset are fetched one at a time (the soft tail). */
  eager = end,
): AsyncGenerator<{ span: Span; at: number }[]> {
  const pick = (spans: Span[], base: number): { span: Span; at: number }[] => {
    const out: { span: Span; at: number }[] = [];
    let at = base;
    for (const s of spans) {
      if (at + s[2] > start && at < end && s[2] > 0) out.push({ span: s, at });
      at += s[2];
      if (at >= end) break;
    }
    return out;
  };
  if (m.spans) {
    yield pick(m.spans, 0);
    return;
  }
  // The segments that overlap the range, with their file offsets (from the manifest, no reads).
  const needed: { hash: string; at: number; size: number }[] = [];
  let at = 0;
  for (const seg of m.segments ?? []) {
    if (at >= end) break;
    if (at + seg.size > start) needed.push({ hash: seg.hash, at, size: seg.size });
    at += seg.size;
  }
  // Fetched SEGMENT_BATCH at a time (one coalesced request remotely), and their spans handed out in
  // groups of at least GROUP_SPANS, so chunk read-ahead does not drain at every segment boundary. Each
  // group is one getMany: a remote reader plans its ranged reads over it, so the bigger the group, the more
  // the chunks stored away from their neighbours (with another version) coalesce into fewer requests.
  let group: { span: Span; at: number }[] = [];
  for (let i = 0; i < needed.length;) {
    let n = 1;
    while (n < SEGMENT_BATCH && i + n < needed.length && needed[i + n]!.at < eager) n++;
    const batch = needed.slice(i, i + n);
    i += n;
    let j = 0;
    for await (const { hash, data } of r.getMany(batch.map((b) => b.hash))) {
      const seg = batch[j++]!;
      const spans = decodeSegment(data, hash).spans;
      const covered = spans.reduce((n, s) => n + s[2], 0);
      if (covered !== seg.size)
        throw new StrataError(
          'INTEGRITY',
          `segment ${hash} covers ${covered} bytes, manifest says ${seg.size}`,
          {
            hash,
          },
        );
      for (const p of pick(spans, seg.at)) group.push(p);
      if (group.length >= GROUP_SPANS || seg.at + seg.size >= eager) {
        yield group;
        group = [];
      }
    }
  }
  if (group.length) yield group;
}

const SEGMENT_BATCH = 64;
const GROUP_SPANS = 32768;

/**
 * Streams bytes [start, end) of a file (default: all of it) as subarrays of verified chunks. Consecutive
 * spans into the same chunk read it once. Checks that the spans cover exactly the bytes asked for.
 *
 * With `tail`, `end` is soft: the span holding byte end-1 is yielded whole, and then the rest of the file
 * follows span by span, one object fetch at a time and only as far as the consumer keeps reading - so a
 * shard that needs a few bytes past its range to finish its last record fetches no read-ahead beyond it
 * (and usually nothing at all, since record-format chunks end on record boundaries).
 */
export async function* fileBytes(
  r: ObjectReader,
  m: FileManifest,
  start = 0,
  end = m.size,
  opts: { signal?: AbortSignal; tail?: boolean } = {},
): AsyncGenerator<Uint8Array> {
  start = Math.max(0, start);
  end = Math.min(end, m.size);
  if (start >= end) return;
  const stop = opts.tail ? m.size : end;
  let total = 0;
  // Recently read chunks: a span-coded file (FORMAT.md) interleaves spans of an old chunk with spans of a
  // new one (old, new, old, ...), and each chunk is read once while it stays among the last few used.
  const recent = new RecentChunks();
  const piece = (c: Uint8Array, span: Span, at: number, clipEnd: number): Uint8Array => {
    const from = Math.max(start, at) - at;
    const to = Math.min(clipEnd, at + span[2]) - at;
    total += to - from;
    return c.subarray(span[1] + from, span[1] + to);
  };
  for await (const group of spansInRange(r, m, start, stop, end)) {
    const head = group.filter((g) => g.at < end);
    const tail = group.slice(head.length);
    let k = 0;
    for await (const c of chunksOfSpans(
      head.map((g) => g.span),
      recent,
      (plan) => r.getMany(plan, { signal: opts.signal }),
    )) {
      const { span, at } = head[k++]!;
      yield piece(c, span, at, stop);
    }
    // Past `end` (a soft end): one fetch at a time, only as far as the consumer reads.
    k = 0;
    for await (const c of chunksOfSpans(
      tail.map((g) => g.span),
      recent,
      async function* (hashes) {
        for (const hash of hashes) yield { hash, data: await r.get(hash, { signal: opts.signal }) };
      },
    )) {
      const { span, at } = tail[k++]!;
      yield piece(c, span, at, stop);
    }
  }
  if (total !== stop - start)
    throw new StrataError(
      'INTEGRITY',
      `file spans cover ${total} of bytes [${start}, ${stop}); manifest size is ${m.size}`,
      { start, end: stop, size: m.size },
    );
}
