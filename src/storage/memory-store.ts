/**
 * MemoryStore: an ObjectStore in a Map, for tests and for `memory://name` URLs. Values are copied in and out so
 * callers can never mutate what is stored; etags are the BLAKE3 of the content, like the local store's.
 */
import { StrataError, notFound, throwIfAborted } from './errors.js';
import { hashBytes } from './hash.js';
import {
  checkKey,
  readAll,
  resolveRange,
  type ETag,
  type GetOptions,
  type ObjectStore,
  type PutOptions,
  type StatResult,
} from './object-store.js';

interface Entry {
  data: Uint8Array;
  etag: ETag;
}

export class MemoryStore implements ObjectStore {
  readonly location: string;
  private readonly objects = new Map<string, Entry>();

  constructor(name = 'anonymous') {
    this.location = `memory://${name}`;
  }

  private entry(key: string, signal?: AbortSignal): Entry {
    throwIfAborted(signal);
    checkKey(key);
    const e = this.objects.get(key);
    if (!e) throw notFound(`object ${key} in ${this.location}`, { key, location: this.location });
    return e;
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    const e = this.entry(key, opts?.signal);
    const { start, end } = resolveRange(key, e.data.length, opts, this.location);
    return new Uint8Array(e.data.subarray(start, end));
  }

  async getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    const bytes = await this.get(key, opts);
    const signal = opts?.signal;
    return (async function* () {
      const step = 1 << 20;
      for (let i = 0; i < bytes.length; i += step) {
        throwIfAborted(signal);
        yield bytes.subarray(i, i + step);
      }
    })();
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    checkKey(key);
    const bytes = new Uint8Array(await readAll(data, opts?.signal));
    this.objects.set(key, { data: bytes, etag: hashBytes(bytes) });
  }

  async has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    throwIfAborted(opts?.signal);
    checkKey(key);
    return this.objects.has(key);
  }

  async stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    const e = this.entry(key, opts?.signal);
    return { size: e.data.length, etag: e.etag };
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    throwIfAborted(opts?.signal);
    // Snapshot first: keys written during the iteration may or may not appear, but none appears twice.
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix));
    for (const k of keys) {
      throwIfAborted(opts?.signal);
      yield k;
    }
  }

  async delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    throwIfAborted(opts?.signal);
    checkKey(key);
    this.objects.delete(key);
  }

  async putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    throwIfAborted(opts?.signal);
    checkKey(key);
    const current = this.objects.get(key);
    if (ifMatch === null ? current !== undefined : current?.etag !== ifMatch) {
      throw new StrataError('CONFLICT', `${key} in ${this.location} changed (compare-and-swap failed)`, {
        key,
      });
    }
    const bytes = new Uint8Array(data);
    const etag = hashBytes(bytes);
    this.objects.set(key, { data: bytes, etag });
    return etag;
  }

  async getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    const e = this.entry(key, opts?.signal);
    return { data: new Uint8Array(e.data), etag: e.etag };
  }
}
