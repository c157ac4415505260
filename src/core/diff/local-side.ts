/**
 * DiffSides for bytes that are not (yet) in a repository: a local file (working-tree diffs, tests) or bytes in
 * memory. Pieces are cut where a gear rolling hash says so (content-defined, FastCDC-style), moved to the next
 * record boundary for record formats, so that an insertion or deletion disturbs only the pieces around it.
 * For pieces to cancel between two sides, both must be cut the same way: the repository's chunker and this
 * one are not interchangeable.
 */
import { open, stat } from 'node:fs/promises';
import { createHasher, hashBytes } from '../../storage/hash.js';
import { formatFromPath } from './detect.js';
import type { DiffPiece, DiffSide, FileFormat } from './types.js';
import { bufferView } from '../../storage/buffer-view.js';

export interface PieceOptions {
  format?: FileFormat;
  /** Target average piece size in bytes (default 16 KiB); min is a quarter, max four times. */
  avgSize?: number;
  minSize?: number;
  maxSize?: number;
}

const GEAR = (() => {
  const t = new Uint32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    t[i] = x >>> 0;
  }
  return t;
})();

const isRecordFormat = (f: FileFormat): boolean =>
  f === 'jsonl' || f === 'csv' || f === 'tsv' || f === 'text';

/** Finds piece boundaries in a byte stream fed block by block. */
class Cutter {
  private h = 0;
  private size = 0;
  private want = false;
  private inQuote = false;
  private headerPending: boolean;
  private readonly records: boolean;
  private readonly quote: number;
  private readonly shift: number;
  private readonly min: number;
  private readonly max: number;

  constructor(format: FileFormat, opts: PieceOptions) {
    const avg = opts.avgSize ?? 16 * 1024;
    this.min = opts.minSize ?? Math.max(1, avg >> 2);
    this.max = opts.maxSize ?? avg * 4;
    this.shift = 32 - Math.max(1, Math.round(Math.log2(Math.max(2, avg - this.min))));
    this.records = isRecordFormat(format);
    this.quote = format === 'csv' || format === 'tsv' ? 34 : -1;
    this.headerPending = format === 'csv' || format === 'tsv';
  }

  /** Offsets (relative to the block) just after which a piece ends. */
  push(block: Uint8Array): number[] {
    const cuts: number[] = [];
    for (let i = 0; i < block.length; i++) {
      const c = block[i]!;
      this.size++;
      this.h = ((this.h << 1) + GEAR[c]!) >>> 0;
      if (this.size >= this.min && this.h >>> this.shift === 0) this.want = true;
      if (this.size >= this.max) this.want = true;
      if (!this.records) {
        if (this.want) this.cut(cuts, i);
        continue;
      }
      if (c === this.quote) this.inQuote = !this.inQuote;
      else if (c === 10 && !this.inQuote) {
        if (this.headerPending) {
          this.headerPending = false;
          this.cut(cuts, i);
        } else if (this.want) this.cut(cuts, i);
      }
    }
    return cuts;
  }

  private cut(cuts: number[], i: number): void {
    cuts.push(i + 1);
    this.h = 0;
    this.size = 0;
    this.want = false;
  }
}

function countNewlines(u8: Uint8Array): number {
  const b = bufferView(u8); // Buffer#indexOf: memchr
  let n = 0;
  let i = b.indexOf(10);
  while (i >= 0) {
    n++;
    i = b.indexOf(10, i + 1);
  }
  return n;
}

/** A side over explicit pieces (ids are the BLAKE3 of each piece), for tests and callers that cut their own. */
export function sideFromPieces(
  path: string,
  format: FileFormat,
  pieces: ReadonlyArray<Uint8Array | string>,
): DiffSide {
  const bufs = pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)));
  const all = Buffer.concat(bufs);
  const offsets: number[] = [];
  let off = 0;
  for (const b of bufs) {
    offsets.push(off);
    off += b.length;
  }
  return {
    path,
    format,
    size: all.length,
    pieces: bufs.map((b) => ({ id: hashBytes(b), length: b.length, lines: countNewlines(b) })),
    readPiece: async (i) => {
      const b = bufs[i];
      if (!b) throw new RangeError(`no piece ${i}`);
      return b;
    },
    readRange: async (offset, length) => all.subarray(offset, offset + length),
  };
}

/** A side over bytes in memory, cut into content-defined pieces. */
export function sideFromBytes(path: string, bytes: Uint8Array | string, opts: PieceOptions = {}): DiffSide {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  const format = opts.format ?? formatFromPath(path);
  const cuts = new Cutter(format, opts).push(data);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const c of cuts) {
    pieces.push(data.subarray(start, c));
    start = c;
  }
  if (start < data.length) pieces.push(data.subarray(start));
  return sideFromPieces(path, format, pieces);
}

/** A side over a local file: one streaming read to cut and hash the pieces, then reads on demand. */
export async function sideFromFile(
  file: string,
  opts: PieceOptions & { path?: string } = {},
): Promise<DiffSide> {
  const path = opts.path ?? file;
  const format = opts.format ?? formatFromPath(path);
  const cutter = new Cutter(format, opts);
  const pieces: DiffPiece[] = [];
  const offsets: number[] = [];
  let hasher = createHasher();
  let pieceStart = 0;
  let pieceLines = 0;
  let pos = 0;
  const fh = await open(file, 'r');
  try {
    const block = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(block, 0, block.length, pos);
      if (bytesRead === 0) break;
      const view = block.subarray(0, bytesRead);
      let from = 0;
      for (const cut of cutter.push(view)) {
        const seg = view.subarray(from, cut);
        hasher.update(seg);
        pieceLines += countNewlines(seg);
        offsets.push(pieceStart);
        pieces.push({ id: hasher.digestHex(), length: pos + cut - pieceStart, lines: pieceLines });
        hasher = createHasher();
        pieceStart = pos + cut;
        pieceLines = 0;
        from = cut;
      }
      const rest = view.subarray(from);
      hasher.update(rest);
      pieceLines += countNewlines(rest);
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  if (pos > pieceStart) {
    offsets.push(pieceStart);
    pieces.push({ id: hasher.digestHex(), length: pos - pieceStart, lines: pieceLines });
  }
  const size = (await stat(file)).size;
  const readRange = async (offset: number, length: number): Promise<Uint8Array> => {
    const h = await open(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await h.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new RangeError(`short read of ${file} at ${offset}`);
      return buf;
    } finally {
      await h.close();
    }
  };
  return {
    path,
    format,
    size,
    pieces,
    readPiece: async (i) => {
      const p = pieces[i];
      if (!p) throw new RangeError(`no piece ${i}`);
      return readRange(offsets[i]!, p.length);
    },
    readRange,
  };
}
