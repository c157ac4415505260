/**
 * openStore: an ObjectStore from a URL.
 *
 *   s3://bucket/prefix        S3Store wrapped as RetryStore(LimitStore(S3Store))
 *   file:///abs/path, a path  LocalStore
 *   memory://name             MemoryStore, one per name per process (two opens share the data)
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from './errors.js';
import { LimitStore } from './limit-store.js';
import { LocalStore, type LocalStoreOptions } from './local-store.js';
import { MemoryStore } from './memory-store.js';
import { checkKey, type ObjectStore } from './object-store.js';
import { RetryStore, type RetryOptions } from './retry-store.js';
import { LazyStore } from './lazy-store.js';
import type { S3StoreOptions } from './s3-store.js';

export interface OpenStoreOptions {
  /** S3 settings other than bucket and prefix (endpoint, region, forcePathStyle, credentials, checksums ...). */
  s3?: Omit<S3StoreOptions, 'bucket' | 'prefix'>;
  /** Requests in flight against a remote store (default 16). */
  concurrency?: number;
  /** Retry settings for remote stores; false turns retries off. */
  retry?: RetryOptions | false;
  local?: LocalStoreOptions;
  /** Base for relative paths (default process.cwd()). */
  cwd?: string;
}

const memoryStores = new Map<string, MemoryStore>();

const bad = (message: string, data: Record<string, unknown> = {}): StrataError =>
  new StrataError('BAD_INPUT', message, data);

/** The store a URL names; unknown schemes and malformed URLs are BAD_INPUT. */
export function openStore(url: string, opts: OpenStoreOptions = {}): ObjectStore {
  if (typeof url !== 'string' || url.trim() === '') throw bad('empty store URL');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    // Never echo a URL that carries credentials.
    if (bucket.includes('@') || bucket.includes(':'))
      throw bad('credentials do not belong in an s3:// URL; use the AWS credential chain');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      throw bad(`invalid S3 bucket in ${JSON.stringify(url)}`, { url });
    if (/[?#]/.test(prefix)) throw bad(`invalid S3 prefix in ${JSON.stringify(url)}`, { url });
    if (prefix) {
      try {
        checkKey(prefix);
      } catch {
        throw bad(`invalid S3 prefix in ${JSON.stringify(url)}`, { url });
      }
    }
    // The AWS SDK loads on first use, not for every command that merely could reach S3.
    let store: ObjectStore = new LazyStore(
      `s3://${bucket}${prefix ? '/' + prefix : ''}`,
      async () => new (await import('./s3-store.js')).S3Store({ ...opts.s3, bucket, prefix }),
    );
    store = new LimitStore(store, opts.concurrency ?? 16);
    if (opts.retry !== false) store = new RetryStore(store, opts.retry ?? retryFromEnv());
    return store;
  }
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (e) {
      throw bad(`invalid file URL ${JSON.stringify(url)}: ${(e as Error).message}`, { url });
    }
    return new LocalStore(path, opts.local);
  }
  if (scheme === 'memory') {
    const name = url.slice('memory://'.length);
    if (!/^[A-Za-z0-9._-]+$/.test(name))
      throw bad(`invalid memory store name in ${JSON.stringify(url)}`, { url });
    let store = memoryStores.get(name);
    if (!store) memoryStores.set(name, (store = new MemoryStore(name)));
    return store;
  }
  if (scheme !== undefined) throw bad(`unsupported store URL scheme ${JSON.stringify(scheme)}`, { scheme });
  if (url.includes('\0')) throw bad('invalid path', {});
  const path = isAbsolute(url) ? url : resolve(opts.cwd ?? process.cwd(), url);
  return new LocalStore(path, opts.local);
}

/**
 * STRATA_S3_RETRIES: how many times a failed S3 request is retried (default 5, with backoff from 100 ms
 * doubling up to 5 s): 0 fails fast where a dead endpoint should be reported at once.
 */
function retryFromEnv(): RetryOptions {
  const v = process.env.STRATA_S3_RETRIES;
  if (v === undefined || v === '') return {};
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
    throw new StrataError('BAD_INPUT', `STRATA_S3_RETRIES=${v}: expected a non-negative integer`, {
      value: v,
    });
  return { retries: n };
}
