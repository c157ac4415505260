/**
 * The diff engine's input and output. The repository core builds a DiffSide from a file manifest (its spans
 * become pieces); src/core/diff/local-side.ts builds one from a local file. Events are what the CLI renders
 * (src/cli/diff-output.ts) and what a web viewer consumes.
 */
import type { Change } from 'diff';

export type FileFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet' | 'text' | 'binary';

export interface DiffPiece {
  /** Equal ids mean equal bytes (a chunk hash, or chunk hash + offset + length for a sub-chunk span). */
  readonly id: string;
  readonly length: number;
  /** Number of '\n' bytes in the piece, when the core knows it; lets changes carry absolute line numbers. */
  readonly lines?: number;
}

export interface DiffSide {
  path: string;
  format: FileFormat;
  size: number;
  /**
   * Ordered pieces whose concatenation is the file's bytes. For jsonl/csv/tsv/text every piece holds whole
   * records (the CSV header row is always alone in the first piece). Equal ids mean equal bytes.
   */
  pieces: ReadonlyArray<DiffPiece>;
  readPiece(index: number): Promise<Uint8Array>;
  /** Random access for formats that need it (parquet footer, row groups). */
  readRange(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Lets go of what reading holds open (a working-tree file's descriptor); diffFile calls it when done. A read
   * after it opens again.
   */
  close?(): void;
  /** CSV/TSV dialect from the file's attributes; defaults: ',' or '\t', quote '"'. */
  dialect?: { delimiter?: string; quote?: string | false };
  /**
   * Set on both sides by code that pairs their pieces itself (two stored versions, repo-sides.ts): for each
   * piece, the index of the piece of the other side that holds the same bytes, or -1. Paired pieces have
   * equal ids too (every pair its own); the engine then cancels by these arrays instead of matching ids in a
   * map, which for a span-coded file is hundreds of thousands of entries.
   */
  partner?: Int32Array;
}

export interface DiffOptions {
  /** Field names (dotted paths allowed) that identify an example; without a key examples match by content. */
  key?: string[];
  /** Field paths (dotted) removed from every example before comparing; arrays apply it to each element. */
  ignoreFields?: string[];
  /** At most this many change events are emitted; the summary still counts every change. */
  limit?: number;
  signal?: AbortSignal;
  /**
   * Bytes of identity state (identities, keys, anchors) held in memory; beyond it they spill to sorted runs
   * in a temporary directory. Default: STRATA_DIFF_MEMORY (bytes) or 32 MiB.
   */
  memoryBudget?: number;
  /** Where spilled runs go (a fresh directory inside it, removed at the end). Default: os.tmpdir(). */
  tmpDir?: string;
}

export type ChangeKind = 'added' | 'removed' | 'modified';

export interface FieldChange {
  /** Where in the example: `messages[2].content`, `chosen`, `""` for the whole value (text lines, raw lines). */
  path: string;
  kind: 'added' | 'removed' | 'changed' | 'swapped';
  before?: unknown;
  after?: unknown;
  /** For strings: diff's change objects from diffWordsWithSpace (absent when the strings are too far apart). */
  words?: Change[];
  /** For kind 'swapped': the sibling field whose value was exchanged with this one (`chosen` ⇄ `rejected`). */
  with?: string;
}

export interface ChangeEvent {
  type: 'change';
  path: string;
  kind: ChangeKind;
  /** The example's key (one value, or an array for a composite key); absent without a key. */
  key?: unknown;
  /** The example before / after (after ignoreFields); for raw lines and text the line itself. */
  before?: unknown;
  after?: unknown;
  fields?: FieldChange[];
  /** 1-based line numbers, where known (line formats whose pieces carry line counts, CSV physical lines). */
  line?: { before?: number; after?: number };
  /** 0-based example ordinals, where known (JSON arrays, Parquet rows). */
  index?: { before?: number; after?: number };
  /** True when one side is not a parsable example (a malformed line or ragged row): compared as text. */
  raw?: true;
  /** True when the key occurs more than once on either side. */
  duplicate?: true;
  /** For binary files: the file-level change, with sizes in before/after. */
  binary?: true;
  /** The file was at this path before (a rename: `path` is where it is after). */
  renamedFrom?: string;
}

export interface WarningEvent {
  type: 'warning';
  path: string;
  message: string;
  side?: 'before' | 'after';
  line?: number;
  renamedFrom?: string;
}

export interface DiffCost {
  /** Pieces cancelled against an identical piece on the other side, never read. */
  piecesShared: number;
  /** Pieces (or parquet row groups) read, counting each side. */
  piecesRead: number;
  bytesRead: number;
  /** Examples parsed from the pieces read. */
  examplesRead: number;
}

export interface SummaryEvent {
  type: 'summary';
  path: string;
  format: FileFormat;
  /** added/removed: the file itself; modified: some example (or a binary's bytes) changed. */
  status: 'added' | 'removed' | 'modified' | 'unchanged';
  /** True when both sides have the same pieces in the same order (bytes equal, nothing read). */
  identical: boolean;
  counts: { added: number; removed: number; modified: number };
  bytes: { before: number; after: number };
  warnings: number;
  /** With a key: how many keys occur more than once on each side (among the examples read), and some of them. */
  duplicateKeys?: { before: number; after: number; keys: unknown[] };
  cost: DiffCost;
  /**
   * The file was at this path before: a file removed from there and one added at `path` with the same content
   * or at least half of its bytes in the same chunks, diffed as one file (`status` modified, or unchanged).
   */
  renamedFrom?: string;
}

export type DiffEvent = ChangeEvent | WarningEvent | SummaryEvent;
