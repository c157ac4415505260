/**
 * ObjectStore: bytes by key. The one interface every backend (memory, local directory, S3) implements and
 * that the shared conformance suite (test/storage/conformance.ts) checks. Cleverness - packing, indexing,
 * retries, concurrency limits - lives above it or in wrappers implementing the same interface.
 *
 * Keys are '/'-separated relative paths of [A-Za-z0-9._-] components (never '.', '..' or empty).
 */
import { StrataError, throwIfAborted } from './errors.js';

export interface GetOptions {
  /** Byte offset to start at (default 0). */
  offset?: number;
  /** Number of bytes to read; a range that comes up short is an error (INTEGRITY). */
  length?: number;
  signal?: AbortSignal;
}

export interface PutOptions {
  signal?: AbortSignal;
}

/** An opaque version tag of a stored value (S3 ETag, or a content hash for local stores). */
export type ETag = string;

export interface StatResult {
  size: number;
  etag: ETag;
}

export interface ObjectStore {
  /** A human-readable location for messages, never containing credentials. */
  readonly location: string;
  /** Reads a key, or a byte range of it. Missing key: NOT_FOUND. */
  get(key: string, opts?: GetOptions): Promise<Uint8Array>;
  /** Streams a key (or range) without holding it whole in memory. */
  getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>>;
  /** Atomic, idempotent write: readers see the old value or the new one, never a part. */
  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void>;
  has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean>;
  stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult>;
  /** Every key under the prefix exactly once, in no promised order. */
  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string>;
  /** Deleting a missing key is not an error. */
  delete(key: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Compare-and-swap for small mutable values (refs): `ifMatch: null` creates only if absent; an etag
   * replaces only if the current value still has it. Otherwise CONFLICT. Returns the new etag.
   */
  putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag>;
  /** Reads a small value together with its etag (for a later putIfMatch). */
  getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }>;
  close?(): Promise<void>;
}

/**
 * A put body that can be read again from its start: every iteration yields the same bytes afresh (built with
 * `replayable`). RetryStore retries a put of one by iterating it again, with no buffered copy, so a body may be
 * far larger than what a process can hold; every other store simply iterates it once.
 */
export interface ReplayableBody extends AsyncIterable<Uint8Array> {
  readonly replayable: true;
}

/** A ReplayableBody whose every iteration calls `open` for a fresh stream of the same bytes. */
export function replayable(open: () => AsyncIterable<Uint8Array>): ReplayableBody {
  return { replayable: true, [Symbol.asyncIterator]: () => open()[Symbol.asyncIterator]() };
}

export const isReplayable = (data: unknown): data is ReplayableBody =>
  typeof data === 'object' &&
  data !== null &&
  (data as { replayable?: unknown }).replayable === true &&
  Symbol.asyncIterator in data;

const KEY_COMPONENT = /^[A-Za-z0-9._-]+$/;

/** Validates an object-store key; throws BAD_INPUT for anything that could escape the store's root. */
export function checkKey(key: string): void {
  const parts = key.split('/');
  for (const p of parts) {
    if (!KEY_COMPONENT.test(p) || p === '.' || p === '..') {
      throw new StrataError('BAD_INPUT', `invalid object key ${JSON.stringify(key)}`, { key });
    }
  }
}

/** Resolves a GetOptions range against an object's size; INTEGRITY when the range reaches past the end. */
export function resolveRange(
  key: string,
  size: number,
  opts: GetOptions | undefined,
  location: string,
): { start: number; end: number } {
  const start = opts?.offset ?? 0;
  const length = opts?.length ?? Math.max(0, size - start);
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new StrataError('BAD_INPUT', `invalid byte range for ${key}`, { key, offset: start, length });
  }
  if (start + length > size) {
    throw new StrataError(
      'INTEGRITY',
      `range ${start}+${length} of ${key} in ${location} is past its end (${size})`,
      {
        key,
        location,
        offset: start,
        length,
        size,
      },
    );
  }
  return { start, end: start + length };
}

/** Gathers bytes from an iterable into one buffer, honouring an abort signal between chunks. */
export async function readAll(
  data: Uint8Array | AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const parts: Uint8Array[] = [];
  for await (const chunk of data) {
    throwIfAborted(signal);
    parts.push(chunk);
  }
  throwIfAborted(signal);
  return Buffer.concat(parts);
}
