/**
 * LocalStore: an ObjectStore in a plain directory (a `file://` remote, or any local path).
 *
 * - put writes `<key>.#tmp.<random>` in the key's own directory, fsyncs it, renames it over the key and
 *   fsyncs the directory, so a reader (or a crash) sees the old value or the new one, never a part.
 * - '#' never occurs in a key (see checkKey), so temp and lock files can never collide with an object and
 *   list() skips them.
 * - etag = BLAKE3 hex of the content.
 * - putIfMatch is a compare-and-swap that is safe between processes on one machine: it holds an O_EXCL lock
 *   file `<key>.#lock` (written complete, then hard-linked into place) while it reads the current etag, compares and renames
 *   the new value in. A lock whose owner process is gone (same host) or that is older than `lockStaleMs`
 *   is broken; see docs/STORAGE.md.
 */
import { randomUUID } from 'node:crypto';
import {
  link,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StrataError, throwIfAborted } from './errors.js';
import { createHasher, hashBytes } from './hash.js';
import {
  checkKey,
  resolveRange,
  type ETag,
  type GetOptions,
  type ObjectStore,
  type PutOptions,
  type StatResult,
} from './object-store.js';

export interface LocalStoreOptions {
  /** fsync files and directories (default true; tests of throughput may turn it off). */
  fsync?: boolean;
  /** How long putIfMatch waits for another writer's lock before failing with IO (default 30 s). */
  lockTimeoutMs?: number;
  /** A lock older than this is considered abandoned (default 60 s; a live holder keeps it for milliseconds). */
  lockStaleMs?: number;
}

const errno = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;

const isAbort = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';

export class LocalStore implements ObjectStore {
  readonly location: string;
  readonly root: string;
  private readonly fsync: boolean;
  private readonly lockTimeoutMs: number;
  private readonly lockStaleMs: number;

  constructor(root: string, opts: LocalStoreOptions = {}) {
    this.root = resolve(root);
    this.location = `file://${this.root}`;
    this.fsync = opts.fsync ?? true;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
    this.lockStaleMs = opts.lockStaleMs ?? 60_000;
  }

  private pathOf(key: string): string {
    checkKey(key);
    return join(this.root, ...key.split('/'));
  }

  /** Converts a native error at the edge: missing → NOT_FOUND, abort → ABORTED, the rest → IO. */
  private fail(e: unknown, key: string, op: string): StrataError {
    if (e instanceof StrataError) return e;
    if (isAbort(e)) return new StrataError('ABORTED', 'operation aborted', { key }, { cause: e });
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
      return new StrataError('NOT_FOUND', `object ${key} not found in ${this.location}`, {
        key,
        location: this.location,
      });
    }
    return new StrataError('IO', `${op} ${key} in ${this.location} failed: ${code ?? String(e)}`, {
      key,
      location: this.location,
      errno: code,
    });
  }

  private async openForRead(key: string, signal?: AbortSignal): Promise<{ fh: FileHandle; size: number }> {
    throwIfAborted(signal);
    const path = this.pathOf(key);
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      return { fh, size: st.size };
    } catch (e) {
      await fh?.close().catch(() => {});
      throw this.fail(e, key, 'open');
    }
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    const { fh, size } = await this.openForRead(key, opts?.signal);
    try {
      const { start, end } = resolveRange(key, size, opts, this.location);
      const buf = Buffer.allocUnsafe(end - start);
      let got = 0;
      while (got < buf.length) {
        throwIfAborted(opts?.signal);
        const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < buf.length) {
        throw new StrataError('INTEGRITY', `${key} in ${this.location} came up short`, {
          key,
          location: this.location,
          expected: buf.length,
          got,
        });
      }
      return buf;
    } catch (e) {
      throw this.fail(e, key, 'read');
    } finally {
      await fh.close();
    }
  }

  async getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    const { fh, size } = await this.openForRead(key, opts?.signal);
    let range: { start: number; end: number };
    try {
      range = resolveRange(key, size, opts, this.location);
    } catch (e) {
      await fh.close();
      throw e;
    }
    const { start, end } = range;
    if (end === start) {
      await fh.close();
      return (async function* () {})();
    }
    const stream = fh.createReadStream({ start, end: end - 1, autoClose: true, highWaterMark: 1 << 20 });
    const signal = opts?.signal;
    const onAbort = (): void => void stream.destroy(new StrataError('ABORTED', 'operation aborted', { key }));
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (e: unknown): StrataError => this.fail(e, key, 'read');
    const location = this.location;
    return (async function* () {
      let got = 0;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          got += chunk.length;
          yield chunk;
        }
      } catch (e) {
        throw fail(e);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        stream.destroy();
      }
      if (got !== end - start) {
        throw new StrataError('INTEGRITY', `${key} in ${location} came up short`, {
          key,
          location,
          expected: end - start,
          got,
        });
      }
    })();
  }

  /** Writes data to a temp file next to `path`, fsyncs it and renames it into place. */
  private async writeAtomic(
    key: string,
    path: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<void> {
    const dir = dirname(path);
    const tmp = `${path}.#tmp.${randomUUID()}`;
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, 'wx');
      try {
        if (data instanceof Uint8Array) {
          await fh.writeFile(data);
        } else {
          for await (const chunk of data) {
            throwIfAborted(signal);
            await fh.write(chunk);
          }
        }
        throwIfAborted(signal);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(tmp, path);
      } catch (e) {
        // Where rename cannot replace (read-only object, some platforms), an identical object counts as success.
        const code = errno(e);
        if (
          (code === 'EEXIST' || code === 'EPERM' || code === 'EACCES') &&
          (await this.sameContent(path, tmp))
        ) {
          await unlink(tmp).catch(() => {});
        } else {
          throw e;
        }
      }
      if (this.fsync) await this.syncDir(dir);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      const code = errno(e);
      if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENOTEMPTY') {
        throw new StrataError(
          'BAD_INPUT',
          `key ${key} collides with another key's directory in ${this.location}`,
          {
            key,
            location: this.location,
          },
        );
      }
      throw this.fail(e, key, 'write');
    }
  }

  private async sameContent(a: string, b: string): Promise<boolean> {
    try {
      const [x, y] = await Promise.all([readFile(a), readFile(b)]);
      return x.equals(y);
    } catch {
      return false;
    }
  }

  private async syncDir(dir: string): Promise<void> {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } catch (e) {
      // Some file systems refuse fsync on directories; the rename itself is still atomic there.
      if (errno(e) !== 'EINVAL' && errno(e) !== 'EPERM') throw e;
    } finally {
      await fh.close();
    }
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    await this.writeAtomic(key, this.pathOf(key), data, opts?.signal);
  }

  async has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    throwIfAborted(opts?.signal);
    const path = this.pathOf(key);
    try {
      return (await stat(path)).isFile();
    } catch (e) {
      const err = this.fail(e, key, 'stat');
      if (err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  async stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    const { fh, size } = await this.openForRead(key, opts?.signal);
    try {
      const h = createHasher();
      for await (const chunk of fh.createReadStream({
        autoClose: false,
        highWaterMark: 1 << 20,
      }) as AsyncIterable<Buffer>) {
        throwIfAborted(opts?.signal);
        h.update(chunk);
      }
      return { size, etag: h.digestHex() };
    } catch (e) {
      throw this.fail(e, key, 'stat');
    } finally {
      await fh.close();
    }
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    if (!/^[A-Za-z0-9._/-]*$/.test(prefix) || prefix.split('/').some((p) => p === '..' || p === '.')) {
      throw new StrataError('BAD_INPUT', `invalid list prefix ${JSON.stringify(prefix)}`, { prefix });
    }
    const signal = opts?.signal;
    const walk = async function* (this: LocalStore, dir: string, keyDir: string): AsyncGenerator<string> {
      throwIfAborted(signal);
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return;
        throw this.fail(e, keyDir, 'list');
      }
      for (const ent of entries) {
        if (ent.name.includes('#')) continue; // temp and lock files
        const key = keyDir + ent.name;
        if (ent.isDirectory()) {
          const sub = key + '/';
          if (sub.startsWith(prefix) || prefix.startsWith(sub))
            yield* walk.call(this, join(dir, ent.name), sub);
        } else if (ent.isFile() && key.startsWith(prefix)) {
          yield key;
        }
      }
    };
    // Start at the deepest directory the prefix names in full.
    const slash = prefix.lastIndexOf('/');
    const keyDir = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const dir = keyDir ? join(this.root, ...keyDir.split('/').filter(Boolean)) : this.root;
    if (keyDir.includes('//')) return;
    yield* walk.call(this, dir, keyDir);
  }

  async delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    throwIfAborted(opts?.signal);
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (e) {
      const err = this.fail(e, key, 'delete');
      if (err.code !== 'NOT_FOUND') throw err;
    }
  }

  async getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    const data = await this.get(key, opts);
    return { data, etag: hashBytes(data) };
  }

  async putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    throwIfAborted(opts?.signal);
    const path = this.pathOf(key);
    return this.withLock(key, path, opts?.signal, async () => {
      let current: ETag | null = null;
      try {
        current = hashBytes(await readFile(path));
      } catch (e) {
        const err = this.fail(e, key, 'read');
        if (err.code !== 'NOT_FOUND') throw err;
      }
      if (current !== ifMatch) {
        throw new StrataError('CONFLICT', `${key} in ${this.location} changed (compare-and-swap failed)`, {
          key,
        });
      }
      throwIfAborted(opts?.signal);
      await this.writeAtomic(key, path, data);
      return hashBytes(data);
    });
  }

  private async withLock<T>(
    key: string,
    path: string,
    signal: AbortSignal | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    const lock = `${path}.#lock`;
    const nonce = randomUUID();
    const deadline = Date.now() + this.lockTimeoutMs;
    let delay = 1;
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (e) {
      throw this.fail(e, key, 'lock');
    }
    // The lock is written complete under a name of its own, then hard-linked into place: a process killed
    // while taking it never leaves an empty lock that only its age could tell stale (found by the crash
    // harness: a killed push's empty lock outlived the next push's wait).
    const mine = `${lock}.${nonce}`;
    for (;;) {
      throwIfAborted(signal);
      try {
        await writeFile(
          mine,
          JSON.stringify({ pid: process.pid, host: hostname(), nonce, time: Date.now() }),
        );
        await link(mine, lock);
        break;
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw this.fail(e, key, 'lock');
      } finally {
        await unlink(mine).catch(() => {});
      }
      await this.breakStaleLock(lock);
      if (Date.now() > deadline) {
        throw new StrataError('IO', `timed out waiting for the lock on ${key} in ${this.location}`, {
          key,
          location: this.location,
        });
      }
      await sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 50);
    }
    try {
      return await fn();
    } finally {
      // Release only our own lock: if it was broken as stale meanwhile, it belongs to someone else now.
      const owner = await this.readLock(lock);
      if (owner?.nonce === nonce) await unlink(lock).catch(() => {});
    }
  }

  private async readLock(
    lock: string,
  ): Promise<{ pid: number; host: string; nonce: string; time: number } | undefined> {
    try {
      return JSON.parse(await readFile(lock, 'utf8')) as {
        pid: number;
        host: string;
        nonce: string;
        time: number;
      };
    } catch {
      return undefined;
    }
  }

  /** Removes a lock whose owner died (same host) or that is older than lockStaleMs. */
  private async breakStaleLock(lock: string): Promise<void> {
    const owner = await this.readLock(lock);
    let stale: boolean;
    if (owner) {
      stale =
        Date.now() - owner.time > this.lockStaleMs || (owner.host === hostname() && !pidAlive(owner.pid));
    } else {
      // Unreadable: either being written right now or left half-written by a crash; judge by its age.
      const st = await stat(lock).catch(() => undefined);
      stale = st !== undefined && Date.now() - st.mtimeMs > this.lockStaleMs;
    }
    if (!stale) return;
    // Move it aside first, then check we moved the lock we judged: two breakers must not both win.
    const aside = `${lock}.#broken.${randomUUID()}`;
    try {
      await rename(lock, aside);
    } catch {
      return;
    }
    const moved = await this.readLock(aside);
    if (owner && moved?.nonce !== owner.nonce) {
      // We moved a fresh lock taken after our look: put it back (fails harmlessly if a new one exists).
      await link(aside, lock).catch(() => {});
    }
    await unlink(aside).catch(() => {});
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}
