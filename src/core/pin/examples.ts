/**
 * Examples of record-format files (JSONL, text, CSV/TSV), sharded across workers.
 *
 * Sharding (docs/API.md, "Sharding"): the selected files are laid end to end in one byte space of T bytes,
 * in the order given. Shard k of N owns the bytes [floor(kT/N), floor((k+1)T/N)). An example belongs to
 * the shard that owns its **position**: for JSONL and text the byte offset where its line starts; for
 * CSV/TSV the offset of the last byte of its row. Every example has exactly one position and every
 * position is in exactly one shard, so for any N (divisor of anything or not) the shards are disjoint and
 * together cover every example exactly once, each ~1/N of the bytes whatever the file sizes.
 *
 * A JSONL/text worker reads only its own byte range (plus the byte before it, to know whether a line
 * starts there, and the tail of its last line): ~1/N of the data. A line start is found locally (the byte
 * before is `\n`), so this is exact for any span layout, sub-chunk spans and over-long records included.
 * A CSV row's end depends on the quote parity of everything before it, so a CSV worker parses its file
 * from the start up to the end of its range (on average half of the file's bytes); only its rows are
 * yielded. The same holds for a JSON array, whose elements' positions are the bytes where they start: its
 * worker scans the structure from the start (core/formats/json-array.ts) and parses only its elements.
 *
 * Cursors: every example carries `{path, offset}` (its position). `startAfter: cursor` with the same
 * shard/numShards resumes with exactly the examples after it.
 */
import { Readable } from 'node:stream';
import { parse as csvParse } from 'csv-parse';
import { StrataError } from '../../storage/errors.js';
import type { FileManifest } from '../objects/objects.js';
import type { ObjectReader } from '../object-reader.js';
import { JsonArrayScanner } from '../formats/json-array.js';
import { gunzip, gzipContentFormat } from '../formats/gzip.js';
import { fileBytes } from './bytes.js';

/** A file's bytes [start, end) (`tail`: and on, as far as the consumer reads). */
type ByteSource = (
  start: number,
  end: number,
  opts: { signal?: AbortSignal; tail?: boolean },
) => AsyncIterable<Uint8Array>;

/** A position a worker can checkpoint (JSON-serialisable) and pass back as `startAfter`. */
export interface Cursor {
  path: string;
  /** The example's position in the file (see the module comment). */
  offset: number;
  /** The shard that yielded it; resuming with another shard or shard count is BAD_INPUT. */
  shard?: number;
  numShards?: number;
}

export interface Example<T = unknown> {
  /** The parsed example: a JSON value (JSONL), a row object keyed by header (CSV/TSV), a string (text). */
  value: T;
  path: string;
  /** The example's position in its file; also `cursor.offset`. */
  offset: number;
  cursor: Cursor;
}

export interface ShardOptions {
  /** 0-based shard index (default 0). */
  shard?: number;
  /** Number of shards (default 1). */
  numShards?: number;
  /** Resume after this example (a cursor this shard yielded earlier). */
  startAfter?: Cursor;
  signal?: AbortSignal;
  /**
   * Called for a JSONL line or JSON array element that is not JSON, which is then skipped; without it such an
   * example is BAD_INPUT.
   */
  onMalformed?: (m: { path: string; offset: number; error: string }) => void;
}

const decoder = new TextDecoder('utf-8');

export const RECORD_FORMATS = new Set(['jsonl', 'json', 'text', 'csv', 'tsv', 'parquet']);

export interface ShardFile {
  path: string;
  manifest: FileManifest;
}

/** [start, end) of shard k of n over T bytes: floor(kT/n), exact in BigInt. */
export function shardRange(total: number, shard: number, numShards: number): [number, number] {
  const T = BigInt(total);
  const N = BigInt(numShards);
  return [Number((T * BigInt(shard)) / N), Number((T * BigInt(shard + 1)) / N)];
}

export function checkShardOptions(o: ShardOptions): { shard: number; numShards: number } {
  const numShards = o.numShards ?? 1;
  const shard = o.shard ?? 0;
  if (!Number.isSafeInteger(numShards) || numShards < 1)
    throw new StrataError('BAD_INPUT', `numShards must be a positive integer, got ${numShards}`, {
      numShards,
    });
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= numShards)
    throw new StrataError('BAD_INPUT', `shard must be an integer in [0, ${numShards}), got ${shard}`, {
      shard,
      numShards,
    });
  return { shard, numShards };
}

/** The examples of shard `shard` of `numShards` over `files` (laid end to end in the given order). */
export async function* shardExamples<T = unknown>(
  r: ObjectReader,
  files: ShardFile[],
  opts: ShardOptions,
): AsyncGenerator<Example<T>> {
  const { shard, numShards } = checkShardOptions(opts);
  for (const f of files) {
    if (!RECORD_FORMATS.has(f.manifest.format) && !gzipContentFormat(f.path, f.manifest.format))
      throw new StrataError(
        'BAD_INPUT',
        `${f.path} is ${f.manifest.format}; examples() reads jsonl, json, text, csv, tsv and parquet files, and gzip-compressed jsonl, json, text, csv and tsv files (use read())`,
        { path: f.path, format: f.manifest.format },
      );
  }
  const total = files.reduce((n, f) => n + f.manifest.size, 0);
  const [A, B] = shardRange(total, shard, numShards);
  let resumeFile = -1;
  const sa = opts.startAfter;
  if (
    sa &&
    ((sa.shard !== undefined && sa.shard !== shard) ||
      (sa.numShards !== undefined && sa.numShards !== numShards))
  )
    throw new StrataError(
      'BAD_INPUT',
      `cursor is from shard ${sa.shard} of ${sa.numShards}, not shard ${shard} of ${numShards}`,
      { cursor: sa, shard, numShards },
    );
  if (opts.startAfter) {
    resumeFile = files.findIndex((f) => f.path === opts.startAfter!.path);
    if (resumeFile < 0)
      throw new StrataError('BAD_INPUT', `cursor names ${opts.startAfter.path}, which is not being read`, {
        cursor: opts.startAfter,
      });
  }
  let base = 0;
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const size = f.manifest.size;
    const a = Math.max(A, base) - base;
    const b = Math.min(B, base + size) - base;
    base += size;
    if (a >= b || i < resumeFile) continue;
    const after = i === resumeFile ? opts.startAfter!.offset : -1;
    const gz = gzipContentFormat(f.path, f.manifest.format);
    const it = gz
      ? gzipExamples<T>(r, f, gz, shardsOver(total, numShards, base - size, base), shard, after, opts)
      : fileExamples<T>(
          f.manifest.format,
          (s, e, o) => fileBytes(r, f.manifest, s, e, o),
          f,
          a,
          b,
          after,
          opts,
          r,
        );
    for await (const e of it) {
      e.cursor.shard = shard;
      e.cursor.numShards = numShards;
      yield e;
    }
  }
}

/** The examples of a plain file in [a, b) after `after`, read by its format's reader (r for parquet). */
function fileExamples<T>(
  fmt: string,
  src: ByteSource,
  f: ShardFile,
  a: number,
  b: number,
  after: number,
  opts: ShardOptions,
  r?: ObjectReader,
): AsyncGenerator<Example<T>> {
  return fmt === 'parquet'
    ? parquetRows<T>(r!, f, a, b, after, opts.signal)
    : fmt === 'json'
      ? jsonElements<T>(src, f, a, b, after, opts.signal, opts.onMalformed)
      : fmt === 'csv' || fmt === 'tsv'
        ? csvRows<T>(src, f, a, b, after, fmt === 'tsv' ? '\t' : ',', opts.signal)
        : lines<T>(src, f, Math.max(a, after + 1), b, fmt === 'jsonl', opts.signal, opts.onMalformed);
}

/** The first and last shard of `numShards` over T bytes whose ranges hold bytes of [start, end). */
function shardsOver(total: number, numShards: number, start: number, end: number): [number, number] {
  const owner = (x: number): number => {
    let k = Math.min(numShards - 1, Math.floor((x / total) * numShards));
    while (k + 1 < numShards && shardRange(total, k + 1, numShards)[0] <= x) k++;
    while (k > 0 && shardRange(total, k, numShards)[0] > x) k--;
    return k;
  };
  return [owner(start), owner(end - 1)];
}

/**
 * The examples of a gzip-compressed file (formats/gzip.ts) that shard `shard` reads. A gzip stream cannot be
 * read from the middle, so every shard whose byte range holds bytes of the file decompresses all of it, and
 * they deal its examples round robin: the i-th example (0-based, in file order) goes to the (i mod m)-th of
 * those m shards. Positions (offsets, cursors) are offsets in the decompressed content.
 */
async function* gzipExamples<T>(
  r: ObjectReader,
  f: ShardFile,
  fmt: string,
  [first, last]: [number, number],
  shard: number,
  after: number,
  opts: ShardOptions,
): AsyncGenerator<Example<T>> {
  const src: ByteSource = () =>
    gunzip(fileBytes(r, f.manifest, 0, f.manifest.size, { signal: opts.signal }), f.path);
  const m = last - first + 1;
  let i = 0;
  for await (const e of fileExamples<T>(fmt, src, f, 0, Number.MAX_SAFE_INTEGER, -1, opts)) {
    if (i++ % m === shard - first && e.offset > after) yield e;
  }
}

/** Lines starting in [a, b) of a JSONL/text file, parsed; reads from a-1 to the end of the last one. */
async function* lines<T>(
  src: ByteSource,
  f: ShardFile,
  a: number,
  b: number,
  json: boolean,
  signal?: AbortSignal,
  onMalformed?: ShardOptions['onMalformed'],
): AsyncGenerator<Example<T>> {
  if (a >= b) return;
  // If a > 0 we need to know whether a line starts at `a`: read from a-1 and skip to after the first \n.
  let pos = a > 0 ? a - 1 : 0;
  let seeking = a > 0;
  let lineStart = a > 0 ? -1 : 0;
  let carry: Buffer[] = [];
  const emit = (buf: Buffer, start: number): Example<T> | undefined => {
    let s = buf.toString('utf8');
    let value: unknown;
    if (json) {
      try {
        value = JSON.parse(s);
      } catch (e) {
        if (onMalformed) {
          onMalformed({ path: f.path, offset: start, error: (e as Error).message });
          return undefined;
        }
        throw new StrataError(
          'BAD_INPUT',
          `${f.path}: malformed JSON line at byte ${start}`,
          { path: f.path, offset: start },
          { cause: e },
        );
      }
    } else {
      if (s.endsWith('\n')) s = s.slice(0, s.endsWith('\r\n') ? -2 : -1);
      value = s;
    }
    const cursor = { path: f.path, offset: start };
    return { value: value as T, path: f.path, offset: start, cursor };
  };
  const blank = (buf: Buffer): boolean => {
    for (const c of buf) if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return false;
    return true;
  };
  for await (const piece of src(pos, b, { signal, tail: true })) {
    const buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    let i = 0;
    while (i < buf.length) {
      const nl = buf.indexOf(10, i);
      if (seeking) {
        if (nl < 0) {
          i = buf.length;
          break;
        }
        seeking = false;
        lineStart = pos + nl + 1;
        i = nl + 1;
        if (lineStart >= b) return;
        continue;
      }
      if (nl < 0) {
        carry.push(buf.subarray(i));
        i = buf.length;
        break;
      }
      const part = buf.subarray(i, nl + 1);
      const line = carry.length ? Buffer.concat([...carry, part]) : part;
      carry = [];
      if (!(json && blank(line))) {
        const e = emit(line, lineStart);
        if (e) yield e;
      }
      lineStart = pos + nl + 1;
      i = nl + 1;
      if (lineStart >= b) return;
    }
    pos += buf.length;
  }
  if (!seeking && carry.length && lineStart < b) {
    const line = Buffer.concat(carry);
    if (!(json && blank(line))) {
      const e = emit(line, lineStart);
      if (e) yield e;
    }
  }
}

/**
 * Parquet rows (objects, as hyparquet reads them: INT64 as bigint, timestamps as Date, bytes as Uint8Array)
 * of the row groups whose position (the first byte of their column chunks) is in [a, b), read a row group at
 * a time. An example's offset (and cursor offset) is its row index in the file; rows at or before `after`
 * are skipped.
 */
async function* parquetRows<T>(
  r: ObjectReader,
  f: ShardFile,
  a: number,
  b: number,
  after: number,
  signal?: AbortSignal,
): AsyncGenerator<Example<T>> {
  const { parquetMetadataAsync, parquetReadObjects } = await import('hyparquet');
  const m = f.manifest;
  const file = {
    byteLength: m.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const parts: Uint8Array[] = [];
      for await (const p of fileBytes(r, m, start, end ?? m.size, { signal })) parts.push(p);
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out.buffer;
    },
  };
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError(
      'BAD_INPUT',
      `${f.path}: not a Parquet file: ${(e as Error).message}`,
      { path: f.path },
      { cause: e },
    );
  }
  let row = 0;
  for (const g of metadata.row_groups) {
    const n = Number(g.num_rows);
    const rowStart = row;
    row += n;
    const starts = g.columns.map((c) =>
      Number(c.meta_data?.dictionary_page_offset ?? c.meta_data?.data_page_offset ?? c.file_offset),
    );
    const pos = starts.length ? Math.min(...starts) : 0;
    if (pos < a || pos >= b || rowStart + n - 1 <= after) continue;
    const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd: rowStart + n });
    for (let k = 0; k < rows.length; k++) {
      const offset = rowStart + k;
      if (offset <= after) continue;
      yield { value: rows[k] as T, path: f.path, offset, cursor: { path: f.path, offset } };
    }
  }
}

/** CSV/TSV rows whose position (offset of their last byte) is in [a, b) and > after. */
async function* csvRows<T>(
  src: ByteSource,
  f: ShardFile,
  a: number,
  b: number,
  after: number,
  delimiter: string,
  signal?: AbortSignal,
): AsyncGenerator<Example<T>> {
  const opts = f.manifest.options ?? {};
  const parser = csvParse({
    columns: true,
    info: true,
    bom: true,
    delimiter: opts.delimiter ?? delimiter,
    skip_empty_lines: true,
  });
  const input = Readable.from(src(0, b, { signal, tail: true }), { objectMode: false });
  input.on('error', (e) => parser.destroy(e));
  input.pipe(parser);
  try {
    for await (const row of parser as AsyncIterable<{ record: T; info: { bytes: number } }>) {
      const offset = row.info.bytes - 1;
      if (offset >= b) break;
      if (offset < a || offset <= after) continue;
      yield { value: row.record, path: f.path, offset, cursor: { path: f.path, offset } };
    }
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError('BAD_INPUT', `${f.path}: ${(e as Error).message}`, { path: f.path }, { cause: e });
  } finally {
    input.unpipe(parser);
    input.destroy();
    parser.destroy();
  }
}

/**
 * Elements of a JSON file's top-level array (a document that is another value is one example) whose
 * position (the offset of their first byte) is in [a, b) and > after: the structure is scanned from the
 * start of the file, and only those elements are parsed.
 */
async function* jsonElements<T>(
  src: ByteSource,
  f: ShardFile,
  a: number,
  b: number,
  after: number,
  signal?: AbortSignal,
  onMalformed?: ShardOptions['onMalformed'],
): AsyncGenerator<Example<T>> {
  const ready: Example<T>[] = [];
  let past = false;
  const scanner = new JsonArrayScanner(
    (start, _end, _index, bytes) => {
      if (start >= b) past = true;
      if (past || start < a || start <= after) return;
      let value: unknown;
      try {
        value = JSON.parse(decoder.decode(bytes));
      } catch (e) {
        if (onMalformed) {
          onMalformed({ path: f.path, offset: start, error: (e as Error).message });
          return;
        }
        throw new StrataError(
          'BAD_INPUT',
          `${f.path}: malformed JSON array element at byte ${start}`,
          { path: f.path, offset: start },
          { cause: e },
        );
      }
      ready.push({ value: value as T, path: f.path, offset: start, cursor: { path: f.path, offset: start } });
    },
    { collect: true },
  );
  const fail = (): never => {
    const e = scanner.error!;
    throw new StrataError('BAD_INPUT', `${f.path}: not a JSON array: ${e.message}`, {
      path: f.path,
      offset: e.offset,
    });
  };
  for await (const piece of src(0, b, { signal, tail: true })) {
    scanner.push(piece);
    yield* ready;
    ready.length = 0;
    if (scanner.error) fail();
    if (past) return;
  }
  scanner.end();
  yield* ready;
  if (scanner.error) fail();
}
