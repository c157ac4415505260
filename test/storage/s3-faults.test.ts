import { randomBytes, randomUUID } from 'node:crypto';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isStrataError } from '../../src/storage/errors.js';
import { RetryStore } from '../../src/storage/retry-store.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { startFaultProxy, type FaultProxy, type ProxyRequest } from '../helpers/fault-proxy.js';
import { startMoto, type Moto } from '../helpers/moto.js';

let moto: Moto;
let proxy: FaultProxy;
let prefix: string;
let raw: S3Store; // behind the proxy, no retries
let store: RetryStore; // behind the proxy, with retries
let direct: S3Store; // straight to moto, for checking what landed
let retries: { op: string; attempt: number }[];

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const isGet = (r: ProxyRequest): boolean => r.method === 'GET' && !r.url.includes('list-type');
const isConditional = (r: ProxyRequest): boolean =>
  r.method === 'PUT' && (r.headers['if-none-match'] === '*' || r.headers['if-match'] !== undefined);

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
});
afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
});
beforeEach(() => {
  prefix = `f-${randomUUID().slice(0, 8)}`;
  raw = new S3Store(moto.storeOptions(prefix, { endpoint: proxy.endpoint }));
  direct = new S3Store(moto.storeOptions(prefix));
  retries = [];
  store = new RetryStore(raw, {
    retries: 6,
    minTimeoutMs: 5,
    maxTimeoutMs: 40,
    onRetry: ({ op, attempt }) => retries.push({ op, attempt }),
  });
});
afterEach(async () => {
  proxy.clear();
  await raw.close();
  await direct.close();
});

describe('S3Store through a fault-injecting proxy', () => {
  it('503 SlowDown: the bare store fails with NETWORK, RetryStore completes every operation', async () => {
    proxy.inject({ fault: 'slowdown', times: 1 });
    await expect(raw.put('k', enc('v'))).rejects.toMatchObject({ code: 'NETWORK', data: { status: 503 } });

    for (const op of [
      () => store.put('k', enc('v')),
      () => store.get('k'),
      () => store.has('k'),
      () => store.stat('k'),
      () => store.getWithEtag('k'),
      async () => {
        for await (const _ of store.list('')) void _;
      },
      () => store.putIfMatch('ref', enc('r1'), null),
      () => store.delete('k'),
    ]) {
      proxy.inject({ fault: 'slowdown', times: 2 });
      await op();
    }
    expect(retries.length).toBe(16);
    expect(proxy.requests.filter((r) => r.fault === 'slowdown').length).toBe(17);
    expect(await direct.has('k')).toBe(false);
    expect(dec(await direct.get('ref'))).toBe('r1');
  });

  it('connection resets are retried; a multipart put that broke leaves no upload behind', async () => {
    proxy.inject({ fault: 'reset', match: (r) => r.method === 'PUT', times: 2 });
    await store.put('small', enc('hello'));
    expect(dec(await direct.get('small'))).toBe('hello');

    const big = randomBytes(20 * 1024 * 1024);
    proxy.inject({ fault: 'reset', match: (r) => r.url.includes('partNumber=2'), times: 1 });
    await store.put('big', big);
    expect(Buffer.from(await direct.get('big')).equals(big)).toBe(true);
    const ups = await moto.client.send(
      new ListMultipartUploadsCommand({ Bucket: moto.bucket, Prefix: prefix }),
    );
    expect(ups.Uploads ?? []).toEqual([]);
    // A streamed put (buffered by RetryStore so that it can be retried) survives a reset too.
    proxy.inject({ fault: 'reset', match: (r) => r.method === 'PUT', times: 1 });
    await store.put(
      'streamed',
      (async function* () {
        yield big.subarray(0, 1000);
        yield big.subarray(1000);
      })(),
    );
    expect(Buffer.from(await direct.get('streamed')).equals(big)).toBe(true);
  });

  it('a truncated body is NETWORK for the bare store; RetryStore re-reads, getStream resumes with a range', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    await direct.put('t', data);
    proxy.inject({ fault: 'truncate', match: isGet, times: 1 });
    await expect(raw.get('t')).rejects.toMatchObject({ code: 'NETWORK' });

    proxy.inject({ fault: 'truncate', match: isGet, times: 2 });
    expect(Buffer.from(await store.get('t')).equals(data)).toBe(true);
    proxy.inject({ fault: 'truncate', match: isGet, times: 1 });
    expect(
      Buffer.from(await store.get('t', { offset: 100, length: 2_000_000 })).equals(
        data.subarray(100, 2_000_100),
      ),
    ).toBe(true);

    const before = proxy.requests.length;
    proxy.inject({ fault: 'truncate', match: isGet, times: 1 });
    const parts: Uint8Array[] = [];
    for await (const c of await store.getStream('t')) parts.push(c);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    const gets = proxy.requests.slice(before).filter(isGet);
    expect(gets.length).toBe(2);
    expect(gets[1]!.headers.range).toMatch(/^bytes=\d+-$/);
  });

  it('a lost response to a landed conditional create comes back CONFLICT, yet the key holds our bytes', async () => {
    const ours = enc(JSON.stringify({ commit: 'c1', writer: 'writer-A' }));
    proxy.inject({ fault: 'lose-response', match: isConditional, times: 1 });
    const err = await store.putIfMatch('refs/heads/main', ours, null).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFLICT', data: { key: 'refs/heads/main', ambiguous: true } });
    // The write landed: re-reading shows our bytes (the repository layer compares the writer id here).
    const now = await store.getWithEtag('refs/heads/main');
    expect(dec(now.data)).toBe(dec(ours));

    // The same for an update with If-Match.
    const next = enc(JSON.stringify({ commit: 'c2', writer: 'writer-A' }));
    proxy.inject({ fault: 'lose-response', match: isConditional, times: 1 });
    await expect(store.putIfMatch('refs/heads/main', next, now.etag)).rejects.toMatchObject({
      code: 'CONFLICT',
      data: { ambiguous: true },
    });
    expect(dec(await direct.get('refs/heads/main'))).toBe(dec(next));
    expect(proxy.requests.filter((r) => r.fault === 'lose-response' && r.status === 200).length).toBe(2);
  });

  it('a fault that never ends fails cleanly with NETWORK after the retries', async () => {
    proxy.inject({ fault: 'slowdown' });
    const t0 = Date.now();
    await expect(store.get('whatever')).rejects.toMatchObject({ code: 'NETWORK' });
    expect(retries.length).toBe(6);
    expect(Date.now() - t0).toBeLessThan(10_000);
    proxy.clear();
    proxy.inject({ fault: 'reset' });
    await expect(store.put('x', enc('1'))).rejects.toMatchObject({ code: 'NETWORK' });
  });

  it('under random faults every operation completes or fails cleanly with a code', async () => {
    const big = randomBytes(18 * 1024 * 1024);
    await direct.put('seed', enc('seed'));
    proxy.chaos(0.25, ['slowdown', 'reset', 'truncate', 'lose-response'], 7);
    const outcomes: string[] = [];
    const check = async (name: string, op: () => Promise<unknown>): Promise<void> => {
      try {
        await op();
        outcomes.push(`${name}:ok`);
      } catch (e) {
        expect(isStrataError(e), `${name} threw a non-StrataError: ${String(e)}`).toBe(true);
        expect(['NETWORK', 'CONFLICT']).toContain((e as { code: string }).code);
        outcomes.push(`${name}:${(e as { code: string }).code}`);
      }
    };
    for (let round = 0; round < 6; round++) {
      await Promise.all([
        check(`put${round}`, () => store.put(`k${round}`, enc(`v${round}`))),
        check(`putBig${round}`, () => store.put(`big${round % 2}`, big)),
        check('get', () => store.get('seed')),
        check('getRange', () => store.get('seed', { offset: 1, length: 2 })),
        check('getStream', async () => {
          for await (const _ of await store.getStream('seed')) void _;
        }),
        check('has', () => store.has('seed')),
        check('stat', () => store.stat('seed')),
        check('list', async () => {
          for await (const _ of store.list('')) void _;
        }),
        check('delete', () => store.delete(`gone${round}`)),
        check('putIfMatch', () => store.putIfMatch(`ref${round}`, enc('r'), null)),
      ]);
    }
    proxy.clear();
    expect(proxy.requests.some((r) => r.fault !== undefined)).toBe(true);
    // Whatever succeeded really landed, whole.
    for (let round = 0; round < 6; round++) {
      if (outcomes.includes(`put${round}:ok`)) expect(dec(await direct.get(`k${round}`))).toBe(`v${round}`);
      if (outcomes.includes(`putBig${round}:ok`))
        expect((await direct.stat(`big${round % 2}`)).size).toBe(big.length);
    }
    // (An AbortMultipartUpload that itself meets a fault can leave an upload behind: see docs/STORAGE.md.)
    expect(outcomes.filter((o) => o.endsWith(':ok')).length).toBeGreaterThan(outcomes.length / 2);
  });
});
