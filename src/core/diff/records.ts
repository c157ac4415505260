/**
 * Turns a DiffSide into units (pieces, or Parquet row groups) of parsed examples. A unit whose piece id also
 * occurs on the other side is never read; the engine asks only for the others.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { bytesIdentity, canonicalJson, identity } from './canonical.js';
// (json-units.ts imports this module's helpers back; it uses them only when called.)
import { jsonReader } from './json-units.js';
import type { DiffCost, DiffSide, FileFormat } from './types.js';
import { bufferView } from '../../storage/buffer-view.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export interface ParsedRecord {
  /** Identity of the exact stored form (bytes of a line, or a row's values): equal means unchanged. */
  l1: string;
  line?: number;
  index?: number;
  text(): string;
  parse(): Parsed;
  /** The UTF-8 bytes of a JSON Lines record (its content id can be computed from them: contentIdOfJson). */
  json?: Uint8Array;
}

export interface Unit {
  /** Piece id, or null when the unit cannot be cancelled unread (row groups, a whole JSON document). */
  id: string | null;
}

export interface UnitReader {
  readonly format: FileFormat;
  readonly units: ReadonlyArray<Unit>;
  read(unit: number): Promise<ParsedRecord[]>;
  /** Notes about the file as a whole (header changes, fallbacks), gathered while opening or reading. */
  readonly notes: string[];
  /** The CSV header (so that the engine can refuse to cancel pieces when the headers differ). */
  readonly header?: string[];
  /** Line formats (JSONL, text): raw access to a unit's bytes, for the engine's byte-level fast path. */
  readonly lines?: LineAccess;
}

export interface LineAccess {
  readonly jsonl: boolean;
  /** The unit's bytes (not kept in the reader's cache: the engine reads each unit once this way). */
  bytes(unit: number): Promise<Uint8Array>;
  /** 1-based line number of the unit's first line, when every earlier piece carries its line count. */
  base(unit: number): number | undefined;
  length(unit: number): number;
}

/** A JSON document that is one value (not an array) above this size is compared line by line (json-units.ts). */
export const MAX_JSON_BYTES = 256 * 1024 * 1024;
/** Raw piece bytes kept between the engine's two passes, per side. */
const CACHE_BYTES = 16 * 1024 * 1024;

const decoder = new TextDecoder('utf-8');

/** Bytes read since the engine last let the event loop run. */
let sinceBreath = 0;
const BREATH_BYTES = 4 * 1024 * 1024;

/**
 * Lets the event loop turn every few MiB read. Reading pieces only awaits settled promises, so without this
 * the whole diff runs in one macrotask, and native buffers (the zstd decoder's output) whose finalizers Node
 * defers to the event loop are never freed: peak RSS grew with the bytes read (1 GB for a 1 GiB file).
 */
export async function breathe(bytes: number): Promise<void> {
  sinceBreath += bytes;
  if (sinceBreath < BREATH_BYTES) return;
  sinceBreath = 0;
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A piece's bytes are often a small view of a larger buffer (a sub-chunk span of a decoded chunk); one held by
 * the cache would keep the whole buffer alive, far beyond the bytes counted. Such views are cached as copies.
 */
export function ownBytes(data: Uint8Array): Uint8Array {
  return data.byteLength * 2 < data.buffer.byteLength ? new Uint8Array(data) : data;
}

export class PieceCache {
  private readonly map = new Map<number, Uint8Array>();
  private bytes = 0;
  constructor(
    private readonly side: DiffSide,
    private readonly cost: DiffCost,
  ) {}
  /** The piece's bytes; `keep: false` does not store them (a read that will not be repeated). */
  async get(i: number, keep = true): Promise<Uint8Array> {
    const hit = this.map.get(i);
    if (hit) return hit;
    const data = await this.side.readPiece(i);
    this.cost.piecesRead++;
    this.cost.bytesRead += data.length;
    await breathe(data.length);
    if (keep && data.length <= CACHE_BYTES) {
      this.map.set(i, ownBytes(data));
      this.bytes += data.length;
      for (const [k, v] of this.map) {
        if (this.bytes <= CACHE_BYTES) break;
        this.map.delete(k);
        this.bytes -= v.length;
      }
    }
    return data;
  }
}

/**
 * 1-based line number of each piece's first line, where every earlier piece says how many lines it holds
 * (NaN: unknown). A typed array: a span-coded file has hundreds of thousands of pieces.
 */
function lineBases(side: DiffSide): Float64Array {
  const out = new Float64Array(side.pieces.length);
  let base = 1;
  for (let i = 0; i < side.pieces.length; i++) {
    out[i] = base;
    const lines = side.pieces[i]!.lines;
    base = lines !== undefined ? base + lines : NaN;
  }
  return out;
}

const baseAt = (bases: Float64Array, i: number): number | undefined => {
  const b = bases[i]!;
  return Number.isNaN(b) ? undefined : b;
};

const trimCr = (b: Uint8Array, end: number, start: number): number =>
  end > start && b[end - 1] === 13 ? end - 1 : end;

function isBlank(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** The records of a line file's piece: where each one is, skipping blank lines of JSONL. */
export interface LineSpans {
  start: number[];
  end: number[];
  /** 0-based physical line number of each record inside the piece. */
  no: number[];
}

export function splitLines(u8: Uint8Array, jsonl: boolean): LineSpans {
  const bytes = bufferView(u8); // Buffer#indexOf: memchr
  const out: LineSpans = { start: [], end: [], no: [] };
  let start = 0;
  let lineNo = 0;
  while (start < bytes.length) {
    let nl = bytes.indexOf(10, start);
    if (nl < 0) nl = bytes.length;
    const end = trimCr(bytes, nl, start);
    const n = lineNo++;
    if (!(jsonl && isBlank(bytes, start, end))) {
      out.start.push(start);
      out.end.push(end);
      out.no.push(n);
    }
    start = nl + 1;
  }
  return out;
}

/** One line as a record: `slice` is its bytes (without the line break), `line` its 1-based number if known. */
/** A JSON Lines record parsed (lineRecord's `parse`, for callers that have only its bytes). */
export function parseJsonLine(slice: Uint8Array): Parsed {
  try {
    return { ok: true, value: JSON.parse(decoder.decode(slice)) as unknown };
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
}

export function lineRecord(slice: Uint8Array, line: number | undefined, jsonl: boolean): ParsedRecord {
  // Not memoized: a record kept between the passes must hold its bytes only, not a decoded copy as well.
  const getText = (): string => decoder.decode(slice);
  let l1: string | undefined;
  return {
    // Lazy: pass 2 re-reads a piece for a few of its lines and should not hash the others again.
    get l1() {
      return (l1 ??= bytesIdentity(slice));
    },
    line,
    text: getText,
    ...(jsonl ? { json: slice } : {}),
    parse: jsonl ? () => parseJsonLine(slice) : () => ({ ok: true, value: getText() }),
  };
}

export function lineRecords(bytes: Uint8Array, base: number | undefined, jsonl: boolean): ParsedRecord[] {
  const { start, end, no } = splitLines(bytes, jsonl);
  return start.map((s, i) =>
    lineRecord(bytes.subarray(s, end[i]), base === undefined ? undefined : base + no[i]!, jsonl),
  );
}

function lineReader(side: DiffSide, cost: DiffCost, jsonl: boolean): UnitReader {
  const cache = new PieceCache(side, cost);
  const bases = lineBases(side);
  return {
    format: side.format,
    // The pieces themselves (a piece is a unit with an id): no copy per piece.
    units: side.pieces,
    notes: [],
    async read(u) {
      return lineRecords(await cache.get(u), baseAt(bases, u), jsonl);
    },
    lines: {
      jsonl,
      bytes: (u) => cache.get(u, false),
      base: (u) => baseAt(bases, u),
      length: (u) => side.pieces[u]!.length,
    },
  };
}

interface CsvRow {
  record: string[];
  raw: string;
  info: { lines: number };
}

function csvOptions(side: DiffSide): { delimiter: string; quote: string | false } {
  const tsv = side.format === 'tsv';
  return { delimiter: side.dialect?.delimiter ?? (tsv ? '\t' : ','), quote: side.dialect?.quote ?? '"' };
}

function parseCsvText(text: string, side: DiffSide): CsvRow[] {
  const { delimiter, quote } = csvOptions(side);
  return parseCsv(text, {
    delimiter,
    quote: quote === false ? null : quote,
    raw: true,
    info: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    bom: true,
  }) as unknown as CsvRow[];
}

function dedupeHeader(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n}_${k}`;
  });
}

/**
 * CSV/TSV: the header row is the first piece (the chunker cuts it as a chunk of its own) and every other
 * piece is a unit of rows. A file smaller than a chunk is one chunk, header and rows together: the rows
 * after the header in piece 0 are then a unit of their own (its id derived from the piece's, so that equal
 * pieces still cancel).
 */
async function csvReader(side: DiffSide, cost: DiffCost): Promise<UnitReader> {
  const cache = new PieceCache(side, cost);
  const bases = lineBases(side);
  const notes: string[] = [];
  let header: string[] = [];
  const records = (rows: CsvRow[], base: number | undefined): ParsedRecord[] =>
    rows.map((row) => {
      const raw = row.raw.replace(/^(\r?\n)+/, '').replace(/\r?\n$/, '');
      const endLine = row.info.lines;
      const startLine = endLine - (raw.match(/\n/g)?.length ?? 0);
      const ragged = row.record.length !== header.length;
      return {
        l1: bytesIdentity(Buffer.from(raw, 'utf8')),
        line: base === undefined ? undefined : base + startLine - 1,
        text: () => raw,
        parse: (): Parsed => {
          if (ragged)
            return { ok: false, error: `row has ${row.record.length} fields, header has ${header.length}` };
          const value: Record<string, string> = {};
          header.forEach((h, i) => (value[h] = row.record[i]!));
          return { ok: true, value };
        },
      };
    });
  /** The records of a piece's text; unparsable (an unclosed quote): every line becomes a raw record. */
  const parsePiece = (text: string, base: number | undefined): ParsedRecord[] => {
    try {
      return records(parseCsvText(text, side), base);
    } catch (e) {
      const error = `not valid CSV: ${(e as Error).message}`;
      return lineRecords(Buffer.from(text), base, true).map((r) => ({
        ...r,
        parse: () => ({ ok: false, error }),
      }));
    }
  };
  /** Rows that share piece 0 with the header. */
  let headRows: ParsedRecord[] = [];
  if (side.pieces.length > 0) {
    const text = decoder.decode(await cache.get(0));
    let rows: CsvRow[] | undefined;
    try {
      rows = parseCsvText(text, side);
    } catch (e) {
      notes.push(`header row is not valid CSV: ${(e as Error).message}`);
    }
    if (rows) {
      header = dedupeHeader(rows[0]?.record ?? []);
      headRows = records(rows.slice(1), baseAt(bases, 0));
    } else {
      // The header's line and what follows it, as raw lines: still shown, never silently dropped.
      headRows = parsePiece(text, baseAt(bases, 0)).slice(1);
    }
  }
  const first = side.pieces[0];
  const shift = headRows.length > 0 ? 0 : 1;
  const units = [
    ...(first && shift === 0 ? [{ id: `${first.id}\0rows` }] : []),
    ...side.pieces.slice(1).map((p) => ({ id: p.id })),
  ];
  return {
    format: side.format,
    units,
    notes,
    header,
    async read(u) {
      if (u === 0 && shift === 0) return headRows;
      const piece = u + shift;
      return parsePiece(decoder.decode(await cache.get(piece)), baseAt(bases, piece));
    },
  };
}

/** The side's bytes as hyparquet's AsyncBuffer. */
export function asyncBufferOf(side: DiffSide, cost?: DiffCost): AsyncBuffer {
  return {
    byteLength: side.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = end ?? side.size;
      const data = await side.readRange(start, stop - start);
      if (cost) cost.bytesRead += data.length;
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    },
  };
}

async function parquetReader(side: DiffSide, cost: DiffCost): Promise<UnitReader> {
  const file = asyncBufferOf(side, cost);
  const metadata: FileMetaData = await parquetMetadataAsync(file);
  const starts: number[] = [];
  let row = 0;
  for (const g of metadata.row_groups) {
    starts.push(row);
    row += Number(g.num_rows);
  }
  return {
    format: 'parquet',
    units: metadata.row_groups.map(() => ({ id: null })),
    notes: [],
    async read(u) {
      const rowStart = starts[u]!;
      const rowEnd = rowStart + Number(metadata.row_groups[u]!.num_rows);
      const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
      cost.piecesRead++;
      return rows.map((value, k) => {
        const plain = { ...value };
        return {
          l1: identity(canonicalJson(plain), 'p\0'),
          index: rowStart + k,
          text: () => canonicalJson(plain),
          parse: () => ({ ok: true, value: plain }),
        };
      });
    },
  };
}

/** Opens a side for record-level reading (binary files are handled by the caller). */
export async function openReader(side: DiffSide, cost: DiffCost): Promise<UnitReader> {
  switch (side.format) {
    case 'jsonl':
      return lineReader(side, cost, true);
    case 'text':
      return lineReader(side, cost, false);
    case 'csv':
    case 'tsv':
      return csvReader(side, cost);
    case 'json':
      return jsonReader(side, cost);
    case 'parquet':
      return parquetReader(side, cost);
    case 'binary':
      throw new Error('binary files have no records');
  }
}
