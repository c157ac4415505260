/**
 * LazyStore: an ObjectStore whose backend module is loaded on first use. Keeps the AWS SDK (~0.3 s to
 * import) out of every command that never touches S3.
 */
import type { ETag, GetOptions, ObjectStore, PutOptions, StatResult } from './object-store.js';

export class LazyStore implements ObjectStore {
  private inner: Promise<ObjectStore> | undefined;

  constructor(
    readonly location: string,
    private readonly load: () => Promise<ObjectStore>,
  ) {}

  /** The loaded backend (loading it if needed). */
  resolve(): Promise<ObjectStore> {
    return this.store();
  }

  private store(): Promise<ObjectStore> {
    return (this.inner ??= this.load());
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    return (await this.store()).get(key, opts);
  }
  async getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    return (await this.store()).getStream(key, opts);
  }
  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    return (await this.store()).put(key, data, opts);
  }
  async has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    return (await this.store()).has(key, opts);
  }
  async stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    return (await this.store()).stat(key, opts);
  }
  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    yield* (await this.store()).list(prefix, opts);
  }
  async delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    return (await this.store()).delete(key, opts);
  }
  async putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    return (await this.store()).putIfMatch(key, data, ifMatch, opts);
  }
  async getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    return (await this.store()).getWithEtag(key, opts);
  }
  async close(): Promise<void> {
    if (this.inner) await (await this.inner).close?.();
  }
}
