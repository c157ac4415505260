/**
 * Turns a working-tree file into a file manifest: stream it through the chunker, hash every chunk and
 * (unless `store` is false, as for `status`) store the chunks new to the repository.
 *
 * The chunks as cut ("canonical chunks") identify the content: the canonical manifest (whole-chunk spans)
 * is what `status` compares. When a record file's previous version is known (`previous`, a manifest),
 * storing takes two passes (docs/FORMAT.md, "Span-coded versions"): the first only chunks and hashes; then
 * the chunks new to the repository are span-coded against the records of the previous version
 * (span-encoder.ts): records found there become spans into the old chunks, the rest is stored in new
 * literal chunks. Such a manifest names its canonical manifest in `content`.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import type { Hash } from '../../storage/hash.js';
import { hashBytes } from '../../storage/hash.js';
import { chunkStream } from '../chunking/index.js';
import { chunkOnWorker, worthAChunkWorker } from '../chunking/worker-chunks.js';
import { rememberCanonicalChunks } from '../objects/canonical-chunks.js';
import { PreviousChunks } from './previous-chunks.js';
import type { Span } from '../objects/objects.js';
import type { Repository } from '../repository.js';
import { StrataError } from '../../storage/errors.js';
import { memoryLimit } from '../../storage/memory-limit.js';
import { ChunkSink } from './chunk-sink.js';
import {
  SpanEncoder,
  YIELD_EVERY,
  yieldToEventLoop,
  type Coverage,
  type EncoderLimits,
  type Piece,
} from './span-encoder.js';
import type { FormatInfo } from './formats.js';

export interface IngestResult {
  manifest: Hash;
  size: number;
  examples?: number;
  /** With `keepChunks`: the file's canonical chunks (whole-chunk spans, in order) and over-long records. */
  chunks?: WorktreeChunks;
}

/** How the chunker cut a file: its canonical chunks as whole-chunk spans, and its over-long records. */
export interface WorktreeChunks {
  canonical: Span[];
  long: [number, number][];
}

const RECORD_FORMATS = new Set(['jsonl', 'text']);
/** Formats whose new chunks may be span-coded against the previous version. */
const SPAN_FORMATS = new Set(['jsonl', 'text', 'csv', 'tsv']);
/** New chunks kept in memory between the passes; beyond this they are re-read from the file. */
const KEEP_BYTES = 8 << 20;
/** Bytes read at once for a run of adjacent fresh chunks read again (ingestFile's `fromBlock`). */
const BLOCK_BYTES = 1 << 20;

interface NewChunk {
  hash: string;
  offset: number;
  length: number;
  /** Its place among the canonical chunks. */
  at: number;
  data?: Uint8Array;
}

type LitPiece = Extract<Piece, { kind: 'lit' }>;

export async function ingestFile(
  repo: Repository,
  absPath: string,
  fmt: FormatInfo,
  opts: {
    store: boolean;
    onBytes?: (n: number) => void;
    previous?: Hash;
    keepChunks?: boolean;
    /**
     * Memory limits of span-coding (tests: small ones force the paths a large file takes): the encoder's
     * window, and the bytes of new chunks kept between the passes (KEEP_BYTES).
     */
    limits?: Pick<EncoderLimits, 'window' | 'keepUnmatched'> & { keepBytes?: number };
  },
): Promise<IngestResult> {
  const canonical: Span[] = [];
  /** Per canonical chunk: its number among the fresh chunks, or -1 if stored (or had) whole. */
  const layout: number[] = [];
  let size = 0;
  let newlines = 0;
  let lastByte = -1;
  const countRecords = RECORD_FORMATS.has(fmt.format);
  const sink = opts.store ? new ChunkSink(repo.objects.packs) : undefined;
  const packs = repo.objects.packs;
  /**
   * The index generation of pass 1's lookups: a chunk they found absent is stored without asking the index
   * again while it holds (ChunkSink.add). Nothing adds index rows during an ingest, so it holds throughout.
   */
  const absentSince = packs.indexGeneration;
  // Two-pass mode: pass 1 only collects the chunks new to the repository.
  const twoPass =
    opts.store && opts.previous !== undefined && SPAN_FORMATS.has(fmt.format) && packs.has(opts.previous);
  // A large file is cut and hashed on a worker thread while the main thread handles the chunks before
  // (chunkOnWorker), in a pass that stores nothing: one that stores chunks whole keeps the second core busy
  // compressing them (hashing there as well made the 1 GiB v0 add 10.5 → 13 s).
  const onWorker = (twoPass || !opts.store) && worthAChunkWorker(absPath);
  const fresh: NewChunk[] = [];
  const freshNames = new Set<string>();
  let kept = 0;
  let spanCoded = false;
  let fd: number | undefined;
  /**
   * Bytes [blockStart, blockStart + blockLength) of the file, read ahead at once for a run of fresh chunks that
   * lie next to each other: a read per chunk cost ~9 µs (the 1 GiB 10% deletion's ~60k re-read chunks: 0.6 s).
   */
  let block: Buffer | undefined;
  let blockStart = 0;
  let blockLength = 0;
  /** The bytes of fresh chunk i through the block (read ahead from `file` on a miss), or undefined. */
  const fromBlock = (file: number, i: number, into?: Uint8Array): Uint8Array | undefined => {
    const c = fresh[i]!;
    if (c.offset < blockStart || c.offset + c.length > blockStart + blockLength) {
      // Worth a block only where the next fresh chunk follows this one.
      const next = fresh[i + 1];
      if (!next || next.offset !== c.offset + c.length) return undefined;
      block ??= Buffer.allocUnsafeSlow(BLOCK_BYTES);
      if (c.length > block.length) return undefined;
      let end = c.offset + c.length;
      for (let j = i + 1; j < fresh.length; j++) {
        const f = fresh[j]!;
        if (f.offset !== end || f.offset + f.length - c.offset > block.length) break;
        end = f.offset + f.length;
      }
      readAt(file, c.offset, end - c.offset, absPath, block);
      blockStart = c.offset;
      blockLength = end - c.offset;
    }
    const from = c.offset - blockStart;
    const out = into && into.length >= c.length ? into.subarray(0, c.length) : new Uint8Array(c.length);
    out.set(block!.subarray(from, from + c.length));
    return out;
  };
  /** A fresh chunk's bytes: kept since pass 1, or read again (and if `checked`, checked against its hash). */
  const read = (i: number, checked: boolean, into?: Uint8Array): Uint8Array => {
    const c = fresh[i]!;
    if (c.data) return c.data;
    fd ??= openSync(absPath, 'r');
    const data = fromBlock(fd, i, into) ?? readAt(fd, c.offset, c.length, absPath, into);
    if (checked && hashBytes(data) !== c.hash) {
      throw new StrataError('CONFLICT', `${absPath} changed while it was being added`, { path: absPath });
    }
    return data;
  };
  // The records of the fresh chunks are keyed as they are cut, not read again for it.
  let enc = twoPass
    ? new SpanEncoder(repo, read, {
        records: expectedRecords(repo, opts.previous!, absPath),
        window: opts.limits?.window,
        keepUnmatched: opts.limits?.keepUnmatched,
        maxChunk: repo.chunking.max,
        quoted: fmt.chunkFormat === 'csv' || fmt.chunkFormat === 'tsv',
      })
    : undefined;
  const long: [number, number][] = [];
  let prev = twoPass ? PreviousChunks.load(repo, opts.previous!) : undefined;
  /** Canonical chunk index → the previous version's spans over the same bytes (PreviousChunks). */
  const reusedPrev = new Map<number, Span[]>();
  /** Pass 1 for one chunk, in file order: `inPacks` as packs.has(h) (asked a batch at a time). */
  const onChunk = async (chunk: Uint8Array, h: Hash, inPacks: boolean): Promise<void> => {
    canonical.push([h, 0, chunk.length]);
    if (opts.store) {
      const stored = inPacks || freshNames.has(h);
      // A canonical chunk of the span-coded previous version: its bytes are stored, as the previous spans.
      const again = !stored && prev ? prev.spansOf(h, chunk.length) : undefined;
      if (again) {
        reusedPrev.set(canonical.length - 1, again);
        layout.push(-1);
        repo.counters.previousChunksReused++;
      } else if (stored || !twoPass) {
        if (!stored) await sink!.add(h, chunk, absentSince);
        layout.push(-1);
      } else {
        const keep = kept + chunk.length <= (opts.limits?.keepBytes ?? KEEP_BYTES);
        if (keep) kept += chunk.length;
        freshNames.add(h);
        enc!.want(fresh.length, chunk);
        layout.push(fresh.length);
        fresh.push({
          hash: h,
          offset: size,
          length: chunk.length,
          at: canonical.length - 1,
          data: keep ? Uint8Array.prototype.slice.call(chunk) : undefined,
        });
      }
    }
    size += chunk.length;
    if (countRecords) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) newlines++;
      lastByte = chunk[chunk.length - 1]!;
    }
    opts.onBytes?.(chunk.length);
  };
  // Pass 1's garbage (the chunks as cut, batches from the chunking thread) piles up in V8's old space until
  // its next full collection: above the memory limit it is collected between batches (and in pass 2).
  const memory = memoryLimit();
  if (onWorker) {
    for await (const { chunks, hashes } of chunkOnWorker(
      absPath,
      fmt.chunkFormat,
      repo.chunking,
      long,
      () => size,
    )) {
      const present = opts.store ? packs.hasMany(hashes) : undefined;
      for (let i = 0; i < chunks.length; i++) await onChunk(chunks[i]!, hashes[i]!, present?.[i] ?? false);
      // The batch's chunks (copied where kept) are garbage now: above the memory limit, collected.
      memory.check();
    }
  } else {
    const src = createReadStream(absPath, { highWaterMark: 1 << 20 });
    for await (const chunk of chunkStream(
      src as AsyncIterable<Uint8Array>,
      fmt.chunkFormat,
      repo.chunking,
      long,
    )) {
      const h = hashBytes(chunk);
      await onChunk(chunk, h, opts.store && packs.has(h));
      memory.check();
    }
  }
  prev = undefined; // pass 1 only: not held through pass 2
  repo.counters.filesHashed++;
  repo.counters.bytesHashed += size;
  const examples = countRecords ? newlines + (size > 0 && lastByte !== 10 ? 1 : 0) : undefined;
  const fields = {
    size,
    format: fmt.format,
    ...(Object.keys(fmt.options).length ? { options: fmt.options } : {}),
    ...(examples !== undefined ? { examples } : {}),
    ...(long.length ? { long } : {}),
  };
  const result = (manifest: Hash): IngestResult => ({
    manifest,
    size,
    ...(examples !== undefined ? { examples } : {}),
    ...(opts.keepChunks ? { chunks: { canonical, long } } : {}),
  });
  freshNames.clear();
  const content = repo.objects.putManifest(fields, canonical, false);
  if (!opts.store) return result(content);
  // The same bytes as the previous version, whatever its layout: keep it.
  if (opts.previous !== undefined && repo.objects.contentOf(opts.previous) === content) {
    await sink!.finish();
    return result(opts.previous);
  }

  // Pass 2: span-code the new chunks (or store them whole), building the stored manifest's spans as it goes
  // (coalesced; a literal piece's span is known once its chunk is sealed: those after it wait). Until a
  // chunk is span-coded the spans would be the canonical chunks: none are built (a shuffle stores every
  // chunk whole), the first span-coded chunk starts them with the canonical chunks before it.
  const spans: Span[] = [];
  // Spans are kept as given (pushSpan would copy each): only a span of a piece or a literal, made here for
  // the manifest, is ever extended; a canonical span, a whole chunk, cannot be (nothing of its chunk lies
  // after it), so the canonical ones are shared rather than copied.
  const append = (s: Span): void => {
    const last = spans[spans.length - 1];
    if (last && last[0] === s[0] && last[1] + last[2] === s[1]) last[2] += s[2];
    else spans.push(s);
  };
  const waiting: (Span | LitPiece)[] = [];
  let emitted = 0;
  const put = (x: Span | LitPiece): void => {
    if (!spanCoded) return;
    if (waiting.length === 0 && Array.isArray(x)) append(x);
    else waiting.push(x);
  };
  const emitUpTo = (end: number): void => {
    for (; emitted < end; emitted++) {
      if (layout[emitted]! >= 0) continue;
      const again = reusedPrev.get(emitted);
      if (again) for (const sp of again) put(sp);
      else put(canonical[emitted]!);
    }
  };
  // Spans of the previous version stand for some chunks: the manifest is span-coded from its first span.
  if (reusedPrev.size) spanCoded = true;
  const drain = (): void => {
    let k = 0;
    for (; k < waiting.length; k++) {
      const w = waiting[k]!;
      const sp = Array.isArray(w) ? w : LiteralChunks.placedSpan(w);
      if (!sp) break;
      append(sp);
    }
    waiting.splice(0, k);
  };
  if (fresh.length) {
    const literals = new LiteralChunks(sink!, repo.chunking.avg * 2, repo.chunking.max);
    let scratch: Uint8Array | undefined;
    try {
      if (enc && !(await enc.resolve(opts.previous!, coverage(layout, canonical, reusedPrev))))
        enc = undefined;
      // Pass 1's tables and the old chunks' bytes die here: above the limit, collect them now, not once
      // pass 2 has grown on top of them.
      memory.check();
      for (const [i, c] of fresh.entries()) {
        if (i % YIELD_EVERY === YIELD_EVERY - 1) {
          await yieldToEventLoop();
          memory.check();
        }
        const pieces = enc?.encode(i);
        if (pieces && !spanCoded) {
          spanCoded = true;
          for (let k = 0; k < c.at; k++) append(canonical[k]!);
          emitted = c.at;
        }
        emitUpTo(c.at);
        if (pieces) {
          for (const p of pieces) {
            if (p.kind === 'lit') {
              put(p);
              await literals.add(p);
            } else put([p.chunk as Hash, p.offset, p.length]);
          }
        } else {
          // The sink copies it: one buffer serves every chunk stored whole (a shuffle: all of them).
          scratch ??= new Uint8Array(repo.chunking.max);
          await sink!.add(c.hash, read(i, true, scratch), absentSince);
          put(canonical[c.at]!);
        }
        emitted = c.at + 1;
        c.data = undefined;
        drain();
      }
      await literals.seal();
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  enc = undefined;
  fresh.length = 0;
  await sink!.finish();
  if (!spanCoded) return result(repo.objects.putManifest(fields, canonical));
  emitUpTo(layout.length);
  drain();
  if (waiting.length) throw new StrataError('INTERNAL', 'literal piece was never sealed into a chunk');
  const stored = repo.objects.putManifest({ ...fields, content }, spans);
  // For diffs of the working tree against this version (canonical-chunks.ts).
  rememberCanonicalChunks(repo, content, canonical);
  return result(stored);
}

/**
 * The records a new version at `path` likely holds, from the previous version's records per byte (0 if
 * unknown): the encoder sizes its tables for them once.
 */
function expectedRecords(repo: Repository, previous: Hash, path: string): number {
  try {
    const m = repo.objects.manifest(previous);
    if (!m.examples || !m.size) return 0;
    return Math.ceil((statSync(path).size * m.examples) / m.size) + 1024;
  } catch {
    return 0;
  }
}

/** The chunk ranges the new version reuses as they are (its non-fresh layout). */
function coverage(
  layout: readonly number[],
  canonical: readonly Span[],
  reusedPrev: ReadonlyMap<number, readonly Span[]>,
): Coverage {
  const cov: Coverage = new Map();
  const cover = ([h, off, len]: Span): void => {
    const list = cov.get(h);
    if (list) list.push([off, off + len]);
    else cov.set(h, [[off, off + len]]);
  };
  for (const [i, l] of layout.entries()) {
    if (l >= 0) continue;
    const again = reusedPrev.get(i);
    if (again) again.forEach(cover);
    else cover(canonical[i]!);
  }
  return cov;
}

/**
 * Gathers the literal pieces of span-coded chunks, in file order, into new chunks of about `target` bytes
 * (never more than `max`), which compress far better than one small piece each. A piece's span is known
 * once its chunk is sealed: `span(piece)` is valid after `seal()`. The pieces' bytes are copied at once into
 * one reused buffer (they may be views of the encoder's read buffer, valid until its next chunk).
 */
class LiteralChunks {
  private buf: Uint8Array;
  private size = 0;
  private waiting: { piece: Extract<Piece, { kind: 'lit' }>; offset: number }[] = [];
  private static readonly placed = new WeakMap<object, Span>();

  constructor(
    private readonly sink: ChunkSink,
    private readonly target: number,
    private readonly max: number,
  ) {
    this.buf = new Uint8Array(max);
  }

  async add(piece: Extract<Piece, { kind: 'lit' }>): Promise<void> {
    const len = piece.end - piece.start;
    if (this.size > 0 && this.size + len > this.max) await this.seal();
    if (this.size + len > this.buf.length) {
      const grown = new Uint8Array(this.size + len);
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    this.waiting.push({ piece, offset: this.size });
    let at = this.size;
    for (const p of piece.parts) {
      this.buf.set(p, at);
      at += p.length;
    }
    if (at - this.size !== len) throw new StrataError('INTERNAL', 'a literal piece of the wrong length');
    piece.parts = []; // the piece is kept until the manifest is built: its bytes are not
    this.size += len;
    if (this.size >= this.target) await this.seal();
  }

  async seal(): Promise<void> {
    if (this.size === 0) return;
    const bytes = this.buf.subarray(0, this.size);
    const hash = hashBytes(bytes);
    await this.sink.add(hash, bytes); // copied by the sink: the buffer is free again
    for (const w of this.waiting)
      LiteralChunks.placed.set(w.piece, [hash, w.offset, w.piece.end - w.piece.start]);
    this.size = 0;
    this.waiting = [];
  }

  /** The span of a piece once its chunk is sealed, else undefined. */
  static placedSpan(piece: LitPiece): Span | undefined {
    return LiteralChunks.placed.get(piece);
  }
}

/** Reads `length` bytes at `offset`, into `into` (a view of it) if it is long enough. */
function readAt(fd: number, offset: number, length: number, path: string, into?: Uint8Array): Uint8Array {
  const buf =
    into && into.length >= length
      ? Buffer.from(into.buffer, into.byteOffset, length)
      : Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) throw new StrataError('CONFLICT', `${path} shrank while it was being added`, { path });
    got += n;
  }
  return buf;
}
