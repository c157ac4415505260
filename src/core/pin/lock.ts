/**
 * Lock files: `strata.lock` beside a training config names the pins a run uses. Canonical, diff-friendly
 * JSON - `{"version": 1, "pins": {NAME: PIN}}`, names sorted, two-space indent, one pin per line, final
 * newline - so the same pins always give the same bytes and a change is a one-line diff.
 *
 * Relative local pins (`.@<hash>`, `../data@<hash>`) resolve against the lock file's directory.
 * `lockAtGitRevision` reads the lock file as it was at any revision of the enclosing git repository,
 * without checking it out (isomorphic-git).
 */
import * as fs from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { StrataError } from '../../storage/errors.js';
import { verifyPinnedData, type DataCheck } from './export.js';
import { parsePin } from './pin.js';
import { PinnedRevision } from './revision.js';

export { LOCK_FILE } from './lock-file.js';
export const LOCK_VERSION = 1;

export interface LockFile {
  version: 1;
  /** Name → pin. */
  pins: Record<string, string>;
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;

export function checkPinName(name: string): void {
  if (!NAME_RE.test(name))
    throw new StrataError(
      'BAD_INPUT',
      `invalid pin name '${name}' (letters, digits, '_', '.', '-', '/'; not starting with '.', '-' or '/')`,
      { name },
    );
}

/** The canonical text of a lock file. */
export function formatLock(lock: LockFile): string {
  const pins: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const k of Object.keys(lock.pins).sort()) pins[k] = lock.pins[k]!;
  return JSON.stringify({ version: LOCK_VERSION, pins }, null, 2) + '\n';
}

/** Parses and validates lock file text; `where` names it in errors. */
export function parseLock(text: string, where: string): LockFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new StrataError('BAD_INPUT', `${where} is not valid JSON`, { file: where }, { cause: e });
  }
  const o = v as { version?: unknown; pins?: unknown };
  if (!o || typeof o !== 'object' || Array.isArray(o))
    throw new StrataError('BAD_INPUT', `${where} is not a lock file`, { file: where });
  if (o.version !== LOCK_VERSION)
    throw new StrataError(
      'UNSUPPORTED_VERSION',
      `${where} has lock version ${JSON.stringify(o.version) ?? String(o.version)}`,
      {
        file: where,
        version: o.version,
      },
    );
  if (!o.pins || typeof o.pins !== 'object' || Array.isArray(o.pins))
    throw new StrataError('BAD_INPUT', `${where}: "pins" must be an object`, { file: where });
  // No prototype: a pin named __proto__ is a pin like any other.
  const pins: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, p] of Object.entries(o.pins as Record<string, unknown>)) {
    checkPinName(k);
    if (typeof p !== 'string')
      throw new StrataError('BAD_INPUT', `${where}: pin ${k} is not a string`, { name: k });
    parsePin(p);
    pins[k] = p;
  }
  return { version: 1, pins };
}

/** Reads a lock file; with `missingOk`, a missing file is an empty lock. */
export function readLock(file: string, opts: { missingOk?: boolean } = {}): LockFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (opts.missingOk) return { version: 1, pins: Object.create(null) as Record<string, string> };
      throw new StrataError('NOT_FOUND', `lock file ${file} does not exist`, { file });
    }
    throw new StrataError('IO', `cannot read ${file}`, { file }, { cause: e });
  }
  return parseLock(text, file);
}

/** Writes a lock file atomically (temp file, fsync, rename). */
export function writeLock(file: string, lock: LockFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, formatLock(lock));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Adds (or replaces) a pin; returns the pin it replaced, if any. */
export function lockAdd(file: string, name: string, pin: string): { previous?: string } {
  checkPinName(name);
  parsePin(pin);
  const lock = readLock(file, { missingOk: true });
  const previous = lock.pins[name];
  lock.pins[name] = pin;
  writeLock(file, lock);
  return previous !== undefined ? { previous } : {};
}

/** Removes a pin; NOT_FOUND if it is not there. */
export function lockRemove(file: string, name: string): string {
  const lock = readLock(file);
  const pin = lock.pins[name];
  if (pin === undefined)
    throw new StrataError('NOT_FOUND', `no pin named ${name} in ${file}`, { name, file });
  delete lock.pins[name];
  writeLock(file, lock);
  return pin;
}

export interface LockPinCheck {
  name: string;
  pin: string;
  ok: boolean;
  check?: DataCheck;
  error?: { code: string; message: string };
}

/**
 * For every pin: open it (relative local paths against the lock file's directory), read every object of
 * every file through the reader and re-check its hash. Never throws for a bad pin; reports it.
 */
export async function lockVerify(file: string, opts: { names?: string[] } = {}): Promise<LockPinCheck[]> {
  const lock = readLock(file);
  const cwd = dirname(resolve(file));
  const out: LockPinCheck[] = [];
  for (const [name, pin] of Object.entries(lock.pins)) {
    if (opts.names && !opts.names.includes(name)) continue;
    let rev: PinnedRevision | undefined;
    try {
      rev = await PinnedRevision.open(pin, { cwd });
      out.push({ name, pin, ok: true, check: await verifyPinnedData(rev) });
    } catch (e) {
      if (!(e instanceof StrataError)) throw e;
      out.push({ name, pin, ok: false, error: { code: e.code, message: e.message } });
    } finally {
      await rev?.close();
    }
  }
  return out;
}

export interface LockAtRevision {
  /** The git commit the revision resolved to. */
  gitCommit: string;
  /** The git repository's root. */
  gitRoot: string;
  /** The lock file's path inside the git repository. */
  path: string;
  lock: LockFile;
}

type Git = typeof import('isomorphic-git').default;
/** isomorphic-git takes ~0.3 s to load: only when a git revision is asked for. */
const loadGit = async (): Promise<Git> => (await import('isomorphic-git')).default;

const gitBad = (rev: string, why: string): StrataError =>
  new StrataError('BAD_REVISION', `bad git revision '${rev}': ${why}`, { rev });

/** Peels an object id (annotated tags) to a commit id. */
async function peelToCommit(git: Git, dir: string, oid: string, rev: string): Promise<string> {
  for (let i = 0; i < 10; i++) {
    const o = await git.readObject({ fs, dir, oid });
    if (o.type === 'commit') return oid;
    if (o.type !== 'tag') throw gitBad(rev, `${oid} is a ${o.type}`);
    oid = (await git.readTag({ fs, dir, oid })).tag.object;
  }
  throw gitBad(rev, 'tag chain too long');
}

/** Resolves a git revision (HEAD, branch, tag, full or short hash, with ~N / ^N suffixes) to a commit. */
export async function resolveGitRevision(dir: string, rev: string): Promise<string> {
  const git = await loadGit();
  const m = /^(.*?)((?:[~^]\d*)*)$/.exec(rev);
  const base = m?.[1] || 'HEAD';
  const suffix = m?.[2] ?? '';
  let oid: string | undefined;
  try {
    oid = await git.resolveRef({ fs, dir, ref: base });
  } catch {
    if (/^[0-9a-f]{4,40}$/i.test(base)) {
      try {
        oid = await git.expandOid({ fs, dir, oid: base.toLowerCase() });
      } catch (e) {
        throw gitBad(rev, (e as Error).message);
      }
    }
  }
  if (!oid) throw gitBad(rev, 'unknown revision');
  let cur: string = await peelToCommit(git, dir, oid, rev);
  for (const s of suffix.match(/[~^]\d*/g) ?? []) {
    const n = s.length > 1 ? Number(s.slice(1)) : 1;
    if (s[0] === '~') {
      for (let i = 0; i < n; i++) {
        const p: string | undefined = (await git.readCommit({ fs, dir, oid: cur })).commit.parent[0];
        if (!p) throw gitBad(rev, 'walks past the root commit');
        cur = p;
      }
    } else if (n > 0) {
      const p: string | undefined = (await git.readCommit({ fs, dir, oid: cur })).commit.parent[n - 1];
      if (!p) throw gitBad(rev, `commit has no parent ${n}`);
      cur = p;
    }
  }
  return cur;
}

/**
 * The lock file as it was at git revision `rev` of the git repository enclosing it, read from git's
 * objects without touching the working tree. NOT_FOUND if the file did not exist at that revision.
 */
export async function lockAtGitRevision(file: string, rev: string): Promise<LockAtRevision> {
  const abs = resolve(file);
  const git = await loadGit();
  let gitRoot: string;
  try {
    gitRoot = await git.findRoot({ fs, filepath: dirname(abs) });
  } catch {
    throw new StrataError('NOT_FOUND', `${dirname(abs)} is not inside a git repository`, { file: abs });
  }
  const path = relative(gitRoot, abs).split('\\').join('/');
  const gitCommit = await resolveGitRevision(gitRoot, rev);
  let blob: Uint8Array;
  try {
    blob = (await git.readBlob({ fs, dir: gitRoot, oid: gitCommit, filepath: path })).blob;
  } catch (e) {
    throw new StrataError(
      'NOT_FOUND',
      `${path} does not exist at git revision ${rev} (${gitCommit.slice(0, 12)})`,
      { path, rev, gitCommit },
      { cause: e },
    );
  }
  return {
    gitCommit,
    gitRoot,
    path,
    lock: parseLock(Buffer.from(blob).toString('utf8'), `${path}@${gitCommit.slice(0, 12)}`),
  };
}
