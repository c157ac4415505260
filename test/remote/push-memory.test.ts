/**
 * What bounds the memory of a push, checked without timing:
 * - push streams each pack to the store (a replayable body in blocks of at most PACK_BLOCK_BYTES), never
 *   a pack-sized buffer, with at most packConcurrency pack uploads open, and a retried pack put reads the
 *   pack again instead of needing a buffered copy;
 * - S3Store fills the parts of streamed puts into at most maxBufferedParts buffers between all its puts,
 *   whatever their number and size (the SDK is stubbed: what it is handed is what is held).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addRemote, clone, push } from '../../src/core/remote/index.js';
import { PACK_BLOCK_BYTES } from '../../src/core/remote/push.js';
import { StrataError, isStrataError } from '../../src/storage/errors.js';
import { hashBytes } from '../../src/storage/hash.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import { isReplayable, type PutOptions } from '../../src/storage/object-store.js';
import { RetryStore } from '../../src/storage/retry-store.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { commitFiles, expectSameFiles, jsonl, tmp, withRepo } from './helpers.js';

const MiB = 1024 * 1024;

/** A store that watches the pack puts going through it (and may break the first attempt of each). */
class WatchingStore extends MemoryStore {
  open = 0;
  peakOpen = 0;
  largestBlock = 0;
  mostBlocks = 0;
  packPuts = 0;
  replayable = true;
  failFirstAttempt = false;
  private failed = new Set<string>();

  override async put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    opts?: PutOptions,
  ): Promise<void> {
    if (!key.endsWith('.pack')) return super.put(key, data, opts);
    this.packPuts++;
    if (data instanceof Uint8Array) throw new Error(`pack ${key} was handed over as one buffer`);
    this.replayable &&= isReplayable(data);
    this.open++;
    this.peakOpen = Math.max(this.peakOpen, this.open);
    try {
      const parts: Uint8Array[] = [];
      let n = 0;
      for await (const b of data) {
        this.largestBlock = Math.max(this.largestBlock, b.length);
        this.mostBlocks = Math.max(this.mostBlocks, parts.length + 1);
        parts.push(Uint8Array.from(b));
        n += b.length;
        // Yield so that the other uploads of the push run meanwhile.
        await new Promise((r) => setImmediate(r));
        if (this.failFirstAttempt && !this.failed.has(key) && n > 0) {
          this.failed.add(key);
          throw new StrataError('NETWORK', `connection reset putting ${key}`, { key, retryable: true });
        }
      }
      await super.put(key, Buffer.concat(parts), opts);
    } finally {
      this.open--;
    }
  }
}

/** Incompressible bytes (xorshift), so that packs hold about what the files do. */
function noise(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    b[i] = s & 0xff;
  }
  return b;
}

/** A repository with ~3 MiB of JSONL and 4 MiB of noise, committed, with a remote `origin` at `url`. */
async function smallRepo(url: string): Promise<string> {
  const dir = tmp('pushmem');
  await commitFiles(
    dir,
    { 'a.jsonl': jsonl(2_000_000, 7), 'b.jsonl': jsonl(1_000_000, 8), 'noise.bin': noise(4 * MiB, 9) },
    'v0',
  );
  await withRepo(dir, (repo) => addRemote(repo, 'origin', url));
  return dir;
}

describe('push memory', () => {
  it('streams every pack in blocks, at most packConcurrency at once, each named by the BLAKE3 of its bytes', async () => {
    const dir = await smallRepo('memory://pushmem');
    const store = new WatchingStore('pushmem');
    const r = await withRepo(dir, (repo) =>
      push(repo, { store, maxPackBytes: 1.5 * MiB, packConcurrency: 3 }),
    );
    expect(r.packs).toBeGreaterThanOrEqual(4);
    expect(store.packPuts).toBe(r.packs);
    expect(store.replayable).toBe(true);
    // Packs of ~1.5 MiB arrive as full 1 MiB blocks and a rest.
    expect(store.largestBlock).toBe(PACK_BLOCK_BYTES);
    expect(store.mostBlocks).toBe(2);
    expect(store.peakOpen).toBeGreaterThan(1);
    expect(store.peakOpen).toBeLessThanOrEqual(3);
    const keys: string[] = [];
    for await (const k of store.list('packs/')) keys.push(k);
    const packKeys = keys.filter((k) => k.endsWith('.pack'));
    expect(packKeys).toHaveLength(r.packs);
    for (const k of packKeys) {
      const bytes = await store.get(k);
      expect(bytes.length).toBeLessThanOrEqual(1.5 * MiB);
      expect(`packs/${hashBytes(bytes)}.pack`).toBe(k);
    }
  });

  it('a pack put that breaks half way is retried by reading the pack again, not from a buffered copy', async () => {
    const dir = await smallRepo('memory://pushmem-retry');
    const inner = new WatchingStore('pushmem-retry');
    inner.failFirstAttempt = true;
    // maxBufferBytes 0: a stream that is not replayable would get a single attempt, and the push would fail.
    const store = new RetryStore(inner, { minTimeoutMs: 1, maxTimeoutMs: 2, maxBufferBytes: 0 });
    const r = await withRepo(dir, (repo) => push(repo, { store, maxPackBytes: 2 * MiB }));
    expect(r.packs).toBeGreaterThanOrEqual(3);
    expect(inner.packPuts).toBe(2 * r.packs);
    const dst = join(tmp('pushmem-dst'), 'clone');
    await clone('memory://unused', dst, { store, all: true });
    expectSameFiles(dir, dst);
  });

  it('a file:// remote receives the same packs, written as they stream', async () => {
    const root = tmp('pushmem-remote');
    const dir = await smallRepo(root);
    const r = await withRepo(dir, (repo) =>
      push(repo, { store: new LocalStore(root, { fsync: false }), maxPackBytes: 2 * MiB }),
    );
    const store = new LocalStore(root);
    for await (const k of store.list('packs/'))
      if (k.endsWith('.pack')) expect(`packs/${hashBytes(await store.get(k))}.pack`).toBe(k);
    const dst = join(tmp('pushmem-dst'), 'clone');
    await clone(root, dst, { all: true });
    expectSameFiles(dir, dst);
    expect(r.packs).toBeGreaterThanOrEqual(3);
  });
});

/** An S3Store whose SDK client is a stub: records what each request holds, and what each object became. */
function stubbedS3(opts: { partSize: number; maxBufferedParts: number; partConcurrency?: number }): {
  store: S3Store;
  held: { bytes: number; peak: number; buffers: Set<ArrayBufferLike> };
  objects: Map<string, Buffer>;
} {
  const store = new S3Store({
    bucket: 'stub-bucket',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'stub', secretAccessKey: 'stub-secret' },
    partSize: opts.partSize,
    maxBufferedParts: opts.maxBufferedParts,
    partConcurrency: opts.partConcurrency ?? 4,
  });
  const held = { bytes: 0, peak: 0, buffers: new Set<ArrayBufferLike>() };
  const objects = new Map<string, Buffer>();
  const uploads = new Map<string, Map<number, Buffer>>();
  let uploadIds = 0;
  const send = async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const input = cmd.input;
    const name = cmd.constructor.name;
    if (name === 'CreateMultipartUploadCommand') {
      const id = `u${++uploadIds}`;
      uploads.set(id, new Map());
      return { UploadId: id };
    }
    if (name === 'PutObjectCommand' || name === 'UploadPartCommand') {
      const body = input.Body as Uint8Array;
      const before = Buffer.from(body);
      held.bytes += body.length;
      held.peak = Math.max(held.peak, held.bytes);
      held.buffers.add(body.buffer);
      // Hold the body across a few turns of the event loop, as a real upload does.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      // The buffer must not have been reused while the request still held it.
      expect(Buffer.from(body).equals(before)).toBe(true);
      held.bytes -= body.length;
      if (name === 'PutObjectCommand') objects.set(input.Key as string, before);
      else uploads.get(input.UploadId as string)!.set(input.PartNumber as number, before);
      return { ETag: `"${input.PartNumber ?? 0}"` };
    }
    if (name === 'CompleteMultipartUploadCommand') {
      const parts = uploads.get(input.UploadId as string)!;
      const order = [...parts.keys()].sort((a, b) => a - b);
      objects.set(input.Key as string, Buffer.concat(order.map((n) => parts.get(n)!)));
      return {};
    }
    if (name === 'AbortMultipartUploadCommand') return {};
    throw new Error(`unexpected ${name}`);
  };
  (store.client as unknown as { send: typeof send }).send = send;
  return { store, held, objects };
}

/** `size` deterministic bytes, streamed in pieces of `piece`. */
function bytesOf(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}
async function* streamOf(b: Buffer, piece: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += piece) {
    yield b.subarray(i, i + piece);
    await new Promise((r) => setImmediate(r));
  }
}

describe('S3Store part buffers', () => {
  const partSize = 5 * MiB;

  it('holds at most maxBufferedParts part buffers across concurrent streamed puts of any size', async () => {
    const { store, held, objects } = stubbedS3({ partSize, maxBufferedParts: 3 });
    const inputs = [0, 1, 2, 3, 4].map((i) => bytesOf(i === 4 ? 1 * MiB : 12 * MiB + i * 1000, i));
    await Promise.all(inputs.map((b, i) => store.put(`k${i}`, streamOf(b, 300_000 + i))));
    for (const [i, b] of inputs.entries()) expect(objects.get(`k${i}`)?.equals(b)).toBe(true);
    expect(store.partBuffers.peak).toBeLessThanOrEqual(3);
    expect(held.buffers.size).toBeLessThanOrEqual(3);
    expect(held.peak).toBeLessThanOrEqual(3 * partSize);
    // The bound was reached (several parts really were in flight at once), and everything went back.
    expect(store.partBuffers.peak).toBe(3);
    expect(held.peak).toBeGreaterThan(partSize);
    expect(store.partBuffers.inUse).toBe(0);
    await store.close();
  });

  it('two buffers are enough for many puts at once (no put waits holding a buffer another needs)', async () => {
    const { store, objects } = stubbedS3({ partSize, maxBufferedParts: 2, partConcurrency: 2 });
    const inputs = Array.from({ length: 8 }, (_, i) => bytesOf(i % 2 ? 11 * MiB : 2 * MiB, i + 10));
    await Promise.all(inputs.map((b, i) => store.put(`m${i}`, streamOf(b, 1 << 20))));
    for (const [i, b] of inputs.entries()) expect(objects.get(`m${i}`)?.equals(b)).toBe(true);
    expect(store.partBuffers.peak).toBe(2);
    expect(store.partBuffers.inUse).toBe(0);
    await store.close();
  });

  it('a put of bytes in memory sends views of them and takes no buffer', async () => {
    const { store, held, objects } = stubbedS3({ partSize, maxBufferedParts: 2 });
    const b = bytesOf(12 * MiB, 3);
    await store.put('mem', b);
    expect(objects.get('mem')?.equals(b)).toBe(true);
    expect(store.partBuffers.peak).toBe(0);
    expect([...held.buffers]).toEqual([b.buffer]);
    await store.close();
  });

  it('a stream that fails in its first, second or a later part gives every buffer back', async () => {
    const { store, objects } = stubbedS3({ partSize, maxBufferedParts: 3 });
    for (const failAt of [MiB, 6 * MiB, 17 * MiB]) {
      async function* failing(): AsyncGenerator<Uint8Array> {
        for (let n = 0; n < failAt; n += MiB) yield bytesOf(MiB, n);
        throw new StrataError('IO', 'source failed', {});
      }
      const err = await store.put(`f${failAt}`, failing()).catch((e: unknown) => e);
      expect(isStrataError(err, 'IO')).toBe(true);
      expect(store.partBuffers.inUse).toBe(0);
      expect(objects.has(`f${failAt}`)).toBe(false);
    }
    // All three buffers can still be had at once.
    const inputs = [0, 1, 2].map((i) => bytesOf(11 * MiB, i + 20));
    await Promise.all(inputs.map((b, i) => store.put(`ok${i}`, streamOf(b, MiB))));
    for (const [i, b] of inputs.entries()) expect(objects.get(`ok${i}`)?.equals(b)).toBe(true);
    expect(store.partBuffers.peak).toBe(3);
    await store.close();
  });

  it('a put waiting for a buffer ends ABORTED when its signal fires, and gives back what it took', async () => {
    const { store, objects } = stubbedS3({ partSize, maxBufferedParts: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The first put holds both buffers while its stream waits on the gate.
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield bytesOf(MiB, 1);
      await gate;
      yield bytesOf(MiB, 2);
    }
    const first = store.put('slow', slow());
    await new Promise((r) => setImmediate(r));
    expect(store.partBuffers.inUse).toBe(1);
    const ac = new AbortController();
    const second = store.put('waits', streamOf(bytesOf(MiB, 3), MiB), { signal: ac.signal });
    ac.abort();
    const err = await second.catch((e: unknown) => e);
    expect(isStrataError(err, 'ABORTED')).toBe(true);
    release();
    await first;
    expect(store.partBuffers.inUse).toBe(0);
    // Both buffers are free again: a put needing two gets them.
    const b = bytesOf(7 * MiB, 4);
    await store.put('after', streamOf(b, MiB));
    expect(objects.get('after')?.equals(b)).toBe(true);
    expect(objects.has('waits')).toBe(false);
    await store.close();
  });
});
