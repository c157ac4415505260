/**
 * A strata repository: the `.strata/` directory at the root of a working tree, holding `strata.json`
 * (format version and chunking parameters), `index.sqlite` and `packs/`. Opening refuses unknown format
 * versions; mutating commands hold `.strata/lock`.
 */
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { StrataError } from '../storage/errors.js';
import { IndexDb } from '../storage/index-db.js';
import { LocalPacks } from '../storage/local-packs.js';
import { chunkParamsFrom, DEFAULT_CHUNK_PARAMS, type ChunkParams } from './chunking/params.js';
import { ObjectDb } from './object-db.js';
import type { OnDemandEvent } from './partial.js';

/**
 * `n` random bytes in hex, for the lock's nonce and file names: they only need to differ between lock
 * holders, and Math.random (seeded per process by the OS) does that without loading node:crypto, ~3 ms of
 * a no-op `commit -a` (issue 6).
 */
const randomHex = (n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++)
    s += Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0');
  return s;
};

export const REPO_DIR = '.strata';
export const REPO_FORMAT_VERSION = 1;

export interface RepoConfigFile {
  format: number;
  chunking: ChunkParams;
}

export interface InitOptions {
  chunking?: ChunkParams;
  defaultBranch?: string;
}

export class Repository {
  readonly strataDir: string;
  readonly db: IndexDb;
  readonly objects: ObjectDb;
  readonly chunking: ChunkParams;
  private lockDepth = 0;
  /** Told of chunk data downloaded on demand in a partial repository (core/partial.ts): a CLI says so. */
  onDemand?: (e: OnDemandEvent) => void;
  /** Work done by this handle, for tests and benchmarks (e.g. a no-op status hashes nothing). */
  readonly counters = {
    filesHashed: 0,
    bytesHashed: 0,
    /** Chunks `add` found among a span-coded previous version's canonical chunks (previous-chunks.ts). */
    previousChunksReused: 0,
  };

  private constructor(
    readonly root: string,
    cfg: RepoConfigFile,
  ) {
    this.strataDir = join(root, REPO_DIR);
    this.chunking = cfg.chunking;
    this.db = IndexDb.open(join(this.strataDir, 'index.sqlite'));
    const level = Number(this.db.getConfig('core.compression') ?? 3);
    this.objects = new ObjectDb(
      new LocalPacks(join(this.strataDir, 'packs'), this.db, { compressionLevel: level }),
    );
  }

  /** Creates a repository in `dir` (which may already hold files). */
  static init(dir: string, opts: InitOptions = {}): Repository {
    const root = resolve(dir);
    const sd = join(root, REPO_DIR);
    if (existsSync(join(sd, 'strata.json'))) {
      throw new StrataError('ALREADY_EXISTS', `${sd} already holds a strata repository`, { path: sd });
    }
    mkdirSync(join(sd, 'packs'), { recursive: true });
    const cfg: RepoConfigFile = {
      format: REPO_FORMAT_VERSION,
      chunking: opts.chunking ?? DEFAULT_CHUNK_PARAMS,
    };
    const db = IndexDb.open(join(sd, 'index.sqlite'), { create: true });
    db.setRef('HEAD', `ref: refs/heads/${opts.defaultBranch ?? 'main'}`, 'init');
    db.close();
    // strata.json last: its presence marks a complete repository.
    const tmp = join(sd, 'strata.json.tmp');
    writeFileSync(tmp, JSON.stringify(cfg, null, 2) + '\n');
    renameSync(tmp, join(sd, 'strata.json'));
    return new Repository(root, cfg);
  }

  /** Finds the repository containing `start` (walking up like git). */
  static open(start = '.'): Repository {
    let dir = resolve(start);
    for (;;) {
      const f = join(dir, REPO_DIR, 'strata.json');
      if (existsSync(f)) return new Repository(dir, readRepoConfig(f));
      const up = dirname(dir);
      if (up === dir)
        throw new StrataError(
          'NOT_A_REPOSITORY',
          `not a strata repository (or any parent): ${resolve(start)}`,
          { path: resolve(start) },
        );
      dir = up;
    }
  }

  close(): void {
    this.objects.packs.close();
    this.db.close();
  }

  /** Runs `fn` holding the repository's write lock. */
  async withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.lockDepth > 0) {
      this.lockDepth++;
      try {
        return await fn();
      } finally {
        this.lockDepth--;
      }
    }
    const lockPath = join(this.strataDir, 'lock');
    const nonce = acquireLock(lockPath);
    this.lockDepth = 1;
    try {
      return await fn();
    } catch (e) {
      this.objects.packs.abort();
      throw e;
    } finally {
      this.lockDepth = 0;
      releaseLock(lockPath, nonce);
    }
  }
}

function readRepoConfig(file: string): RepoConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new StrataError('NOT_A_REPOSITORY', `cannot read ${file}`, { file }, { cause: e });
  }
  return parseRepoConfig(text, file);
}

/** Parses and checks the text of `.strata/strata.json`; `file` names it in errors. */
export function parseRepoConfig(text: string, file: string): RepoConfigFile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new StrataError('NOT_A_REPOSITORY', `cannot read ${file} (not JSON)`, { file }, { cause: e });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new StrataError('NOT_A_REPOSITORY', `cannot read ${file} (not a JSON object)`, { file });
  const cfg = v as Partial<RepoConfigFile>;
  if (cfg.format !== REPO_FORMAT_VERSION) {
    throw new StrataError(
      'UNSUPPORTED_VERSION',
      `repository format ${JSON.stringify(cfg.format) ?? 'missing'} is not supported (this strata reads ${REPO_FORMAT_VERSION})`,
      {
        format: cfg.format,
      },
    );
  }
  const chunking = chunkParamsFrom(cfg.chunking);
  if (!chunking) throw new StrataError('INTEGRITY', `${file} has no valid chunking parameters`, { file });
  return { format: cfg.format, chunking };
}

/** Whether a process of this host is alive; a zombie (killed, not yet reaped by its parent) is not. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Linux: "pid (comm) S ..."; a SIGKILLed process whose parent never reaps it (a container whose PID 1
    // does not reap, a parent that exited) stays Z forever and must not hold the lock forever.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (macOS) or unreadable: trust kill(0)
  }
}

interface LockOwner {
  pid: number;
  host?: string;
  nonce?: string;
  time?: number;
  /** The file's text, to check that a lock moved aside is the one judged stale. */
  raw: string;
}

/** A lock whose content cannot be read (written by an older strata that died mid-write) is stale after this. */
const UNREADABLE_LOCK_STALE_MS = 10_000;

function readLockOwner(path: string): LockOwner | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const o = JSON.parse(raw) as Omit<LockOwner, 'raw'>;
    if (typeof o === 'number') return { pid: o, raw }; // "<pid>\n", as older versions wrote it
    if (o && typeof o.pid === 'number') return { ...o, raw };
  } catch {
    /* below */
  }
  return { pid: 0, raw };
}

function lockIsStale(path: string, owner: LockOwner): boolean {
  if (!owner.pid) {
    try {
      return Date.now() - statSync(path).mtimeMs > UNREADABLE_LOCK_STALE_MS;
    } catch {
      return false;
    }
  }
  return (owner.host === undefined || owner.host === hostname()) && !pidAlive(owner.pid);
}

/**
 * Takes `.strata/lock`, returning the nonce that proves ownership. The lock file is written complete
 * under a temp name and hard-linked into place, so it never exists without its owner (a crash between
 * creating and writing it used to leave an empty lock that no one could judge). A lock whose owner died
 * is broken by moving it aside and checking that the moved file is the one judged stale, so two
 * processes breaking one stale lock cannot both end up holding the lock.
 */
export function acquireLock(path: string): string {
  const nonce = randomHex(8);
  const body = JSON.stringify({ pid: process.pid, host: hostname(), nonce, time: Date.now() }) + '\n';
  const tmp = `${path}.${nonce}.tmp`;
  // Not fsynced: the lock only excludes live processes. After a crash of the machine, the one case where
  // an unsynced write is lost, every lock is stale anyway, and a lock left empty by it is judged stale
  // by its age (UNREADABLE_LOCK_STALE_MS). An fsync here cost every locked command - a no-op
  // `commit -a` too - a disk flush (4-20 ms here).
  const fd = openSync(tmp, 'wx');
  try {
    writeSync(fd, body);
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        linkSync(tmp, path);
        return nonce;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          // A file system without hard links: fall back to an O_EXCL create.
          if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e;
          try {
            writeFileSync(path, body, { flag: 'wx' });
            return nonce;
          } catch (e2) {
            if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
          }
        }
      }
      const owner = readLockOwner(path);
      if (!owner) continue; // released meanwhile
      if (!lockIsStale(path, owner)) {
        const who = owner.pid
          ? `process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}`
          : 'another process';
        throw new StrataError(
          'CONFLICT',
          `repository is locked by ${who} (${path}): another strata command is writing; try again when it has finished`,
          { lock: path, pid: owner.pid || null, host: owner.host ?? null, reason: 'locked' },
        );
      }
      breakStaleLock(path, owner); // e.g. SIGKILL mid-commit; then try again
    }
    throw new StrataError('CONFLICT', `cannot take repository lock ${path}`, {
      lock: path,
      reason: 'locked',
    });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* gone */
    }
  }
}

function breakStaleLock(path: string, judged: LockOwner): void {
  const aside = `${path}.broken.${randomHex(6)}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke or released it
  }
  const moved = readLockOwner(aside);
  if (moved?.raw !== judged.raw) {
    // We moved a fresh lock taken after our look: put it back (fails harmlessly if a new one exists).
    try {
      linkSync(aside, path);
    } catch {
      /* a newer lock is in place */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
}

/** Removes the lock only while it is still ours. */
export function releaseLock(path: string, nonce: string): void {
  if (readLockOwner(path)?.nonce !== nonce) return;
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
