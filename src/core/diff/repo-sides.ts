/**
 * DiffSides over the repository: a stored file's spans become pieces (equal ids = equal bytes, so spans
 * shared by both versions cancel unread), and a working-tree file is cut with the repository's own
 * chunker so that its unchanged chunks get the same ids as the stored ones.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { StrataError } from '../../storage/errors.js';
import { hashBytes } from '../../storage/hash.js';
import { chunkStream, type ChunkFormat } from '../chunking/index.js';
import type { FileManifest } from '../objects/objects.js';
import type { Repository } from '../repository.js';
import type { DiffPiece, DiffSide, FileFormat } from './types.js';

const DIFF_FORMATS = new Set<FileFormat>(['jsonl', 'json', 'csv', 'tsv', 'parquet', 'text', 'binary']);
export const diffFormat = (f: string): FileFormat =>
  DIFF_FORMATS.has(f as FileFormat) ? (f as FileFormat) : 'binary';

function dialectOf(options: Record<string, string> | undefined): DiffSide['dialect'] {
  if (!options?.delimiter && !options?.quote) return undefined;
  return {
    ...(options.delimiter ? { delimiter: options.delimiter === '\\t' ? '\t' : options.delimiter } : {}),
    ...(options.quote ? { quote: options.quote === 'none' ? false : options.quote } : {}),
  };
}

/** Reads `length` bytes at `offset` of a file given as consecutive pieces. */
async function readAcross(
  starts: number[],
  lengths: number[],
  read: (i: number) => Promise<Uint8Array>,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const out = Buffer.alloc(length);
  let filled = 0;
  // Binary search for the piece holding `offset`.
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  for (let i = lo; i < starts.length && filled < length; i++) {
    const b = await read(i);
    const from = Math.max(0, offset + filled - starts[i]!);
    const n = Math.min(lengths[i]! - from, length - filled);
    out.set(b.subarray(from, from + n), filled);
    filled += n;
  }
  if (filled !== length)
    throw new StrataError('BAD_INPUT', 'read past the end of the file', { offset, length });
  return out;
}

export function sideFromManifest(repo: Repository, path: string, m: FileManifest): DiffSide {
  const spans = [...repo.objects.spans(m)];
  const starts: number[] = [];
  let at = 0;
  for (const s of spans) {
    starts.push(at);
    at += s[2];
  }
  const pieces: DiffPiece[] = spans.map(([h, off, len]) => ({
    id: off === 0 ? `${h}+${len}` : `${h}@${off}+${len}`,
    length: len,
  }));
  const readPiece = async (i: number): Promise<Uint8Array> => {
    const [h, off, len] = spans[i]!;
    return repo.objects.chunk(h).subarray(off, off + len);
  };
  return {
    path,
    format: diffFormat(m.format),
    size: m.size,
    pieces,
    readPiece,
    readRange: (offset, length) =>
      readAcross(
        starts,
        spans.map((s) => s[2]),
        readPiece,
        offset,
        length,
      ),
    ...(dialectOf(m.options) ? { dialect: dialectOf(m.options) } : {}),
  };
}

/** A working-tree file, chunked exactly as `add` would chunk it; pieces are re-read from disk on demand. */
export async function sideFromWorktree(
  absPath: string,
  path: string,
  format: string,
  chunkFormat: ChunkFormat,
  repo: Repository,
  options?: Record<string, string>,
): Promise<DiffSide> {
  const pieces: DiffPiece[] = [];
  const starts: number[] = [];
  let at = 0;
  for await (const c of chunkStream(
    createReadStream(absPath, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>,
    chunkFormat,
    repo.chunking,
  )) {
    pieces.push({ id: `${hashBytes(c)}+${c.length}`, length: c.length });
    starts.push(at);
    at += c.length;
  }
  const readPiece = async (i: number): Promise<Uint8Array> => {
    const fd = openSync(absPath, 'r');
    try {
      const buf = Buffer.alloc(pieces[i]!.length);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, starts[i]! + got);
        if (n === 0) throw new StrataError('CONFLICT', `${path} changed while it was being diffed`, { path });
        got += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  };
  return {
    path,
    format: diffFormat(format),
    size: at,
    pieces,
    readPiece,
    readRange: (offset, length) =>
      readAcross(
        starts,
        pieces.map((p) => p.length),
        readPiece,
        offset,
        length,
      ),
    ...(dialectOf(options) ? { dialect: dialectOf(options) } : {}),
  };
}
