/**
 * RemoteObjectReader: an ObjectReader (src/core/object-reader.ts) straight from a remote's packs, with
 * coalesced ranged GETs, parallel, bounded read-ahead, every object hash-verified. `open(pin)` for
 * training builds on it:
 *
 *   const reader = await RemoteObjectReader.open('s3://bucket/prefix');
 *   const commit = await readCommit(reader, hash);
 */
import { StrataError, throwIfAborted } from '../../storage/errors.js';
import type { ObjectStore } from '../../storage/object-store.js';
import type { ObjectReader } from '../object-reader.js';
import { requireRemoteConfig, type RemoteConfigFile } from './layout.js';
import { loadRemoteIndex, type RemoteIndex, type RemoteObjectLocation } from './remote-index.js';
import { openRemoteStore, type RemoteSettings } from './remotes.js';
import { planReads, readRanges, verifyEncoded, type RangeOptions } from './ranges.js';
import { packKey } from './layout.js';

export interface RemoteReaderOptions extends RangeOptions {
  /**
   * Bytes of objects held ahead of the consumer in getMany, counted decoded (what is kept in memory): two
   * windows of half this, one being consumed while the next is fetched (default 64 MiB).
   */
  readAheadBytes?: number;
}

export class RemoteObjectReader implements ObjectReader {
  constructor(
    readonly store: ObjectStore,
    readonly index: RemoteIndex,
    readonly opts: RemoteReaderOptions = {},
    readonly config?: RemoteConfigFile,
  ) {}

  /** Opens a remote by URL: reads strata.json (refusing unknown formats) and every pack index. */
  static async open(
    urlOrStore: string | ObjectStore,
    opts: RemoteReaderOptions & { settings?: RemoteSettings } = {},
  ): Promise<RemoteObjectReader> {
    const store = typeof urlOrStore === 'string' ? openRemoteStore(urlOrStore, opts.settings) : urlOrStore;
    const config = await requireRemoteConfig(store);
    const index = await loadRemoteIndex(store, opts.signal);
    return new RemoteObjectReader(store, index, opts, config);
  }

  private locate(hash: string): RemoteObjectLocation {
    const l = this.index.find(hash);
    if (!l)
      throw new StrataError('NOT_FOUND', `object ${hash} not found on ${this.store.location}`, {
        hash,
        location: this.store.location,
      });
    return l;
  }

  async get(hash: string, opts?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const l = this.locate(hash);
    const key = packKey(l.pack);
    const bytes = await this.store.get(key, { offset: l.offset, length: l.length, signal: opts?.signal });
    return verifyEncoded(l, bytes, `${this.store.location}/${key}`);
  }

  /** Yields objects in the order asked; fetches the next window of up to readAheadBytes while one is consumed. */
  async *getMany(
    hashes: Iterable<string>,
    opts?: { signal?: AbortSignal },
  ): AsyncGenerator<{ hash: string; data: Uint8Array }> {
    const signal = opts?.signal ?? this.opts.signal;
    const windowBytes = Math.max(1, (this.opts.readAheadBytes ?? 64 * 1024 * 1024) / 2);
    const it = hashes[Symbol.iterator]();
    const nextWindow = (): RemoteObjectLocation[] => {
      const w: RemoteObjectLocation[] = [];
      let bytes = 0;
      while (bytes < windowBytes) {
        const r = it.next();
        if (r.done) break;
        const l = this.locate(r.value);
        w.push(l);
        // Counted decoded: a window of 32 MiB of zstd holds ~100 MB of raw chunks once fetched.
        bytes += Math.max(l.length, l.rawLength);
      }
      return w;
    };
    const fetchWindow = async (w: RemoteObjectLocation[]): Promise<Map<string, Uint8Array>> => {
      const got = new Map<string, Uint8Array>();
      await readRanges(this.store, planReads(w, this.opts), (l, _enc, raw) => void got.set(l.hash, raw), {
        ...this.opts,
        signal,
      });
      return got;
    };
    let window = nextWindow();
    let pending = window.length ? fetchWindow(window) : undefined;
    // Avoid unhandled rejections of a prefetch the consumer never waits for.
    pending?.catch(() => {});
    while (pending) {
      const got = await pending;
      const cur = window;
      window = nextWindow();
      pending = window.length ? fetchWindow(window) : undefined;
      pending?.catch(() => {});
      for (const l of cur) {
        throwIfAborted(signal);
        yield { hash: l.hash, data: got.get(l.hash)! };
      }
    }
  }
}
