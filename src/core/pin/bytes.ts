/**
 * A file's bytes (or a byte range of them) from its manifest's spans, through any ObjectReader: segments
 * wholly outside the range are skipped without being read, chunks are fetched with the reader's bounded
 * read-ahead (getMany), and every chunk is hash-verified by the reader before a byte of it is used.
 */
import { StrataError } from '../../storage/errors.js';
import { decodeSegment, type FileManifest, type Span } from '../objects/objects.js';
import type { ObjectReader } from '../object-reader.js';

/** Spans of `m` that overlap [start, end), each with its file offset, reading only needed segments. */
async function* spansInRange(
  r: ObjectReader,
  m: FileManifest,
  start: number,
  end: number,
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
  let at = 0;
  for (const seg of m.segments ?? []) {
    if (at >= end) break;
    if (at + seg.size > start) {
      const spans = decodeSegment(await r.get(seg.hash), seg.hash).spans;
      const covered = spans.reduce((n, s) => n + s[2], 0);
      if (covered !== seg.size)
        throw new StrataError(
          'INTEGRITY',
          `segment ${seg.hash} covers ${covered} bytes, manifest says ${seg.size}`,
          {
            hash: seg.hash,
          },
        );
      yield pick(spans, at);
    }
    at += seg.size;
  }
}

/**
 * Streams bytes [start, end) of a file (default: all of it) as subarrays of verified chunks. Consecutive
 * spans into the same chunk read it once. Checks that the spans cover exactly `m.size` bytes when the
 * whole file is read.
 */
export async function* fileBytes(
  r: ObjectReader,
  m: FileManifest,
  start = 0,
  end = m.size,
  opts: { signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  start = Math.max(0, start);
  end = Math.min(end, m.size);
  if (start >= end) return;
  let total = 0;
  for await (const group of spansInRange(r, m, start, end)) {
    if (!group.length) continue;
    // Distinct consecutive chunk hashes, so sub-chunk spans of one chunk fetch it once.
    const hashes: string[] = [];
    for (const { span } of group) if (hashes[hashes.length - 1] !== span[0]) hashes.push(span[0]);
    const it = r.getMany(hashes, opts)[Symbol.asyncIterator]();
    let cur: { hash: string; data: Uint8Array } | undefined;
    try {
      for (const { span, at } of group) {
        const [h, off, len] = span;
        if (cur?.hash !== h) {
          const n = await it.next();
          if (n.done || n.value.hash !== h)
            throw new StrataError('INTERNAL', `object reader returned objects out of order (wanted ${h})`, {
              hash: h,
            });
          cur = n.value;
        }
        const c = cur.data;
        if (off + len > c.length)
          throw new StrataError('INTEGRITY', `span exceeds chunk ${h}`, {
            hash: h,
            off,
            len,
            size: c.length,
          });
        const from = Math.max(start, at) - at;
        const to = Math.min(end, at + len) - at;
        total += to - from;
        yield c.subarray(off + from, off + to);
      }
    } finally {
      await it.return?.(undefined);
    }
  }
  if (total !== end - start)
    throw new StrataError(
      'INTEGRITY',
      `file spans cover ${total} of bytes [${start}, ${end}); manifest size is ${m.size}`,
      {
        start,
        end,
        size: m.size,
      },
    );
}
