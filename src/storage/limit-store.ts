/**
 * LimitStore: bounds the requests in flight against any ObjectStore (p-limit). A put holds its slot for the
 * whole upload; getStream holds one only while opening (the caller paces the body); list takes a slot for
 * each step of its iteration (one page request at most).
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { ETag, GetOptions, ObjectStore, PutOptions, StatResult } from './object-store.js';

export class LimitStore implements ObjectStore {
  readonly location: string;
  private readonly limit: LimitFunction;

  constructor(
    readonly inner: ObjectStore,
    concurrency = 16,
  ) {
    this.location = inner.location;
    this.limit = pLimit(concurrency);
  }

  /** Requests running now and waiting for a slot (for tests and progress). */
  get activeCount(): number {
    return this.limit.activeCount;
  }
  get pendingCount(): number {
    return this.limit.pendingCount;
  }

  get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    return this.limit(() => this.inner.get(key, opts));
  }
  getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    return this.limit(() => this.inner.getStream(key, opts));
  }
  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    return this.limit(() => this.inner.put(key, data, opts));
  }
  has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    return this.limit(() => this.inner.has(key, opts));
  }
  stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    return this.limit(() => this.inner.stat(key, opts));
  }
  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    const it = this.inner.list(prefix, opts)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const r = await this.limit(() => it.next());
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    return this.limit(() => this.inner.delete(key, opts));
  }
  putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    return this.limit(() => this.inner.putIfMatch(key, data, ifMatch, opts));
  }
  getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    return this.limit(() => this.inner.getWithEtag(key, opts));
  }
  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
