/**
 * S3Store: an ObjectStore on an S3 bucket (or an S3-compatible server: MinIO, moto, R2 ...) via
 * @aws-sdk/client-s3. Ranged GETs, multipart upload for large puts (streamed, parts uploaded with bounded
 * parallelism, the upload aborted on failure), conditional writes (`If-None-Match: *` / `If-Match`) for
 * putIfMatch.
 *
 * The SDK's own retries are off by default (maxAttempts 1): RetryStore retries whole operations, so one layer
 * decides, request counts stay honest, and a stream is never half-retried. Native errors are converted here,
 * at the edge, into StrataError codes; no message, data or location ever carries a credential.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { StrataError, throwIfAborted } from './errors.js';
import {
  checkKey,
  readAll,
  type ETag,
  type GetOptions,
  type ObjectStore,
  type PutOptions,
  type StatResult,
} from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or 'team/datasets'); slashes at either end are ignored. */
  prefix?: string;
  /** Default: AWS_REGION / AWS_DEFAULT_REGION, else the SDK's chain; 'us-east-1' with a custom endpoint. */
  region?: string;
  /** Default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS. */
  endpoint?: string;
  /** Path-style addressing; default true when a custom endpoint is set. */
  forcePathStyle?: boolean;
  /** Default: the SDK's default credential chain (env, shared config/SSO, web identity, instance metadata). */
  credentials?: S3ClientConfig['credentials'];
  /** 'WHEN_REQUIRED' for S3-compatible servers that reject the SDK's default CRC checksums. */
  requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Multipart part size and the size above which a put goes multipart (default 8 MiB; at least 5 MiB). */
  partSize?: number;
  /** Parts of one upload in flight at once (default 4). */
  partConcurrency?: number;
  /**
   * Part buffers a store holds at once across all its streamed puts (default 8, at least 2): the memory of
   * streamed uploads is bounded by maxBufferedParts x partSize however many run at once and however large
   * they are. A put of a Uint8Array sends views of it and takes no buffer.
   */
  maxBufferedParts?: number;
  /** SDK-level attempts (default 1: RetryStore does the retrying). */
  maxAttempts?: number;
  /** HTTP connections kept per store (default 64). */
  maxSockets?: number;
  /** Milliseconds to wait for a TCP connection (default 10 s). */
  connectionTimeoutMs?: number;
}

const MiB = 1024 * 1024;
const NETWORK_ERRNOS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);
const THROTTLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

/** Removes anything that looks like an AWS access key id or a signature from a message. */
function scrub(text: string, secrets: string[]): string {
  let out = text.replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, '[redacted]');
  out = out.replace(/(Signature|Credential|X-Amz-Security-Token)=[^&\s,]+/gi, '$1=[redacted]');
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out.length > 300 ? out.slice(0, 300) + '…' : out;
}

/** The endpoint without user info or query, for messages. */
function safeEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '[endpoint]';
  }
}

export class S3Store implements ObjectStore {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  /** The part buffers of streamed puts (see maxBufferedParts). */
  readonly partBuffers: PartBuffers;
  private readonly secrets: string[] = [];

  constructor(opts: S3StoreOptions) {
    if (!opts.bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(opts.bucket)) {
      throw new StrataError('BAD_INPUT', `invalid S3 bucket name ${JSON.stringify(opts.bucket)}`, {
        bucket: opts.bucket,
      });
    }
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix) checkKey(this.prefix);
    const endpoint =
      opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? undefined;
    const region =
      opts.region ??
      process.env.AWS_REGION ??
      process.env.AWS_DEFAULT_REGION ??
      (endpoint ? 'us-east-1' : undefined);
    this.partSize = Math.max(5 * MiB, opts.partSize ?? 8 * MiB);
    this.partConcurrency = Math.max(1, opts.partConcurrency ?? 4);
    this.partBuffers = new PartBuffers(Math.max(2, opts.maxBufferedParts ?? 8), this.partSize);
    const creds = opts.credentials;
    if (creds && typeof creds === 'object' && 'secretAccessKey' in creds) {
      this.secrets.push(creds.secretAccessKey, creds.accessKeyId, creds.sessionToken ?? '');
    }
    for (const v of ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN']) {
      const s = process.env[v];
      if (s) this.secrets.push(s);
    }
    const maxSockets = opts.maxSockets ?? 64;
    const checksum = opts.requestChecksumCalculation ?? 'WHEN_SUPPORTED';
    this.client = new S3Client({
      region,
      endpoint,
      forcePathStyle: opts.forcePathStyle ?? Boolean(endpoint),
      credentials: opts.credentials,
      maxAttempts: opts.maxAttempts ?? 1,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      requestHandler: {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
        connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
      },
    });
    this.location = `s3://${this.bucket}${this.prefix ? '/' + this.prefix : ''}${endpoint ? ` (${safeEndpoint(endpoint)})` : ''}`;
  }

  private full(key: string): string {
    checkKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** Converts an SDK or socket error into a StrataError with a code; never includes credentials. */
  private mapError(e: unknown, op: string, key: string, signal?: AbortSignal): StrataError {
    if (e instanceof StrataError) return e;
    const err = (typeof e === 'object' && e !== null ? e : {}) as SdkErrorShape;
    const name = err.name ?? 'Error';
    const status = err.$metadata?.httpStatusCode ?? err.$response?.statusCode;
    const data = { key, location: this.location, op, status, s3Code: name };
    const what = `S3 ${op} ${key} in ${this.location}`;
    const detail = scrub(
      `${name}${status ? ` (HTTP ${status})` : ''}${err.message && err.message !== name ? `: ${err.message}` : ''}`,
      this.secrets,
    );
    if (signal?.aborted || name === 'AbortError')
      return new StrataError('ABORTED', 'operation aborted', { key, op });
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || status === 404) {
      return new StrataError(
        'NOT_FOUND',
        `${what}: not found${name === 'NoSuchBucket' ? ' (no such bucket)' : ''}`,
        data,
      );
    }
    if (
      status === 412 ||
      status === 409 ||
      name === 'PreconditionFailed' ||
      name === 'ConditionalRequestConflict'
    ) {
      return new StrataError('CONFLICT', `${what}: changed concurrently (compare-and-swap failed)`, data);
    }
    if (status === 416 || name === 'InvalidRange') {
      return new StrataError('INTEGRITY', `${what}: range past the end of the object`, data);
    }
    const errno = err.code ?? (err as { cause?: { code?: string } }).cause?.code;
    if (
      (status !== undefined && (status >= 500 || status === 429)) ||
      THROTTLE_NAMES.has(name) ||
      (errno !== undefined && NETWORK_ERRNOS.has(errno)) ||
      (status === undefined &&
        /socket hang up|aborted|premature close|ECONNRESET|EPIPE|timed? ?out/i.test(err.message ?? ''))
    ) {
      return new StrataError('NETWORK', `${what} failed: ${detail}`, { ...data, retryable: true });
    }
    if (status === 400 && /Invalid(Argument|Request|BucketName)|KeyTooLong/.test(name)) {
      return new StrataError('BAD_INPUT', `${what} failed: ${detail}`, data);
    }
    return new StrataError('IO', `${what} failed: ${detail}`, data);
  }

  private async call<T>(
    op: string,
    key: string,
    signal: AbortSignal | undefined,
    fn: (o: { abortSignal?: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    throwIfAborted(signal);
    try {
      return await fn(signal ? { abortSignal: signal } : {});
    } catch (e) {
      throw this.mapError(e, op, key, signal);
    }
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    return readAll(await this.getStream(key, opts), opts?.signal);
  }

  async getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    const signal = opts?.signal;
    throwIfAborted(signal);
    const Key = this.full(key);
    const offset = opts?.offset ?? 0;
    const length = opts?.length;
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
    ) {
      throw new StrataError('BAD_INPUT', `invalid byte range for ${key}`, { key, offset, length });
    }
    const pastEnd = (size: number): StrataError =>
      new StrataError(
        'INTEGRITY',
        `range ${offset}+${length ?? 'end'} of ${key} in ${this.location} is past its end (${size})`,
        {
          key,
          location: this.location,
          offset,
          length,
          size,
        },
      );
    // An empty range cannot be said in a Range header: check the size instead.
    if (length === 0) {
      const { size } = await this.stat(key, { signal });
      if (offset > size) throw pastEnd(size);
      return (async function* () {})();
    }
    const Range =
      length !== undefined
        ? `bytes=${offset}-${offset + length - 1}`
        : offset > 0
          ? `bytes=${offset}-`
          : undefined;
    let res;
    try {
      res = await this.call('get', key, signal, (o) =>
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }), o),
      );
    } catch (e) {
      if ((e as StrataError).code !== 'INTEGRITY') throw e;
      // 416: the range starts at or past the end. Starting exactly at the end with no length is an empty read.
      const { size } = await this.stat(key, { signal });
      if (length === undefined && offset === size) return (async function* () {})();
      throw pastEnd(size);
    }
    const got = res.ContentLength ?? 0;
    const total = /\/(\d+)$/.exec(res.ContentRange ?? '')?.[1];
    const size = total !== undefined ? Number(total) : Range ? undefined : got;
    if (length !== undefined && size !== undefined && offset + length > size) {
      (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw pastEnd(size);
    }
    const body = res.Body as AsyncIterable<Uint8Array> | undefined;
    const mapError = (e: unknown): StrataError => this.mapError(e, 'get', key, signal);
    const location = this.location;
    return (async function* () {
      let n = 0;
      try {
        if (body) {
          for await (const chunk of body) {
            n += chunk.length;
            yield chunk;
          }
        }
      } catch (e) {
        throw mapError(e);
      } finally {
        (body as { destroy?: () => void } | undefined)?.destroy?.();
      }
      if (n !== got) {
        // The server promised `got` bytes and the connection delivered fewer: a transfer fault, retryable.
        throw new StrataError(
          'NETWORK',
          `S3 get ${key} in ${location}: response body truncated (${n} of ${got})`,
          {
            key,
            location,
            expected: got,
            got: n,
            retryable: true,
          },
        );
      }
    })();
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    const signal = opts?.signal;
    throwIfAborted(signal);
    const Key = this.full(key);
    const parts =
      data instanceof Uint8Array
        ? new SliceParts(data, this.partSize)
        : new StreamParts(data, this.partBuffers, signal);
    try {
      // Look ahead one part: a put that fits in one part is a single PutObject. The two buffers are taken
      // together, so puts waiting for their second never hold every buffer between them.
      await parts.reserve(2);
      const first = await parts.next();
      let second: Part | undefined;
      try {
        second = first ? await parts.next() : undefined;
      } catch (e) {
        if (first) parts.release(first);
        throw e;
      }
      if (!second) {
        const Body = first?.body ?? new Uint8Array(0);
        try {
          await this.call('put', key, signal, (o) =>
            this.client.send(
              new PutObjectCommand({ Bucket: this.bucket, Key, Body, ContentLength: Body.length }),
              o,
            ),
          );
        } finally {
          if (first) parts.release(first);
        }
        return;
      }
      await this.multipart(key, Key, [first!, second], parts, signal);
    } finally {
      await parts.close();
    }
  }

  private async multipart(
    key: string,
    Key: string,
    head: Part[],
    rest: Parts,
    signal?: AbortSignal,
  ): Promise<void> {
    let UploadId: string | undefined;
    try {
      ({ UploadId } = await this.call('put', key, signal, (o) =>
        this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }), o),
      ));
    } catch (e) {
      for (const p of head) rest.release(p);
      throw e;
    }
    const done: { PartNumber: number; ETag: string }[] = [];
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    let partNumber = 0;
    const upload = (part: Part): void => {
      const PartNumber = ++partNumber;
      const Body = part.body;
      const p = this.call('put', key, signal, (o) =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            PartNumber,
            Body,
            ContentLength: Body.length,
          }),
          o,
        ),
      )
        .then((r) => void done.push({ PartNumber, ETag: r.ETag ?? '' }))
        .catch((e: unknown) => void (failure ??= e))
        .finally(() => {
          inflight.delete(p);
          rest.release(part);
        });
      inflight.add(p);
    };
    try {
      for (const part of head) upload(part);
      for (;;) {
        while (inflight.size >= this.partConcurrency && failure === undefined) await Promise.race(inflight);
        if (failure !== undefined) break;
        const next = await rest.next();
        if (!next) break;
        upload(next);
      }
      await Promise.all(inflight);
      if (failure !== undefined) throw failure;
      throwIfAborted(signal);
      done.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.call('put', key, signal, (o) =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: done },
          }),
          o,
        ),
      );
    } catch (e) {
      await Promise.allSettled(inflight);
      // Without a signal: the abort must go out even when the caller's signal fired.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch(() => {});
      throw this.mapError(e, 'put', key, signal);
    }
  }

  async has(key: string, opts?: { signal?: AbortSignal }): Promise<boolean> {
    try {
      await this.stat(key, opts);
      return true;
    } catch (e) {
      if ((e as StrataError).code === 'NOT_FOUND') return false;
      throw e;
    }
  }

  async stat(key: string, opts?: { signal?: AbortSignal }): Promise<StatResult> {
    throwIfAborted(opts?.signal);
    const Key = this.full(key);
    const r = await this.call('stat', key, opts?.signal, (o) =>
      this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), o),
    );
    return { size: r.ContentLength ?? 0, etag: r.ETag ?? '' };
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<string> {
    throwIfAborted(opts?.signal);
    if (!/^[A-Za-z0-9._/-]*$/.test(prefix)) {
      throw new StrataError('BAD_INPUT', `invalid list prefix ${JSON.stringify(prefix)}`, { prefix });
    }
    const base = this.prefix ? this.prefix + '/' : '';
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call('list', prefix, opts?.signal, (o) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base + prefix,
            ContinuationToken,
            MaxKeys: 1000,
          }),
          o,
        ),
      );
      for (const obj of page.Contents ?? []) {
        if (obj.Key?.startsWith(base)) yield obj.Key.slice(base.length);
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async delete(key: string, opts?: { signal?: AbortSignal }): Promise<void> {
    throwIfAborted(opts?.signal);
    const Key = this.full(key);
    try {
      await this.call('delete', key, opts?.signal, (o) =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }), o),
      );
    } catch (e) {
      if ((e as StrataError).code !== 'NOT_FOUND') throw e;
    }
  }

  async putIfMatch(key: string, data: Uint8Array, ifMatch: ETag | null, opts?: PutOptions): Promise<ETag> {
    throwIfAborted(opts?.signal);
    const Key = this.full(key);
    try {
      const r = await this.call('putIfMatch', key, opts?.signal, (o) =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: data,
            ContentLength: data.length,
            ...(ifMatch === null ? { IfNoneMatch: '*' } : { IfMatch: ifMatch }),
          }),
          o,
        ),
      );
      return r.ETag ?? '';
    } catch (e) {
      // If-Match on a key that is gone: the value changed under us, like any stale etag.
      if ((e as StrataError).code === 'NOT_FOUND' && ifMatch !== null) {
        throw new StrataError(
          'CONFLICT',
          `S3 putIfMatch ${key} in ${this.location}: key is gone (compare-and-swap failed)`,
          {
            key,
            location: this.location,
          },
        );
      }
      throw e;
    }
  }

  async getWithEtag(key: string, opts?: { signal?: AbortSignal }): Promise<{ data: Uint8Array; etag: ETag }> {
    throwIfAborted(opts?.signal);
    const Key = this.full(key);
    const res = await this.call('get', key, opts?.signal, (o) =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }), o),
    );
    try {
      const data = res.Body ? await res.Body.transformToByteArray() : new Uint8Array(0);
      if (res.ContentLength !== undefined && data.length !== res.ContentLength) {
        throw new StrataError('NETWORK', `S3 get ${key} in ${this.location}: response body truncated`, {
          key,
          location: this.location,
          retryable: true,
        });
      }
      return { data, etag: res.ETag ?? '' };
    } catch (e) {
      throw this.mapError(e, 'get', key, opts?.signal);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.partBuffers.drop();
  }
}

/** One part of an upload: `body` is what is sent; `buffer`, when set, goes back to PartBuffers after it. */
interface Part {
  body: Uint8Array;
  buffer?: Buffer;
}

/** The parts of one put, in order. */
interface Parts {
  /** Takes `n` part buffers at once for the next parts (a no-op where parts need no buffer). */
  reserve(n: number): Promise<void>;
  /** The next part, or undefined at the end. */
  next(): Promise<Part | undefined>;
  /** Gives a part's buffer back once the part is sent (or will never be). */
  release(part: Part): void;
  /** Ends the put: unused reserved buffers go back, the source stream is closed. */
  close(): Promise<void>;
}

/** The parts of bytes already in memory: views, no buffers. */
class SliceParts implements Parts {
  private at = 0;
  constructor(
    private readonly data: Uint8Array,
    private readonly size: number,
  ) {}
  async reserve(): Promise<void> {}
  async next(): Promise<Part | undefined> {
    if (this.at >= this.data.length) return undefined;
    const body = this.data.subarray(this.at, this.at + this.size);
    this.at += this.size;
    return { body };
  }
  release(): void {}
  async close(): Promise<void> {}
}

/**
 * A stream cut into parts of exactly the part size (the last may be shorter), each filled into a buffer
 * taken from the store's PartBuffers before the stream is read for it, so a slow upload holds back the
 * reading and no more than maxBufferedParts parts are ever held.
 */
class StreamParts implements Parts {
  private readonly it: AsyncIterator<Uint8Array>;
  private carry: Uint8Array | undefined;
  private ended = false;
  private reserved = 0;

  constructor(
    data: AsyncIterable<Uint8Array>,
    private readonly buffers: PartBuffers,
    private readonly signal?: AbortSignal,
  ) {
    this.it = data[Symbol.asyncIterator]();
  }

  async reserve(n: number): Promise<void> {
    await this.buffers.take(n, this.signal);
    this.reserved += n;
  }

  async next(): Promise<Part | undefined> {
    throwIfAborted(this.signal);
    if (this.ended && !this.carry) return undefined;
    if (this.reserved > 0) this.reserved--;
    else await this.buffers.take(1, this.signal);
    const buffer = this.buffers.buffer();
    let fill = 0;
    try {
      while (fill < buffer.length) {
        let chunk = this.carry;
        this.carry = undefined;
        if (!chunk) {
          if (this.ended) break;
          const r = await this.it.next();
          throwIfAborted(this.signal);
          if (r.done) {
            this.ended = true;
            break;
          }
          chunk = r.value;
        }
        const n = Math.min(buffer.length - fill, chunk.length);
        buffer.set(n === chunk.length ? chunk : chunk.subarray(0, n), fill);
        fill += n;
        if (n < chunk.length) this.carry = chunk.subarray(n);
      }
    } catch (e) {
      this.buffers.give(buffer);
      throw e;
    }
    if (fill === 0) {
      this.buffers.give(buffer);
      return undefined;
    }
    return { body: buffer.subarray(0, fill), buffer };
  }

  release(part: Part): void {
    if (part.buffer) this.buffers.give(part.buffer);
  }

  async close(): Promise<void> {
    if (this.reserved > 0) this.buffers.untake(this.reserved);
    this.reserved = 0;
    if (!this.ended) await this.it.return?.().catch(() => {});
  }
}

/**
 * The part buffers of one store: `limit` slots, each entitling its holder to one buffer of `size` bytes
 * (reused after its part is sent, so no more than `limit` are ever allocated). Slots are granted first come,
 * first served, several at once when asked (take(2) never waits behind a later take(1)).
 */
export class PartBuffers {
  private free: number;
  private readonly spare: Buffer[] = [];
  private readonly waiting: { n: number; grant: () => void }[] = [];
  /** Buffers handed out now, and the most ever at once (for tests). */
  inUse = 0;
  peak = 0;

  constructor(
    readonly limit: number,
    readonly size: number,
  ) {
    this.free = limit;
  }

  /** Takes `n` slots, waiting for them. */
  take(n: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    if (this.waiting.length === 0 && this.free >= n) {
      this.free -= n;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w = {
        n,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
        this.wake();
        reject(new StrataError('ABORTED', 'operation aborted', {}));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  /** Returns slots taken but not used for a buffer. */
  untake(n: number): void {
    this.free += n;
    this.wake();
  }

  /** A buffer for a slot already taken. */
  buffer(): Buffer {
    this.inUse++;
    this.peak = Math.max(this.peak, this.inUse);
    return this.spare.pop() ?? Buffer.allocUnsafe(this.size);
  }

  /** Returns a buffer and its slot. */
  give(buffer: Buffer): void {
    this.inUse--;
    this.spare.push(buffer);
    this.untake(1);
  }

  /** Lets go of the spare buffers (the store is closing). */
  drop(): void {
    this.spare.length = 0;
  }

  private wake(): void {
    while (this.waiting.length && this.waiting[0]!.n <= this.free) {
      const w = this.waiting.shift()!;
      this.free -= w.n;
      w.grant();
    }
  }
}
