/**
 * Materialise a pinned revision into a directory (`export`), prove that a directory holds exactly a
 * pinned revision's bytes (`verifyDirectory`), and check every object of a pinned revision against its
 * hash (`verifyPinnedData`, what `lock verify` runs).
 */
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, open as openFile, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StrataError } from '../../storage/errors.js';
import { hashBytes } from '../../storage/hash.js';
import { manifestSpans, verifyObject } from '../object-reader.js';
import { checkName } from '../objects/objects.js';
import type { PinnedFile, PinnedRevision } from './revision.js';
import { normalizePath } from './revision.js';

export interface ExportOptions {
  /** Export only this file or directory (paths stay relative to the revision's root). */
  path?: string;
  /** Write into a non-empty directory, replacing files of the same names. */
  force?: boolean;
  onFile?: (path: string) => void;
  onBytes?: (n: number) => void;
}

export interface ExportResult {
  files: number;
  bytes: number;
}

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** The absolute target for a revision path under `root`, refusing anything that would land outside it. */
async function targetPath(root: string, path: string): Promise<string> {
  const parts = path.split('/');
  for (const p of parts) checkName(p);
  const abs = resolve(root, ...parts);
  if (!abs.startsWith(root + sep))
    throw new StrataError('UNSAFE_PATH', `refusing to write ${path} outside ${root}`, { path, root });
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i]!);
    try {
      const st = await lstat(cur);
      if (st.isSymbolicLink())
        throw new StrataError('UNSAFE_PATH', `refusing to write through symlink ${relative(root, cur)}`, {
          path,
        });
      if (!st.isDirectory())
        throw new StrataError('CONFLICT', `${relative(root, cur)} exists and is not a directory`, { path });
    } catch (e) {
      if (e instanceof StrataError) throw e;
      if (isMissing(e)) break;
      throw e;
    }
  }
  return abs;
}

/** Writes the revision's files (or those under `opts.path`) into `dir`. */
export async function exportRevision(
  rev: PinnedRevision,
  dir: string,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const root = resolve(dir);
  const files = await rev.files(opts.path ?? '');
  try {
    const st = await lstat(root);
    if (!st.isDirectory())
      throw new StrataError('ALREADY_EXISTS', `${root} exists and is not a directory`, { path: root });
    if (!opts.force && (await readdir(root)).length > 0)
      throw new StrataError('ALREADY_EXISTS', `${root} is not empty (use --force to write into it)`, {
        path: root,
      });
  } catch (e) {
    if (!isMissing(e)) throw e;
  }
  await mkdir(root, { recursive: true });
  let bytes = 0;
  for (const f of files) {
    const target = await targetPath(root, f.path);
    await mkdir(dirname(target), { recursive: true });
    opts.onFile?.(f.path);
    const tmp = join(dirname(target), `.${f.path.split('/').pop()}.strata-tmp-${process.pid}`);
    await unlink(tmp).catch(() => {}); // a temp file left by a crashed export of this pid
    try {
      const src = rev.read(f.path);
      if (opts.onBytes) src.on('data', (b: Buffer) => opts.onBytes!(b.length));
      await pipeline(src, createWriteStream(tmp, { flags: 'wx' }));
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    bytes += f.size;
  }
  return { files: files.length, bytes };
}

export type VerifyStatus = 'ok' | 'missing' | 'size' | 'changed' | 'extra' | 'not-a-file';

export interface VerifyFileReport {
  path: string;
  status: VerifyStatus;
  expectedSize?: number;
  actualSize?: number;
  /** For `changed`: the offset of the first byte that differs. */
  firstDifference?: number;
}

export interface VerifyReport {
  ok: boolean;
  /** One entry per pinned file, then one per extra file. */
  files: VerifyFileReport[];
  /** Bytes compared. */
  bytes: number;
}

export interface VerifyOptions {
  /** Only this file or directory of the revision is expected. */
  path?: string;
  /** Files in the directory that the revision does not have are not a failure. */
  allowExtra?: boolean;
}

/** Every regular file and symlink under `root` ('/'-separated, relative), skipping a top-level .strata. */
async function listDir(root: string): Promise<Map<string, 'file' | 'other'>> {
  const out = new Map<string, 'file' | 'other'>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const d of await readdir(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (!rel && d.name === '.strata') continue;
      if (d.isDirectory()) await walk(join(abs, d.name), r);
      else out.set(r, d.isFile() ? 'file' : 'other');
    }
  };
  await walk(root, '');
  return out;
}

/** Compares one file on disk with its pinned spans: whole chunks by hash, anything else byte by byte. */
async function compareFile(rev: PinnedRevision, f: PinnedFile, abs: string): Promise<VerifyFileReport> {
  const fh = await openFile(abs, 'r');
  try {
    const st = await fh.stat();
    if (st.size !== f.size)
      return { path: f.path, status: 'size', expectedSize: f.size, actualSize: st.size };
    const m = await rev.manifest(f.path);
    let at = 0;
    let buf = Buffer.alloc(1 << 16);
    for await (const [h, off, len] of manifestSpans(rev.reader, m)) {
      if (buf.length < len) buf = Buffer.alloc(len);
      const disk = buf.subarray(0, len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(disk, got, len - got, at + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < len) return { path: f.path, status: 'size', expectedSize: f.size, actualSize: at + got };
      // A whole-chunk span is proven by the hash alone; a sub-chunk span (or a mismatch) reads the chunk.
      if (off !== 0 || hashBytes(disk) !== h) {
        const chunk = (await rev.reader.get(h)).subarray(off, off + len);
        if (chunk.length !== len)
          throw new StrataError('INTEGRITY', `span exceeds chunk ${h}`, { hash: h, off, len });
        const i = firstDiff(chunk, disk);
        if (i >= 0) return { path: f.path, status: 'changed', firstDifference: at + i };
      }
      at += len;
    }
    return { path: f.path, status: 'ok' };
  } finally {
    await fh.close();
  }
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Checks that `dir` holds exactly the pinned bytes: every file, byte for byte, and (unless allowed) nothing else. */
export async function verifyDirectory(
  rev: PinnedRevision,
  dir: string,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const root = resolve(dir);
  const st = await lstat(root).catch((e: unknown) => {
    if (isMissing(e)) throw new StrataError('NOT_FOUND', `${root} does not exist`, { path: root });
    throw e;
  });
  if (!st.isDirectory()) throw new StrataError('BAD_INPUT', `${root} is not a directory`, { path: root });
  const expected = await rev.files(opts.path ? normalizePath(opts.path) : '');
  const onDisk = await listDir(root);
  const files: VerifyFileReport[] = [];
  let bytes = 0;
  for (const f of expected) {
    const kind = onDisk.get(f.path);
    onDisk.delete(f.path);
    if (!kind) files.push({ path: f.path, status: 'missing', expectedSize: f.size });
    else if (kind !== 'file') files.push({ path: f.path, status: 'not-a-file' });
    else {
      const r = await compareFile(rev, f, join(root, ...f.path.split('/')));
      if (r.status === 'ok') bytes += f.size;
      files.push(r);
    }
  }
  for (const p of [...onDisk.keys()].sort()) files.push({ path: p, status: 'extra' });
  const ok = files.every((f) => f.status === 'ok' || (f.status === 'extra' && opts.allowExtra));
  return { ok, files, bytes };
}

export interface DataCheck {
  files: number;
  bytes: number;
  /** Distinct chunks read and hash-checked. */
  chunks: number;
}

/**
 * Reads every object of every file of the revision through its reader and re-checks each hash here
 * (independently of the reader), and that spans cover each file's size. INTEGRITY on any mismatch.
 */
export async function verifyPinnedData(rev: PinnedRevision): Promise<DataCheck> {
  const files = await rev.files();
  const seen = new Set<string>();
  const sizes = new Map<string, number>();
  let bytes = 0;
  for (const f of files) {
    const m = await rev.manifest(f.path);
    const want: string[] = [];
    let covered = 0;
    const spans: [string, number, number][] = [];
    for await (const s of manifestSpans(rev.reader, m)) {
      spans.push(s);
      covered += s[2];
      if (!seen.has(s[0])) {
        seen.add(s[0]);
        want.push(s[0]);
      }
    }
    if (covered !== m.size)
      throw new StrataError('INTEGRITY', `${f.path}: spans cover ${covered} bytes, manifest says ${m.size}`, {
        path: f.path,
      });
    for await (const { hash, data } of rev.reader.getMany(want)) {
      verifyObject(hash, data, rev.location);
      sizes.set(hash, data.length);
    }
    for (const [h, off, len] of spans) {
      const n = sizes.get(h);
      if (n !== undefined && off + len > n)
        throw new StrataError('INTEGRITY', `${f.path}: span exceeds chunk ${h}`, { path: f.path, hash: h });
    }
    bytes += f.size;
  }
  return { files: files.length, bytes, chunks: seen.size };
}
