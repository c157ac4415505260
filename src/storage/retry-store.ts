/**
 * RetryStore: retries transient failures (NETWORK: connection resets, timeouts, 5xx, throttling such as 503
 * SlowDown) of any ObjectStore with exponential backoff and jitter (p-retry). CONFLICT, NOT_FOUND, INTEGRITY,
 * BAD_INPUT, ABORTED and the rest are never retried.
 *
 * - A put of a ReplayableBody (object-store.ts) is retried by iterating it again, without a copy. Any other
 *   stream can only be retried from a copy: streams up to `maxBufferBytes` (default 64 MiB) are buffered and
 *   retried; a larger stream gets one attempt.
 * - getStream resumes a broken transfer with a ranged read from where it stopped.
 * - list restarts a broken listing and skips the keys it already yielded, so each key still comes once.
 * - A retried putIfMatch whose first attempt landed but lost its response comes back CONFLICT; the error then
 *   carries `data.ambiguous = true` and the caller must re-read the key to tell (see docs/STORAGE.md).
 */
import pRetry from 'p-retry';
import { setTimeout as sleep } from 'node:timers/promises';
import { StrataError, isStrataError, throwIfAborted } from './errors.js';
import {
  isReplayable,
  type ETag,
  type GetOptions,
  type ObjectStore,
  type PutOptions,
  type StatResult,
} from './object-store.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** First backoff (default 100 ms), doubling up to maxTimeoutMs (default 5 s), randomized. */
  minTimeoutMs?: number;
  maxTimeoutMs?: number;
  /** Largest stream a put buffers so that it can be retried (default 64 MiB). */
  maxBufferBytes?: number;
  /** Told about every failed attempt that will be retried (for logs and tests). */
  onRetry?: (info: { op: string; key: string; attempt: number; error: StrataError }) => void;
}

/** Whether an error is transient: worth another attempt of the same request. */
export const isRetryable = (e: unknown): boolean => isStrataError(e, 'NETWORK');

export class RetryStore implements ObjectStore {
  readonly location: string;
  private readonly retries: number;
  private readonly minTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly maxBufferBytes: number;

  constructor(
    readonly inner: ObjectStore,
    private readonly opts: RetryOptions = {},
  ) {
    this.location = inner.location;
    this.retries = opts.retries ?? 5;
    this.minTimeoutMs = opts.minTimeoutMs ?? 100;
    this.maxTimeoutMs = opts.maxTimeoutMs ?? 5000;
    this.maxBufferBytes = opts.maxBufferBytes ?? 64 * 1024 * 1024;
  }

  private async run<T>(
    op: string,
    key: string,
    signal: AbortSignal | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    throwIfAborted(signal);
    let attempts = 0;
    try {
      return await pRetry(
        async () => {
          attempts++;
          return fn();
        },
        {
          retries: this.retries,
          minTimeout: this.minTimeoutMs,
          maxTimeout: this.maxTimeoutMs,
          factor: 2,
          randomize: true,
          signal,
          shouldRetry: (e) => isRetryable(e),
          onFailedAttempt: (e) => {
            if (isRetryable(e) && e.retriesLeft > 0) {
              this.opts.onRetry?.({ op, key, attempt: e.attemptNumber, error: e as unknown as StrataError });
            }
          },
        },
      );
    } catch (e) {
      if (signal?.aborted && !isStrataError(e))
        throw new StrataError('ABORTED', 'operation aborted', { key, op });
      if (isStrataError(e, 'CONFLICT') && attempts > 1) {
        // An earlier attempt may have landed with its response lost: the conflict may be with ourselves.
        throw new StrataError('CONFLICT', e.message, { ...e.data, ambiguous: true, attempts });
      }
      throw e;
    }
  }

  private backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const ms = Math.min(this.maxTimeoutMs, this.minTimeoutMs * 2 ** (attempt - 1)) * (1 + Math.random());
    return sleep(ms, undefined, { signal }).catch(() => throwIfAborted(signal));
  }

  get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    return this.run('get', key, opts?.signal, () => this.inner.get(key, opts));
  }

  async getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    const first = await this.run('getStream', key, opts?.signal, () => this.inner.getStream(key, opts));
    const reopen = (done: number): Promise<AsyncIterable<Uint8Array>> =>
      this.run('getStream', key, opts?.signal, () =>
        this.inner.getStream(key, {
          ...opts,
          offset: (opts?.offset ?? 0) + done,
          length: opts?.length === undefined ? undefined : opts.length - done,
        }),
      );
    const retries = this.retries;
    const onRetry = this.opts.onRetry;
    const backoff = (attempt: number): Promise<void> => this.backoff(attempt, opts?.signal);
    return (async function* () {
      let cur = first;
      let done = 0;
      let attempt = 0;
      for (;;) {
        try {
          for await (const chunk of cur) {
            done += chunk.length;
            yield chunk;
          }
          return;
        } catch (e) {
          if (!isRetryable(e) || ++attempt > retries) throw e;
          onRetry?.({ op: 'getStream', key, attempt, error: e as StrataError });
          await backoff(attempt);
          cur = await reopen(done);
        }
      }
    })();
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    if (data instanceof Uint8Array || isReplayable(data))
      return this.run('put', key, opts?.signal, () => this.inner.put(key, data, opts));
    const it = data[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        const all = Buffer.concat(head);
        return this.run('put', key, opts?.signal, () => this.inner.put(key, all, opts));
      }
      head.push(r.value);
      size += r.value.length;
      if (size > this.maxBufferBytes) break;
    }
    // Too large to hold: one attempt, streaming what was read and the rest.
    const rest = (async function* () {
      yield* head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })();
    return this.inner.put(key, rest, opts);
  }

  has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    return this.run('has', key, opts?.signal, () => this.inner.has(key, opts));
  }

  stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    return this.run('stat', key, opts?.signal, () => this.inner.stat(key, opts));
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    const seen = new Set<string>();
    let attempt = 0;
    for (;;) {
      try {
        for await (const k of this.inner.list(prefix, opts)) {
          if (seen.has(k)) continue;
          seen.add(k);
          yield k;
        }
        return;
      } catch (e) {
        if (!isRetryable(e) || ++attempt > this.retries) throw e;
        this.opts.onRetry?.({ op: 'list', key: prefix, attempt, error: e as StrataError });
        await this.backoff(attempt, opts?.signal);
      }
    }
  }

  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    return this.run('delete', key, opts?.signal, () => this.inner.delete(key, opts));
  }

  putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    return this.run('putIfMatch', key, opts?.signal, () => this.inner.putIfMatch(key, data, ifMatch, opts));
  }

  getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    return this.run('getWithEtag', key, opts?.signal, () => this.inner.getWithEtag(key, opts));
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
