/**
 * `merge`: joins another line of history into the current branch. Fast-forwards when possible; otherwise a
 * three-way merge against the merge base, file by file: a file changed on one side only takes that side;
 * a JSONL, CSV or TSV file changed on both sides and declared with a key (`key=` attribute or `--key`) is
 * merged example by example (CSV/TSV rows keep their text as stored; the header must not have changed) — disjoint changes combine, the same example changed differently on both sides is a
 * conflict listed with both versions. Anything else changed on both sides is a file-level conflict. A merge
 * with conflicts changes nothing and reports them; a clean one writes the files and a two-parent commit.
 * With `favor` (git's -X ours / -X theirs) conflicts are settled for that side: its version of a conflicting
 * example, its whole file for a file-level conflict; the rest merges as usual.
 *
 * Example-level merging holds the three versions' examples of that file in memory (by key), so it is meant
 * for files up to a few GiB; larger files conflict at file level with a clear message.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import { commit } from './commit.js';
import { parse as csvParseSync } from 'csv-parse/sync';
import { canonicalJson, getPath, splitPath } from './diff/canonical.js';
import { readFile } from './object-reader.js';
import type { Repository } from './repository.js';
import { advanceHead, readHead } from './refs.js';
import { resolveCommit } from './rev-parse.js';
import { add } from './stage.js';
import { isClean, status } from './status.js';
import { updateWorktree, writeWorktreeFile } from './checkout.js';
import { flattenTree } from './tree-builder.js';
import { loadAttributes } from './worktree/attributes.js';
import { formatFor } from './worktree/formats.js';
import { safeJoin } from './worktree/paths.js';
import { ensureFileData } from './partial.js';

/** Files above this size are not merged example by example. */
export const MAX_EXAMPLE_MERGE_BYTES = 2 * 1024 ** 3;

export interface MergeConflict {
  path: string;
  /** 'file': both sides changed the file and it cannot be merged by example; 'example': one example. */
  level: 'file' | 'example';
  key?: unknown;
  base?: unknown;
  ours?: unknown;
  theirs?: unknown;
  reason: string;
}

export interface MergeResult {
  status: 'up-to-date' | 'fast-forward' | 'merged';
  commit: Hash;
  base: Hash | null;
  /** Files whose merged content differs from ours. */
  updated: string[];
  /** Files merged example by example, with how many examples came from each side. */
  exampleMerges: { path: string; fromTheirs: number; fromOurs: number }[];
  /** Conflicts settled by `favor`: a file taken whole (`file`), or how many examples of a file. */
  resolved: { path: string; file?: true; examples?: number; reason?: string }[];
}

/** The best common ancestor (the first common one found walking both histories by time). */
export function mergeBase(repo: Repository, a: Hash, b: Hash): Hash | null {
  const ancestorsOf = (start: Hash): Set<string> => {
    const seen = new Set<string>([start]);
    const stack = [start];
    while (stack.length) {
      for (const p of repo.objects.commit(stack.pop()!).parents) {
        if (!seen.has(p)) {
          seen.add(p);
          stack.push(p);
        }
      }
    }
    return seen;
  };
  const inA = ancestorsOf(a);
  // Breadth-first from b by commit time: the newest common ancestor.
  const queue: { h: Hash; t: number }[] = [{ h: b, t: repo.objects.commit(b).time }];
  const seen = new Set<string>([b]);
  while (queue.length) {
    queue.sort((x, y) => y.t - x.t);
    const { h } = queue.shift()!;
    if (inA.has(h)) return h;
    for (const p of repo.objects.commit(h).parents) {
      if (!seen.has(p)) {
        seen.add(p);
        queue.push({ h: p, t: repo.objects.commit(p).time });
      }
    }
  }
  return null;
}

async function* lines(repo: Repository, manifest: Hash | undefined): AsyncGenerator<string> {
  if (!manifest) return;
  const rl = createInterface({
    input: Readable.from(readFile(repo.objects, repo.objects.manifest(manifest))),
    crlfDelay: Infinity,
  });
  for await (const l of rl) if (l.trim() !== '') yield l;
}

interface Keyed {
  order: string[];
  byKey: Map<string, { line: string; canon: string }>;
  /** CSV/TSV: the header row as stored (BOM and line ending included), written first. */
  header?: string;
  /** CSV/TSV: an example's value from its row text (for a conflict's listing). */
  value?: (line: string) => unknown;
}

/** How a file is merged by example: JSON Lines, or CSV/TSV rows with their dialect. */
type MergeFormat = { kind: 'jsonl' } | { kind: 'csv'; delimiter: string; quote: string | false };

/** The merge format of a file format and its attributes, or undefined when it is not merged by example. */
function mergeFormat(format: string, options: Record<string, string>): MergeFormat | undefined {
  if (format === 'jsonl') return { kind: 'jsonl' };
  if (format !== 'csv' && format !== 'tsv') return undefined;
  const d = options.delimiter;
  return {
    kind: 'csv',
    delimiter: d ? (d === '\\t' ? '\t' : d) : format === 'tsv' ? '\t' : ',',
    quote: options.quote === 'none' ? false : (options.quote ?? '"'),
  };
}

/**
 * A CSV/TSV version keyed by its rows' key fields (columns named in the header). Each row keeps its text as
 * stored (quoting, line ending), so that the merged file is the rows as written; the header must be the same
 * in all three versions.
 */
async function keyedCsv(
  repo: Repository,
  path: string,
  manifest: Hash | undefined,
  key: string[],
  f: Extract<MergeFormat, { kind: 'csv' }>,
): Promise<Keyed | string> {
  const out: Keyed = { order: [], byKey: new Map() };
  if (!manifest) return out;
  const parts: Uint8Array[] = [];
  for await (const c of readFile(repo.objects, repo.objects.manifest(manifest))) parts.push(c);
  const buf = Buffer.concat(parts);
  let rows: { record: string[]; info: { bytes: number } }[];
  try {
    rows = (csvParseSync as (input: Buffer, o: object) => typeof rows)(buf, {
      info: true,
      bom: true,
      delimiter: f.delimiter,
      quote: f.quote,
      skip_empty_lines: true,
    });
  } catch (e) {
    return `${path} is not well-formed ${f.delimiter === '\t' ? 'TSV' : 'CSV'} (${(e as Error).message})`;
  }
  if (rows.length === 0) return out;
  const header = rows[0]!.record;
  const at = key.map((k) => header.indexOf(k));
  const missing = key.filter((_, i) => at[i]! < 0);
  if (missing.length) return `${path} has no column ${missing.join(',')}`;
  out.header = buf.subarray(0, rows[0]!.info.bytes).toString('utf8');
  const asObject = (r: string[]): Record<string, string> =>
    Object.fromEntries(header.map((h, i) => [h, r[i] ?? '']));
  out.value = (line) =>
    asObject(
      (
        csvParseSync(line, { delimiter: f.delimiter, quote: f.quote, relax_column_count: true }) as string[][]
      )[0] ?? [],
    );
  let prev = rows[0]!.info.bytes;
  for (const { record, info } of rows.slice(1)) {
    // The row's own bytes, without the line ending's final \n (rows are joined with \n when written).
    let text = buf.subarray(prev, info.bytes).toString('utf8');
    prev = info.bytes;
    text = text.replace(/^[\r\n]+/, '');
    if (text.endsWith('\n')) text = text.slice(0, -1);
    const k = canonicalJson(at.length === 1 ? record[at[0]!] : at.map((i) => record[i]));
    if (out.byKey.has(k)) return `key ${k} occurs twice in ${path}`;
    out.order.push(k);
    out.byKey.set(k, { line: text, canon: canonicalJson(asObject(record)) });
  }
  return out;
}

async function keyed(
  repo: Repository,
  path: string,
  manifest: Hash | undefined,
  key: string[],
): Promise<Keyed | string> {
  const out: Keyed = { order: [], byKey: new Map() };
  const paths = key.map(splitPath);
  let n = 0;
  for await (const line of lines(repo, manifest)) {
    n++;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return `line ${n} of ${path} is not JSON`;
    }
    const k = canonicalJson(paths.length === 1 ? getPath(v, paths[0]!) : paths.map((p) => getPath(v, p)));
    if (k === 'null' || k === '[null]') return `example at line ${n} of ${path} has no key ${key.join(',')}`;
    if (out.byKey.has(k)) return `key ${k} occurs twice in ${path}`;
    out.order.push(k);
    out.byKey.set(k, { line, canon: canonicalJson(v) });
  }
  return out;
}

/** Three-way merge of one keyed JSONL file; returns the merged text or the conflicts. */
async function mergeExamples(
  repo: Repository,
  path: string,
  key: string[],
  base: Hash | undefined,
  ours: Hash,
  theirs: Hash,
  format: MergeFormat,
  favor?: 'ours' | 'theirs',
): Promise<
  { text: string; fromTheirs: number; fromOurs: number; resolved: number } | { conflicts: MergeConflict[] }
> {
  const read = (h: Hash | undefined): Promise<Keyed | string> =>
    format.kind === 'csv' ? keyedCsv(repo, path, h, key, format) : keyed(repo, path, h, key);
  const [b, o, t] = await Promise.all([read(base), read(ours), read(theirs)]);
  for (const x of [b, o, t])
    if (typeof x === 'string')
      return { conflicts: [{ path, level: 'file', reason: `cannot merge by example: ${x}` }] };
  const B = b as Keyed;
  const O = o as Keyed;
  const T = t as Keyed;
  // CSV/TSV: the columns are the header's, so the three versions must agree on it (a base without the file
  // has none).
  const headers = [B, O, T]
    .filter((x) => x.header !== undefined)
    .map((x) => x.header!.replace(/^\uFEFF/, '').trimEnd());
  if (headers.some((h) => h !== headers[0]))
    return {
      conflicts: [
        { path, level: 'file', reason: 'cannot merge by example: the header row differs between versions' },
      ],
    };
  const conflicts: MergeConflict[] = [];
  const result = new Map<string, string | null>();
  let fromTheirs = 0;
  let fromOurs = 0;
  let resolved = 0;
  for (const k of new Set([...O.order, ...T.order, ...B.order])) {
    const bv = B.byKey.get(k);
    const ov = O.byKey.get(k);
    const tv = T.byKey.get(k);
    const same = (x?: { canon: string }, y?: { canon: string }): boolean => x?.canon === y?.canon;
    if (same(ov, tv)) result.set(k, ov?.line ?? null);
    else if (same(ov, bv)) {
      result.set(k, tv?.line ?? null);
      fromTheirs++;
    } else if (same(tv, bv)) {
      result.set(k, ov?.line ?? null);
      fromOurs++;
    } else if (favor) {
      // -X ours / theirs: the conflict is settled for that side's version (or deletion).
      result.set(k, (favor === 'ours' ? ov : tv)?.line ?? null);
      if (favor === 'theirs') fromTheirs++;
      else fromOurs++;
      resolved++;
    } else {
      const parse = (x?: { line: string }): unknown =>
        x ? (O.value ? O.value(x.line) : JSON.parse(x.line)) : undefined;
      conflicts.push({
        path,
        level: 'example',
        key: JSON.parse(k),
        base: parse(bv),
        ours: parse(ov),
        theirs: parse(tv),
        reason:
          !ov || !tv ? 'deleted on one side, changed on the other' : 'changed differently on both sides',
      });
    }
  }
  if (conflicts.length) return { conflicts };
  // Our order, then examples only theirs added, in their order.
  const out: string[] = [];
  for (const k of O.order) {
    const l = result.get(k);
    if (l) out.push(l);
  }
  for (const k of T.order)
    if (!O.byKey.has(k)) {
      const l = result.get(k);
      if (l) out.push(l);
    }
  const header = O.header ?? T.header ?? '';
  const body = out.length ? out.join('\n') + '\n' : '';
  return {
    text: header && body && !/\n$/.test(header) ? `${header}\n${body}` : header + body,
    fromTheirs,
    fromOurs,
    resolved,
  };
}

/** What a three-way merge of `theirs` into `ours` against `base` writes, and its conflicts. */
export interface ThreeWay {
  writes: { path: string; manifest?: Hash; text?: string; remove?: boolean }[];
  conflicts: MergeConflict[];
  exampleMerges: MergeResult['exampleMerges'];
  resolved: MergeResult['resolved'];
}

/**
 * The three-way merge of the trees of `theirs` into `ours` against `base` (null: the empty tree), file by file
 * (the module comment): what to write and what conflicts. Nothing is written. Also what `revert` (theirs: the
 * commit's parent, base: the commit) and `cherry-pick` (theirs: the commit, base: its parent) apply.
 */
export async function threeWay(
  repo: Repository,
  base: Hash | null,
  ours: Hash,
  theirs: Hash | null,
  opts: { key?: string[]; favor?: 'ours' | 'theirs' } = {},
): Promise<ThreeWay> {
  const tree = (h: Hash | null) => flattenTree(repo.objects, h ? repo.objects.commit(h).tree : undefined);
  const [B, O, T] = [tree(base), tree(ours), tree(theirs)];
  // In a partial clone, the data of every version of the files theirs changed (core/partial.ts).
  const theirsChanged = [...T].filter(([p, e]) => B.get(p)?.hash !== e.hash).map(([p]) => p);
  await ensureFileData(
    repo,
    theirsChanged.flatMap((p) => [B.get(p)?.hash, O.get(p)?.hash, T.get(p)?.hash]),
  );
  const attrs = loadAttributes(repo.root);
  const conflicts: MergeConflict[] = [];
  const writes: { path: string; manifest?: Hash; text?: string; remove?: boolean }[] = [];
  const exampleMerges: MergeResult['exampleMerges'] = [];
  const resolved: MergeResult['resolved'] = [];
  /** A file-level conflict: listed, or with `favor` settled by taking that side's file (or its absence). */
  const fileConflict = (c: MergeConflict, t: Hash | undefined): void => {
    if (!opts.favor) conflicts.push(c);
    else {
      resolved.push({ path: c.path, file: true, reason: c.reason });
      if (opts.favor === 'theirs')
        writes.push(t ? { path: c.path, manifest: t } : { path: c.path, remove: true });
    }
  };
  for (const p of [...new Set([...B.keys(), ...O.keys(), ...T.keys()])].sort()) {
    const b = B.get(p)?.hash;
    const o = O.get(p)?.hash;
    const t = T.get(p)?.hash;
    const same = (x: string | undefined, y: string | undefined): boolean => repo.objects.sameContent(x, y);
    if (same(o, t) || same(t, b)) continue; // nothing to take from theirs
    if (same(o, b)) {
      writes.push(t ? { path: p, manifest: t } : { path: p, remove: true });
      continue;
    }
    const fa = attrs.lookup(p);
    const key = opts.key ?? (fa.key ? fa.key.split(',') : undefined);
    const { format: fmt, options } = formatFor(p, fa);
    const mf = mergeFormat(fmt, options);
    if (!o || !t) {
      fileConflict({ path: p, level: 'file', reason: 'deleted on one side, changed on the other' }, t);
    } else if (!mf || !key) {
      fileConflict(
        {
          path: p,
          level: 'file',
          reason: `changed on both sides (${fmt}${key ? '' : ', no key declared'}: not mergeable by example)`,
        },
        t,
      );
    } else if (Math.max(O.get(p)!.size, T.get(p)!.size) > MAX_EXAMPLE_MERGE_BYTES) {
      fileConflict(
        { path: p, level: 'file', reason: 'changed on both sides and too large to merge by example' },
        t,
      );
    } else {
      const r = await mergeExamples(repo, p, key, b, o, t, mf, opts.favor);
      if ('conflicts' in r) {
        // (Example conflicts only come back without favor; a file that cannot be merged by example can.)
        for (const c of r.conflicts)
          if (c.level === 'file') fileConflict(c, t);
          else conflicts.push(c);
      } else {
        writes.push({ path: p, text: r.text });
        exampleMerges.push({ path: p, fromTheirs: r.fromTheirs, fromOurs: r.fromOurs });
        if (r.resolved) resolved.push({ path: p, examples: r.resolved });
      }
    }
  }
  return { writes, conflicts, exampleMerges, resolved };
}

/** Writes a three-way merge's files into the working tree and stages them. */
export async function writeMerged(repo: Repository, writes: ThreeWay['writes']): Promise<void> {
  for (const w of writes) {
    if (w.remove) unlinkSync(safeJoin(repo.root, w.path));
    else if (w.manifest) repo.db.upsertIndexEntry(await writeWorktreeFile(repo, w.path, w.manifest));
    else writeFileSync(safeJoin(repo.root, w.path), w.text!);
  }
  if (writes.length)
    await add(
      repo,
      writes.map((w) => w.path),
    );
}

export async function merge(
  repo: Repository,
  rev: string,
  opts: {
    message?: string;
    key?: string[];
    meta?: Record<string, unknown>;
    /** Settle conflicts for this side (git's -X ours / -X theirs): its example, or its whole file. */
    favor?: 'ours' | 'theirs';
  } = {},
): Promise<MergeResult> {
  return repo.withLock(async () => {
    const head = readHead(repo);
    if (!head.commit)
      throw new StrataError('BAD_INPUT', 'nothing to merge into: the current branch has no commits', {});
    const ours = head.commit;
    const theirs = resolveCommit(repo, rev);
    const base = mergeBase(repo, ours, theirs);
    const none = { updated: [], exampleMerges: [], resolved: [] };
    if (base === theirs || ours === theirs) return { status: 'up-to-date', commit: ours, base, ...none };
    if (!isClean(await status(repo))) {
      throw new StrataError('DIRTY_WORKTREE', 'commit or discard your changes before merging', {});
    }
    if (base === ours) {
      await updateWorktree(repo, ours, theirs);
      advanceHead(repo, theirs, `merge ${rev}: fast-forward`, ours);
      return { status: 'fast-forward', commit: theirs, base, ...none };
    }
    const r = await threeWay(repo, base, ours, theirs, opts);
    if (r.conflicts.length) {
      throw new StrataError(
        'CONFLICT',
        `merge of ${rev} has ${r.conflicts.length} conflict(s); nothing was changed`,
        { conflicts: r.conflicts },
      );
    }
    await writeMerged(repo, r.writes);
    const { writes, exampleMerges, resolved } = r;
    const c = await commit(repo, {
      message: opts.message ?? `Merge ${rev}`,
      allowEmpty: true,
      parents: [ours, theirs],
      ...(opts.meta ? { meta: opts.meta } : {}),
    });
    return {
      status: 'merged',
      commit: c.commit,
      base,
      updated: writes.map((w) => w.path),
      exampleMerges,
      resolved,
    };
  });
}
