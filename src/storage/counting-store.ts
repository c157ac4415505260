/**
 * CountingStore: counts the calls made to any ObjectStore, per operation (for tests such as "a second push of
 * an unchanged repository makes at most 5 requests", and for progress). Counts calls, not HTTP requests: a
 * multipart put is one `put`; test/helpers/fault-proxy.ts counts the HTTP requests themselves.
 */
import type { ETag, GetOptions, ObjectStore, PutOptions, StatResult } from './object-store.js';

export type StoreOp =
  'get' | 'getStream' | 'put' | 'has' | 'stat' | 'list' | 'delete' | 'putIfMatch' | 'getWithEtag';

export class CountingStore implements ObjectStore {
  readonly location: string;
  counts: Record<StoreOp, number> = CountingStore.zero();
  /** Every call in order, as [op, key]. */
  calls: [StoreOp, string][] = [];

  constructor(readonly inner: ObjectStore) {
    this.location = inner.location;
  }

  private static zero(): Record<StoreOp, number> {
    return {
      get: 0,
      getStream: 0,
      put: 0,
      has: 0,
      stat: 0,
      list: 0,
      delete: 0,
      putIfMatch: 0,
      getWithEtag: 0,
    };
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  reset(): void {
    this.counts = CountingStore.zero();
    this.calls = [];
  }

  private count(op: StoreOp, key: string): void {
    this.counts[op]++;
    this.calls.push([op, key]);
  }

  get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    this.count('get', key);
    return this.inner.get(key, opts);
  }
  getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    this.count('getStream', key);
    return this.inner.getStream(key, opts);
  }
  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    this.count('put', key);
    return this.inner.put(key, data, opts);
  }
  has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    this.count('has', key);
    return this.inner.has(key, opts);
  }
  stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    this.count('stat', key);
    return this.inner.stat(key, opts);
  }
  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    this.count('list', prefix);
    return this.inner.list(prefix, opts);
  }
  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    this.count('delete', key);
    return this.inner.delete(key, opts);
  }
  putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    this.count('putIfMatch', key);
    return this.inner.putIfMatch(key, data, ifMatch, opts);
  }
  getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    this.count('getWithEtag', key);
    return this.inner.getWithEtag(key, opts);
  }
  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
