/**
 * Statistics of a revision's examples, for reviewing a dataset's quality (`strata stats`): per record file,
 * how many examples, how many malformed, how many exact duplicates (key order does not matter) and duplicate
 * keys, how many of its examples an earlier file has too (a test set leaking into training data), and per top-level field how often it is present, its types, and the lengths (strings: characters;
 * arrays: elements) or values (numbers) it takes. Chat data (`messages: [{role, content}]`) also gets its
 * turns and roles; preference pairs (`chosen`/`rejected`) the pairs whose two sides are equal.
 *
 * One streaming pass over each file's examples (PinnedRevision.examples); memory is the per-field counters
 * and a table of 8-byte fingerprints of the examples (and keys) seen, up to MAX_FINGERPRINTS, beyond which
 * duplicates are no longer counted (reported as null).
 */
import { gzipContentFormat } from '../formats/gzip.js';
import { contentId } from '../diff/canonical.js';
import type { ExampleSource, PinnedRevision } from './revision.js';

/** Distinct examples (and keys) whose fingerprints are kept per file: 8M, 128 MB of table at most. */
export const MAX_FINGERPRINTS = 8 * 1024 * 1024;
/** Top-level fields tracked per file (the first ones met); the rest are counted together. */
const MAX_FIELDS = 256;

export interface Range {
  min: number;
  max: number;
  mean: number;
}

export interface FieldStats {
  /** Examples that have the field. */
  present: number;
  /** How many of its values are of each JSON type (`string`, `number`, `boolean`, `null`, `array`, `object`). */
  types: Record<string, number>;
  /** Empty strings, empty arrays and objects, and nulls. */
  empty: number;
  /** Lengths of its strings (characters) and arrays (elements). */
  length?: Range;
  /** Its numbers. */
  value?: Range;
}

export interface FileStats {
  path: string;
  format: string;
  bytes: number;
  examples: number;
  /** JSONL lines and JSON array elements that are not JSON (skipped). */
  malformed: number;
  /** Examples equal to an earlier one (canonical JSON: key order and number spelling do not matter). */
  duplicates: number | null;
  /**
   * Examples (distinct within this file) equal to an example of an earlier file, by that file: a test set's
   * examples found in the training set read before it. Absent when only one file was read; null when not
   * counted (more distinct examples than MAX_FINGERPRINTS).
   */
  alsoIn?: { path: string; examples: number }[] | null;
  /** With a key: examples whose key an earlier one has, and examples without it. */
  keys?: { fields: string[]; duplicates: number | null; missing: number };
  /** Examples that are not objects (a text line, a JSON array element that is a string, ...). */
  nonObjects: number;
  fields: Record<string, FieldStats>;
  /** Fields beyond the first MAX_FIELDS: how many examples had at least one. */
  otherFields: number;
  /** `messages: [{role, content}]`: turns per example, role counts, turns with empty content. */
  chat?: { turns: Range; roles: Record<string, number>; emptyContent: number };
  /** `chosen` and `rejected` both present: the examples where they are equal. */
  pairs?: { examples: number; identical: number };
}

/**
 * Open addressing on 52-bit fingerprints (doubles: exact integers), 0 meaning empty, each with a small value
 * (the file it was first seen in).
 */
class Fingerprints {
  private slots = new Float64Array(1024);
  private values = new Int32Array(1024);
  private n = 0;
  full = false;
  /**
   * Adds a fingerprint with `value`; returns the value it had when it was there already, else -1. Once full,
   * always -1 (nothing is counted any more).
   */
  add(fp: number, value = 0): number {
    if (this.full) return -1;
    const mask = this.slots.length - 1;
    let i = fp % (mask + 1);
    for (;;) {
      const v = this.slots[i]!;
      if (v === 0) break;
      if (v === fp) return this.values[i]!;
      i = (i + 1) & mask;
    }
    this.slots[i] = fp;
    this.values[i] = value;
    if (++this.n * 2 > this.slots.length) {
      if (this.n >= MAX_FINGERPRINTS) {
        this.full = true;
        this.slots = new Float64Array(0);
        this.values = new Int32Array(0);
      } else this.grow();
    }
    return -1;
  }
  private grow(): void {
    const [slots, values] = [this.slots, this.values];
    this.slots = new Float64Array(slots.length * 2);
    this.values = new Int32Array(slots.length * 2);
    const mask = this.slots.length - 1;
    slots.forEach((v, k) => {
      if (v === 0) return;
      let i = v % (mask + 1);
      while (this.slots[i] !== 0) i = (i + 1) & mask;
      this.slots[i] = v;
      this.values[i] = values[k]!;
    });
  }
}

/** A non-zero 52-bit number from the first bytes of a 16-byte binary identity. */
function fingerprint(id: string): number {
  let h = 0;
  for (let i = 0; i < 7; i++) h = h * 256 + id.charCodeAt(i);
  return Math.floor(h / 16) + 1;
}

class RangeAcc {
  min = Infinity;
  max = -Infinity;
  sum = 0;
  n = 0;
  add(x: number): void {
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    this.sum += x;
    this.n++;
  }
  get(): Range | undefined {
    return this.n ? { min: this.min, max: this.max, mean: this.sum / this.n } : undefined;
  }
}

const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'bigint' ? 'number' : typeof v;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !(v instanceof Uint8Array) &&
  !(v instanceof Date);

class FileAcc {
  examples = 0;
  malformed = 0;
  duplicates = 0;
  nonObjects = 0;
  otherFields = 0;
  private readonly seen = new Fingerprints();
  private readonly keysSeen = new Fingerprints();
  private keyDuplicates = 0;
  private keyMissing = 0;
  private readonly fields = new Map<
    string,
    { present: number; types: Record<string, number>; empty: number; length: RangeAcc; value: RangeAcc }
  >();
  private turns?: RangeAcc;
  private roles: Record<string, number> = {};
  private emptyContent = 0;
  private pairs?: { examples: number; identical: number };

  /** Examples also in an earlier file, by that file's index. */
  readonly overlaps = new Map<number, number>();

  constructor(
    private readonly key: string[] | undefined,
    /** Every file's examples, by the file that had each first (cross-file duplicates). */
    private readonly across?: { table: Fingerprints; file: number },
  ) {}

  add(v: unknown): void {
    this.examples++;
    const id = contentId(v);
    const fp = fingerprint(id);
    if (this.seen.add(fp) >= 0) this.duplicates++;
    else if (this.across) {
      // First in this file: seen in an earlier one?
      const first = this.across.table.add(fp, this.across.file);
      if (first >= 0 && first !== this.across.file)
        this.overlaps.set(first, (this.overlaps.get(first) ?? 0) + 1);
    }
    if (!isObject(v)) {
      this.nonObjects++;
      return;
    }
    if (this.key) {
      const k = this.key.map((f) => v[f]);
      if (k.some((x) => x === undefined)) this.keyMissing++;
      else if (this.keysSeen.add(fingerprint(contentId(k))) >= 0) this.keyDuplicates++;
    }
    let other = false;
    for (const [name, x] of Object.entries(v)) {
      let f = this.fields.get(name);
      if (!f) {
        if (this.fields.size >= MAX_FIELDS) {
          other = true;
          continue;
        }
        f = { present: 0, types: {}, empty: 0, length: new RangeAcc(), value: new RangeAcc() };
        this.fields.set(name, f);
      }
      f.present++;
      const t = typeOf(x);
      f.types[t] = (f.types[t] ?? 0) + 1;
      if (typeof x === 'string') {
        f.length.add(x.length);
        if (x.length === 0) f.empty++;
      } else if (Array.isArray(x)) {
        f.length.add(x.length);
        if (x.length === 0) f.empty++;
      } else if (typeof x === 'number' || typeof x === 'bigint') f.value.add(Number(x));
      else if (x === null || (isObject(x) && Object.keys(x).length === 0)) f.empty++;
    }
    if (other) this.otherFields++;
    const m = v.messages;
    if (Array.isArray(m) && m.every((t) => isObject(t) && 'role' in t)) {
      (this.turns ??= new RangeAcc()).add(m.length);
      for (const t of m as Record<string, unknown>[]) {
        const role = String(t.role);
        this.roles[role] = (this.roles[role] ?? 0) + 1;
        const c = t.content;
        if (c === undefined || c === null || c === '' || (Array.isArray(c) && c.length === 0))
          this.emptyContent++;
      }
    }
    if ('chosen' in v && 'rejected' in v) {
      this.pairs ??= { examples: 0, identical: 0 };
      this.pairs.examples++;
      if (contentId(v.chosen) === contentId(v.rejected)) this.pairs.identical++;
    }
  }

  result(path: string, format: string, bytes: number): FileStats {
    const fields: Record<string, FieldStats> = {};
    for (const [name, f] of this.fields) {
      const s: FieldStats = { present: f.present, types: f.types, empty: f.empty };
      const length = f.length.get();
      const value = f.value.get();
      if (length) s.length = length;
      if (value) s.value = value;
      fields[name] = s;
    }
    const out: FileStats = {
      path,
      format,
      bytes,
      examples: this.examples,
      malformed: this.malformed,
      duplicates: this.seen.full ? null : this.duplicates,
      nonObjects: this.nonObjects,
      fields,
      otherFields: this.otherFields,
    };
    if (this.key)
      out.keys = {
        fields: this.key,
        duplicates: this.keysSeen.full ? null : this.keyDuplicates,
        missing: this.keyMissing,
      };
    const turns = this.turns?.get();
    if (turns) out.chat = { turns, roles: this.roles, emptyContent: this.emptyContent };
    if (this.pairs) out.pairs = this.pairs;
    return out;
  }
}

export interface StatsOptions {
  /** Field(s) that identify an example: duplicate keys are counted (default: each file's `key=` attribute). */
  key?: string[];
  signal?: AbortSignal;
  /** Called after each file. */
  onFile?: (s: FileStats) => void;
}

/** The statistics of each record file of `source` (a file, a directory, or every record file). */
export async function exampleStats(
  rev: PinnedRevision,
  source: ExampleSource,
  opts: StatsOptions = {},
): Promise<FileStats[]> {
  const out: FileStats[] = [];
  const files = await rev.exampleFileList(source);
  const table = files.length > 1 ? new Fingerprints() : undefined;
  for (const [i, f] of files.entries()) {
    // The key: as given, else the file's `key=` attribute as committed.
    const attr = f.options?.key;
    const acc = new FileAcc(
      opts.key ?? (typeof attr === 'string' && attr ? attr.split(',') : undefined),
      table ? { table, file: i } : undefined,
    );
    for await (const ex of rev.examples(f.path, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      onMalformed: () => acc.malformed++,
    }))
      acc.add(ex.value);
    const gz = gzipContentFormat(f.path, f.format);
    const s = acc.result(f.path, gz ? `${gz} (gzip)` : f.format, f.size);
    if (table)
      s.alsoIn = table.full
        ? null
        : [...acc.overlaps]
            .sort((x, y) => x[0] - y[0])
            .map(([j, n]) => ({ path: files[j]!.path, examples: n }));
    opts.onFile?.(s);
    out.push(s);
  }
  return out;
}
