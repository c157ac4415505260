/**
 * Deterministic synthetic chat dataset for the benchmark, in five versions and three formats.
 *
 *   v0 base     N examples of about 1 KiB until the JSONL reaches the requested size
 *   v1 edit     v0 with 1% of the examples (scattered) edited in place: same id, new assistant turn
 *   v2 append   v1 plus 5% (of N) new examples at the end
 *   v3 delete   v2 with 10% of its examples (scattered) removed
 *   v4 shuffle  v3's examples in a random order
 *
 * Each version is written as JSONL, CSV (header + one row per example) and Parquet (row groups of
 * 10,000 rows); all three hold the same rows in the same order. Every example is a pure function of
 * (seed, example index, revision), so nothing is held in memory but index arrays (4 bytes per example):
 * the shuffle permutes indices and regenerates the rows. Files are streamed to disk through a buffer.
 *
 * The generator also records the ground truth: for every pair of versions, how many examples (keyed by
 * `id`) were added, removed and modified - what `strata diff --stat` must report.
 *
 * CLI: node --import tsx bench/generate.ts [--size 64M] [--seed 1] [--out DIR] [--formats jsonl,csv,parquet]
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
  mkdirSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet-writer';
import { Rng, sampleDistinct, shuffleInPlace } from './lib/prng.js';
import { SOURCES, SYSTEM_PROMPTS, paragraph } from './lib/text.js';
import { parseSize, sha256File } from './lib/util.js';

/** Bump when the bytes produced for a given (size, seed) change, so cached data sets are regenerated. */
export const GENERATOR_VERSION = 2;

export const FORMATS = ['jsonl', 'csv', 'parquet'] as const;
export type Format = (typeof FORMATS)[number];

export const VERSION_NAMES = ['v0', 'v1', 'v2', 'v3', 'v4'] as const;
export type VersionName = (typeof VERSION_NAMES)[number];

export const VERSION_DESCRIPTIONS: Record<VersionName, string> = {
  v0: 'base',
  v1: '1% of examples edited in place (scattered)',
  v2: '5% examples appended',
  v3: '10% of examples deleted (scattered)',
  v4: 'shuffled copy of v3',
};

export const EDIT_FRACTION = 0.01;
export const APPEND_FRACTION = 0.05;
export const DELETE_FRACTION = 0.1;
export const PARQUET_ROW_GROUP = 10_000;

export interface Row {
  id: string;
  system: string;
  user: string;
  assistant: string;
  source: string;
  lang: string;
  quality: number;
  tokens: number;
  created: string;
  revision: number;
}

export interface FileInfo {
  /** File name inside the data directory. */
  file: string;
  bytes: number;
  sha256: string;
}

export interface VersionInfo {
  name: VersionName;
  description: string;
  rows: number;
  files: Partial<Record<Format, FileInfo>>;
}

export interface PairTruth {
  from: VersionName;
  to: VersionName;
  added: number;
  removed: number;
  modified: number;
}

export interface Truth {
  generatorVersion: number;
  seed: number;
  requestedSize: number;
  formats: Format[];
  baseRows: number;
  edited: number;
  appended: number;
  deleted: number;
  versions: VersionInfo[];
  /** Every ordered pair (from before to), counts keyed by `id`. */
  pairs: PairTruth[];
  generateSeconds: number;
}

export interface GenerateOptions {
  dir: string;
  size: number;
  seed?: number;
  formats?: readonly Format[];
  /** Regenerate even if a matching data set is already on disk. */
  force?: boolean;
  log?: (line: string) => void;
}

/** One example: a pure function of (seed, index, revision). Revision > 0 rewrites the assistant turn. */
export function makeRow(seed: number, index: number, revision: number): Row {
  const r = new Rng(seed, index, 0);
  let system = r.pick(SYSTEM_PROMPTS);
  if (r.int(3) === 0) system += ' ' + paragraph(r, 20);
  const user = paragraph(r, r.range(70, 320), true);
  const source = r.pick(SOURCES);
  const day = 1 + r.int(28);
  const month = 1 + r.int(12);
  const created = `202${r.int(5)}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  const ra = revision === 0 ? r : new Rng(seed, index, revision);
  const assistant = paragraph(ra, ra.range(240, 720));
  const quality = ra.int(100) / 100;
  const tokens = Math.round((system.length + user.length + assistant.length) / 4);
  return {
    id: `ex-${String(index).padStart(8, '0')}`,
    system,
    user,
    assistant,
    source,
    lang: 'en',
    quality,
    tokens,
    created,
    revision,
  };
}

export function rowToJsonl(row: Row): string {
  return (
    JSON.stringify({
      id: row.id,
      messages: [
        { role: 'system', content: row.system },
        { role: 'user', content: row.user },
        { role: 'assistant', content: row.assistant },
      ],
      meta: {
        source: row.source,
        lang: row.lang,
        quality: row.quality,
        tokens: row.tokens,
        created: row.created,
        revision: row.revision,
      },
    }) + '\n'
  );
}

export const CSV_COLUMNS = [
  'id',
  'system',
  'user',
  'assistant',
  'source',
  'lang',
  'quality',
  'tokens',
  'created',
  'revision',
] as const;

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function rowToCsv(row: Row): string {
  return CSV_COLUMNS.map((c) => csvField(row[c])).join(',') + '\n';
}

const PARQUET_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: CSV_COLUMNS.length },
  ...CSV_COLUMNS.map((name): SchemaElement => {
    if (name === 'quality') return { name, type: 'DOUBLE', repetition_type: 'REQUIRED' };
    if (name === 'tokens' || name === 'revision') return { name, type: 'INT32', repetition_type: 'REQUIRED' };
    return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' };
  }),
];

/** Buffered, hashing, synchronous file sink: constant memory whatever the file size. */
class Sink {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(4 << 20);
  private used = 0;
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(text: string): void {
    const need = Buffer.byteLength(text);
    if (this.used + need > this.buf.length) this.flush();
    if (need > this.buf.length) {
      const b = Buffer.from(text);
      this.hash.update(b);
      writeSync(this.fd, b);
      this.bytes += b.length;
      return;
    }
    this.used += this.buf.write(text, this.used);
  }

  private flush(): void {
    if (this.used === 0) return;
    const view = this.buf.subarray(0, this.used);
    this.hash.update(view);
    let off = 0;
    while (off < view.length) off += writeSync(this.fd, view, off);
    this.bytes += this.used;
    this.used = 0;
  }

  close(): { bytes: number; sha256: string } {
    this.flush();
    closeSync(this.fd);
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

const TEXT_COLUMNS = new Set<string>(['id', 'system', 'user', 'assistant']);

class ParquetSink {
  private readonly writer: ParquetWriter;
  private cols: Record<(typeof CSV_COLUMNS)[number], (string | number)[]>;

  constructor(readonly path: string) {
    // Snappy (the common default codec), PLAIN text columns and no statistics: hyparquet-writer's dictionary
    // attempts and min/max statistics on long unique strings cost more than the rest of the generator.
    this.writer = new ParquetWriter({
      writer: fileWriter(path),
      schema: PARQUET_SCHEMA,
      codec: 'SNAPPY',
      statistics: false,
      createdBy: 'strata-bench',
    });
    this.cols = ParquetSink.empty();
  }

  private static empty(): Record<(typeof CSV_COLUMNS)[number], (string | number)[]> {
    return Object.fromEntries(CSV_COLUMNS.map((c) => [c, []])) as unknown as Record<
      (typeof CSV_COLUMNS)[number],
      (string | number)[]
    >;
  }

  add(row: Row): void {
    for (const c of CSV_COLUMNS) this.cols[c].push(row[c]);
    if (this.cols.id.length >= PARQUET_ROW_GROUP) this.flushGroup();
  }

  private flushGroup(): void {
    const n = this.cols.id.length;
    if (n === 0) return;
    // A synchronous file writer: write() returns void, never a promise.
    void this.writer.write({
      columnData: CSV_COLUMNS.map((name) => ({
        name,
        data: this.cols[name],
        ...(TEXT_COLUMNS.has(name) ? { encoding: 'PLAIN' as const } : {}),
      })),
      rowGroupSize: n,
    });
    this.cols = ParquetSink.empty();
  }

  close(): void {
    this.flushGroup();
    void this.writer.finish();
  }
}

/** Which logical examples a version holds, in file order, and which revision each has. */
interface VersionPlan {
  name: VersionName;
  order: Uint32Array;
  /** revision[index] for present examples (0 = original, 1 = edited). */
  revision: (index: number) => number;
}

function planVersions(
  seed: number,
  n: number,
): { plans: VersionPlan[]; edited: number; appended: number; deleted: number } {
  const rng = new Rng(seed, 0xfffffff0, 1);
  const editCount = Math.max(1, Math.round(n * EDIT_FRACTION));
  const appendCount = Math.max(1, Math.round(n * APPEND_FRACTION));
  const editedIdx = sampleDistinct(rng, n, editCount);
  const editedSet = new Uint8Array(n + appendCount);
  for (const i of editedIdx) editedSet[i] = 1;
  const v2Rows = n + appendCount;
  const deleteCount = Math.max(1, Math.round(v2Rows * DELETE_FRACTION));
  const deletedIdx = sampleDistinct(rng, v2Rows, deleteCount);
  const deletedSet = new Uint8Array(v2Rows);
  for (const i of deletedIdx) deletedSet[i] = 1;

  const seq = (count: number): Uint32Array => {
    const a = new Uint32Array(count);
    for (let i = 0; i < count; i++) a[i] = i;
    return a;
  };
  const v3 = new Uint32Array(v2Rows - deleteCount);
  for (let i = 0, j = 0; i < v2Rows; i++) if (!deletedSet[i]) v3[j++] = i;
  const v4 = shuffleInPlace(new Rng(seed, 0xfffffff1, 2), v3.slice());
  const orig = (): number => 0;
  const edited = (i: number): number => editedSet[i] ?? 0;
  return {
    plans: [
      { name: 'v0', order: seq(n), revision: orig },
      { name: 'v1', order: seq(n), revision: edited },
      { name: 'v2', order: seq(v2Rows), revision: edited },
      { name: 'v3', order: v3, revision: edited },
      { name: 'v4', order: v4, revision: edited },
    ],
    edited: editCount,
    appended: appendCount,
    deleted: deleteCount,
  };
}

/** added/removed/modified by id between every ordered pair of versions. */
function computePairs(plans: VersionPlan[], universe: number): PairTruth[] {
  // state[v][i]: 0 absent, 1 + revision present.
  const states = plans.map((p) => {
    const s = new Uint8Array(universe);
    for (const i of p.order) s[i] = 1 + p.revision(i);
    return s;
  });
  const pairs: PairTruth[] = [];
  for (let a = 0; a < plans.length; a++) {
    for (let b = a + 1; b < plans.length; b++) {
      const sa = states[a] as Uint8Array;
      const sb = states[b] as Uint8Array;
      let added = 0;
      let removed = 0;
      let modified = 0;
      for (let i = 0; i < universe; i++) {
        const x = sa[i] as number;
        const y = sb[i] as number;
        if (x === y) continue;
        if (x === 0) added++;
        else if (y === 0) removed++;
        else modified++;
      }
      pairs.push({
        from: (plans[a] as VersionPlan).name,
        to: (plans[b] as VersionPlan).name,
        added,
        removed,
        modified,
      });
    }
  }
  return pairs;
}

export function truthFor(truth: Truth, from: VersionName, to: VersionName): PairTruth | undefined {
  return truth.pairs.find((p) => p.from === from && p.to === to);
}

export function dataFile(version: VersionName, format: Format): string {
  return `${version}.${format}`;
}

function cachedTruth(opts: Required<Omit<GenerateOptions, 'log' | 'force'>>): Truth | undefined {
  const path = join(opts.dir, 'truth.json');
  if (!existsSync(path)) return undefined;
  try {
    const t = JSON.parse(readFileSync(path, 'utf8')) as Truth;
    if (t.generatorVersion !== GENERATOR_VERSION || t.seed !== opts.seed || t.requestedSize !== opts.size)
      return;
    if (opts.formats.some((f) => !t.formats.includes(f))) return;
    for (const v of t.versions) {
      for (const info of Object.values(v.files)) {
        const p = join(opts.dir, info.file);
        if (!existsSync(p) || statSync(p).size !== info.bytes) return;
      }
    }
    return t;
  } catch {
    return undefined;
  }
}

/**
 * Writes v0..v4 in the requested formats into opts.dir plus truth.json, and returns the truth.
 * Reuses an existing data set generated with the same parameters unless opts.force.
 */
export async function generate(opts: GenerateOptions): Promise<Truth> {
  const seed = opts.seed ?? 1;
  const formats = [...(opts.formats ?? FORMATS)];
  const dir = resolve(opts.dir);
  const log = opts.log ?? (() => {});
  if (!formats.includes('jsonl')) formats.unshift('jsonl');
  mkdirSync(dir, { recursive: true });
  if (!opts.force) {
    const cached = cachedTruth({ dir, size: opts.size, seed, formats });
    if (cached) {
      log(`data: reusing ${dir} (generator v${GENERATOR_VERSION}, seed ${seed})`);
      return cached;
    }
  }
  const t0 = performance.now();

  // v0 decides N: examples until the JSONL reaches the requested size.
  const writeVersion = async (
    name: VersionName,
    rows: Iterable<Row>,
  ): Promise<{ rows: number; files: Partial<Record<Format, FileInfo>> }> => {
    const jsonl = new Sink(join(dir, dataFile(name, 'jsonl')));
    const csv = formats.includes('csv') ? new Sink(join(dir, dataFile(name, 'csv'))) : undefined;
    const pq = formats.includes('parquet')
      ? new ParquetSink(join(dir, dataFile(name, 'parquet')))
      : undefined;
    csv?.write(CSV_COLUMNS.join(',') + '\n');
    let count = 0;
    for (const row of rows) {
      jsonl.write(rowToJsonl(row));
      csv?.write(rowToCsv(row));
      pq?.add(row);
      count++;
    }
    const files: Partial<Record<Format, FileInfo>> = {};
    files.jsonl = { file: dataFile(name, 'jsonl'), ...jsonl.close() };
    if (csv) files.csv = { file: dataFile(name, 'csv'), ...csv.close() };
    if (pq) {
      pq.close();
      const p = pq.path;
      files.parquet = {
        file: dataFile(name, 'parquet'),
        bytes: statSync(p).size,
        sha256: await sha256File(p),
      };
    }
    log(`data: ${name} ${count} rows, ${files.jsonl.bytes} bytes JSONL`);
    return { rows: count, files };
  };

  let baseRows = 0;
  let jsonlBytes = 0;
  const baseRowsIter = function* (): Generator<Row> {
    while (jsonlBytes < opts.size || baseRows === 0) {
      const row = makeRow(seed, baseRows, 0);
      jsonlBytes += Buffer.byteLength(rowToJsonl(row));
      baseRows++;
      yield row;
    }
  };
  const v0 = await writeVersion('v0', baseRowsIter());
  const planned = planVersions(seed, baseRows);
  const versions: VersionInfo[] = [{ name: 'v0', description: VERSION_DESCRIPTIONS.v0, ...v0 }];
  for (const plan of planned.plans.slice(1)) {
    const rows = function* (): Generator<Row> {
      for (const i of plan.order) yield makeRow(seed, i, plan.revision(i));
    };
    versions.push({
      name: plan.name,
      description: VERSION_DESCRIPTIONS[plan.name],
      ...(await writeVersion(plan.name, rows())),
    });
  }
  const truth: Truth = {
    generatorVersion: GENERATOR_VERSION,
    seed,
    requestedSize: opts.size,
    formats,
    baseRows,
    edited: planned.edited,
    appended: planned.appended,
    deleted: planned.deleted,
    versions,
    pairs: computePairs(planned.plans, baseRows + planned.appended),
    generateSeconds: (performance.now() - t0) / 1000,
  };
  writeFileSync(join(dir, 'truth.json'), JSON.stringify(truth, null, 2) + '\n');
  return truth;
}

async function main(argv: string[]): Promise<void> {
  let size = 64 * 1024 * 1024;
  let seed = 1;
  let out = 'bench/out/data';
  let formats: Format[] = [...FORMATS];
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--size') size = parseSize(next());
    else if (a === '--seed') seed = Number(next());
    else if (a === '--out') out = next();
    else if (a === '--formats') formats = next().split(',') as Format[];
    else if (a === '--force') force = true;
    else throw new Error(`unknown argument ${a}`);
  }
  const truth = await generate({ dir: out, size, seed, formats, force, log: (l) => console.log(l) });
  console.log(
    `generated in ${truth.generateSeconds.toFixed(1)} s: ${truth.baseRows} base rows, ` +
      `${truth.edited} edited, ${truth.appended} appended, ${truth.deleted} deleted`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
