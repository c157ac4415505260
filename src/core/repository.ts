/**
 * A strata repository: the `.strata/` directory at the root of a working tree, holding `strata.json`
 * (format version and chunking parameters), `index.sqlite` and `packs/`. Opening refuses unknown format
 * versions; mutating commands hold `.strata/lock`.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  fsyncSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StrataError } from '../storage/errors.js';
import { IndexDb } from '../storage/index-db.js';
import { LocalPacks } from '../storage/local-packs.js';
import { DEFAULT_CHUNK_PARAMS, type ChunkParams } from './chunking/params.js';
import { ObjectDb } from './object-db.js';

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
  /** Work done by this handle, for tests and benchmarks (e.g. a no-op status hashes nothing). */
  readonly counters = { filesHashed: 0, bytesHashed: 0 };

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
    acquireLock(lockPath);
    this.lockDepth = 1;
    try {
      return await fn();
    } catch (e) {
      this.objects.packs.abort();
      throw e;
    } finally {
      this.lockDepth = 0;
      try {
        unlinkSync(lockPath);
      } catch {
        /* already gone */
      }
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
  const c = cfg.chunking as Partial<ChunkParams> | undefined;
  if (
    !c ||
    typeof c !== 'object' ||
    !Number.isSafeInteger(c.min) ||
    !Number.isSafeInteger(c.avg) ||
    !Number.isSafeInteger(c.max)
  )
    throw new StrataError('INTEGRITY', `${file} has no valid chunking parameters`, { file });
  return { format: cfg.format, chunking: { min: c.min!, avg: c.avg!, max: c.max! } };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function acquireLock(path: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      fsyncSync(fd);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSafe(path).trim());
      if (pid && !pidAlive(pid)) {
        unlinkSync(path); // stale lock of a process that died (e.g. SIGKILL mid-commit)
        continue;
      }
      throw new StrataError('CONFLICT', `repository is locked by process ${pid || '?'} (${path})`, {
        lock: path,
        pid,
      });
    }
  }
  throw new StrataError('CONFLICT', `cannot take repository lock ${path}`, { lock: path });
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
