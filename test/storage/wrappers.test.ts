import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CountingStore } from '../../src/storage/counting-store.js';
import { StrataError } from '../../src/storage/errors.js';
import { LazyStore } from '../../src/storage/lazy-store.js';
import { LimitStore } from '../../src/storage/limit-store.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import type { GetOptions, ObjectStore } from '../../src/storage/object-store.js';
import { openStore } from '../../src/storage/open-store.js';
import { RetryStore } from '../../src/storage/retry-store.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { objectStoreConformance } from './conformance.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const network = (): StrataError => new StrataError('NETWORK', 'flaky', { retryable: true });

/** A MemoryStore whose next `failures` calls fail with NETWORK (and whose streams break half way). */
class FlakyStore extends MemoryStore {
  failures = 0;
  breakStreams = 0;
  private maybeFail(): void {
    if (this.failures > 0) {
      this.failures--;
      throw network();
    }
  }
  override async get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    this.maybeFail();
    return super.get(key, opts);
  }
  override async getStream(key: string, opts?: GetOptions): Promise<AsyncIterable<Uint8Array>> {
    const bytes = await super.get(key, opts);
    const broken = this.breakStreams-- > 0;
    return (async function* () {
      yield bytes.subarray(0, Math.floor(bytes.length / 2));
      if (broken) throw network();
      yield bytes.subarray(Math.floor(bytes.length / 2));
    })();
  }
  override async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    if (this.failures > 0) {
      if (!(data instanceof Uint8Array)) for await (const _ of data) void _; // consume, as a real upload would
      this.maybeFail();
    }
    return super.put(key, data);
  }
  override async *list(prefix: string): AsyncIterable<string> {
    let i = 0;
    for await (const k of super.list(prefix)) {
      if (i++ === 2) this.maybeFail();
      yield k;
    }
  }
}

const fast = { minTimeoutMs: 1, maxTimeoutMs: 2 };

objectStoreConformance('RetryStore(LimitStore(CountingStore(MemoryStore)))', async () => ({
  store: new RetryStore(new LimitStore(new CountingStore(new MemoryStore()), 4), fast),
  cleanup: async () => {},
}));

describe('RetryStore', () => {
  it('retries NETWORK errors, never CONFLICT or NOT_FOUND', async () => {
    const inner = new FlakyStore();
    const counting = new CountingStore(inner);
    const s = new RetryStore(counting, fast);
    await inner.put('k', enc('v'));
    inner.failures = 3;
    expect(new TextDecoder().decode(await s.get('k'))).toBe('v');
    expect(counting.counts.get).toBe(4);
    counting.reset();
    await expect(s.get('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(counting.counts.get).toBe(1);
    await s.putIfMatch('ref', enc('1'), null);
    counting.reset();
    const err = await s.putIfMatch('ref', enc('2'), null).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFLICT' });
    expect((err as StrataError).data.ambiguous).toBeUndefined();
    expect(counting.counts.putIfMatch).toBe(1);
  });

  it('buffers a streamed put so that it can be retried; beyond the buffer limit it makes one attempt', async () => {
    const inner = new FlakyStore();
    const s = new RetryStore(inner, { ...fast, maxBufferBytes: 1000 });
    inner.failures = 2;
    await s.put(
      'small',
      (async function* () {
        yield enc('ab');
        yield enc('cd');
      })(),
    );
    expect(new TextDecoder().decode(await inner.get('small'))).toBe('abcd');
    inner.failures = 1;
    const big = (async function* () {
      for (let i = 0; i < 10; i++) yield new Uint8Array(500);
    })();
    await expect(s.put('big', big)).rejects.toMatchObject({ code: 'NETWORK' });
    await s.put(
      'big',
      (async function* () {
        for (let i = 0; i < 10; i++) yield new Uint8Array(500);
      })(),
    );
    expect((await inner.stat('big')).size).toBe(5000);
  });

  it('resumes a broken stream from where it stopped and restarts a broken list without duplicates', async () => {
    const inner = new FlakyStore();
    const s = new RetryStore(inner, fast);
    const data = new Uint8Array(1000).map((_, i) => i % 251);
    await inner.put('k', data);
    inner.breakStreams = 2;
    const parts: Uint8Array[] = [];
    for await (const c of await s.getStream('k', { offset: 10, length: 900 })) parts.push(c);
    expect(Buffer.concat(parts).equals(Buffer.from(data.subarray(10, 910)))).toBe(true);

    for (let i = 0; i < 10; i++) await inner.put(`l/${i}`, enc('x'));
    inner.failures = 1;
    const keys: string[] = [];
    for await (const k of s.list('l/')) keys.push(k);
    expect(keys.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `l/${i}`));
  });

  it('an aborted signal stops the retries with ABORTED', async () => {
    const inner = new FlakyStore();
    await inner.put('k', enc('v'));
    inner.failures = 100;
    const s = new RetryStore(inner, { minTimeoutMs: 50, maxTimeoutMs: 50 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(s.get('k', { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('LimitStore', () => {
  it('never has more than N requests in flight', async () => {
    let inflight = 0;
    let peak = 0;
    class Slow extends MemoryStore {
      override async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
        peak = Math.max(peak, ++inflight);
        await new Promise((r) => setTimeout(r, 5));
        inflight--;
        return super.put(key, data);
      }
    }
    const s = new LimitStore(new Slow(), 3);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(`k${i}`, enc('x'))));
    expect(peak).toBe(3);
  });
});

describe('openStore', () => {
  it('opens s3://, file://, plain paths and memory://', async () => {
    const s3 = openStore('s3://my-bucket/team/data', {
      s3: { region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } },
    });
    expect(s3).toBeInstanceOf(RetryStore);
    const lazy = ((s3 as RetryStore).inner as LimitStore).inner as LazyStore;
    expect(lazy).toBeInstanceOf(LazyStore);
    const inner = (await lazy.resolve()) as S3Store;
    expect(inner).toBeInstanceOf(S3Store);
    expect([inner.bucket, inner.prefix]).toEqual(['my-bucket', 'team/data']);
    expect(s3.location.startsWith('s3://my-bucket/team/data')).toBe(true);
    await s3.close?.();
    const bare = openStore('s3://my-bucket', { retry: false, s3: { region: 'eu-west-1' } });
    expect(bare).toBeInstanceOf(LimitStore);
    await bare.close?.();

    const dir = await mkdtemp(join(tmpdir(), 'strata-open-'));
    try {
      const f = openStore(`file://${dir}/repo`) as LocalStore;
      expect(f).toBeInstanceOf(LocalStore);
      expect(f.root).toBe(join(dir, 'repo'));
      expect((openStore('repo', { cwd: dir }) as LocalStore).root).toBe(join(dir, 'repo'));
      expect((openStore(`${dir}/x`) as LocalStore).root).toBe(join(dir, 'x'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const m1: ObjectStore = openStore('memory://shared');
    await m1.put('k', enc('v'));
    expect(await openStore('memory://shared').has('k')).toBe(true);
    expect(await openStore('memory://other').has('k')).toBe(false);
  });

  it('rejects malformed URLs with BAD_INPUT, never echoing credentials', () => {
    for (const url of [
      '',
      's3://',
      's3://Bad_Bucket/x',
      's3://b/../x',
      's3://AKIAXXXX:secret@bucket/x',
      'ftp://host/x',
      'memory://',
      'file://remote-host/x',
      's3://bucket/a//b',
    ]) {
      let err: unknown;
      try {
        openStore(url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toMatchObject({ code: 'BAD_INPUT' });
      expect(JSON.stringify(err)).not.toContain('secret');
    }
  });
});
