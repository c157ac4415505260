/**
 * The one conformance suite every ObjectStore backend passes (in the manner of restic's backend test suite and
 * js-stores' interface tests). A backend's test file calls `objectStoreConformance(name, factory)`; the factory
 * returns a fresh, empty store and a cleanup function.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/storage/object-store.js';

export interface StoreFixture {
  store: ObjectStore;
  cleanup: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Called after every case that ran to the end (passed), with the case's name. */
  onCasePassed?: (name: string) => void;
}

/** The number of cases the suite defines (a backend can check that all of them ran). */
export const CONFORMANCE_CASES = 17;

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function listAll(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.list(prefix)) out.push(k);
  return out;
}

/** Yields `data` in irregular slices, the way a network or a chunker would. */
async function* slices(
  data: Uint8Array,
  sizes = [1, 4095, 65536, 1 << 20, 3 << 20],
): AsyncGenerator<Uint8Array> {
  let i = 0;
  let n = 0;
  while (i < data.length) {
    const size = sizes[n++ % sizes.length]!;
    yield data.subarray(i, i + size);
    i += size;
  }
}

async function parallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const code = (c: string) => expect.objectContaining({ code: c });

export function objectStoreConformance(
  name: string,
  factory: () => Promise<StoreFixture>,
  opts: ConformanceOptions = {},
): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let fx: StoreFixture;
    let s: ObjectStore;

    beforeEach(async () => {
      fx = await factory();
      s = fx.store;
    });
    afterEach(async (ctx) => {
      await fx?.cleanup();
      if (ctx.task.result?.state !== 'fail' && !ctx.task.result?.errors?.length)
        opts.onCasePassed?.(ctx.task.name);
    });

    it('a missing key is NOT_FOUND', async () => {
      await expect(s.get('nope')).rejects.toEqual(code('NOT_FOUND'));
      await expect(s.get('no/such/key', { offset: 1, length: 2 })).rejects.toEqual(code('NOT_FOUND'));
      await expect(s.getStream('nope')).rejects.toEqual(code('NOT_FOUND'));
      await expect(s.stat('nope')).rejects.toEqual(code('NOT_FOUND'));
      await expect(s.getWithEtag('nope')).rejects.toEqual(code('NOT_FOUND'));
      expect(await s.has('nope')).toBe(false);
      expect(typeof s.location).toBe('string');
    });

    it('put/get round trip, including an empty object and a stream', async () => {
      await s.put('a/b/c.txt', enc('hello'));
      expect(dec(await s.get('a/b/c.txt'))).toBe('hello');
      expect(await s.has('a/b/c.txt')).toBe(true);
      expect((await s.stat('a/b/c.txt')).size).toBe(5);

      await s.put('empty', new Uint8Array(0));
      expect((await s.get('empty')).length).toBe(0);
      expect((await s.stat('empty')).size).toBe(0);
      expect((await collect(await s.getStream('empty'))).length).toBe(0);

      const data = randomBytes(300_000);
      await s.put('streamed', slices(data));
      expect(Buffer.from(await s.get('streamed')).equals(data)).toBe(true);

      await s.put('empty-stream', slices(new Uint8Array(0)));
      expect((await s.get('empty-stream')).length).toBe(0);
    });

    it('a >20 MiB object round-trips, from bytes and from a stream (multipart on S3)', async () => {
      const big = randomBytes(21 * 1024 * 1024 + 12345);
      await s.put('big/bytes', big);
      expect(Buffer.from(await s.get('big/bytes')).equals(big)).toBe(true);
      await s.put('big/stream', slices(big));
      expect((await s.stat('big/stream')).size).toBe(big.length);
      expect((await collect(await s.getStream('big/stream'))).equals(big)).toBe(true);
      // A range across what would be a part boundary.
      const off = 8 * 1024 * 1024 - 100;
      expect(
        Buffer.from(await s.get('big/stream', { offset: off, length: 200 })).equals(
          big.subarray(off, off + 200),
        ),
      ).toBe(true);
    });

    it('ranged reads; a range past the end is an error', async () => {
      const data = enc('0123456789');
      await s.put('r', data);
      expect(dec(await s.get('r', { offset: 2, length: 3 }))).toBe('234');
      expect(dec(await s.get('r', { offset: 7 }))).toBe('789');
      expect(dec(await s.get('r', { length: 4 }))).toBe('0123');
      expect((await s.get('r', { offset: 10, length: 0 })).length).toBe(0);
      expect((await s.get('r', { offset: 10 })).length).toBe(0);
      expect(dec(await s.get('r', { offset: 0, length: 10 }))).toBe('0123456789');
      await expect(s.get('r', { offset: 8, length: 5 })).rejects.toEqual(code('INTEGRITY'));
      await expect(s.get('r', { offset: 11 })).rejects.toEqual(code('INTEGRITY'));
      await expect(s.get('r', { offset: 20, length: 1 })).rejects.toEqual(code('INTEGRITY'));
      await expect(s.getStream('r', { offset: 8, length: 5 })).rejects.toEqual(code('INTEGRITY'));
    });

    it('getStream streams the whole object or a range', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 7);
      await s.put('st', data);
      expect((await collect(await s.getStream('st'))).equals(data)).toBe(true);
      const part = await collect(await s.getStream('st', { offset: 1000, length: 2_000_000 }));
      expect(part.equals(data.subarray(1000, 2_001_000))).toBe(true);
      const tail = await collect(await s.getStream('st', { offset: data.length - 5 }));
      expect(tail.equals(data.subarray(data.length - 5))).toBe(true);
      expect((await collect(await s.getStream('st', { offset: 10, length: 0 }))).length).toBe(0);
    });

    it('the same put twice is fine; a new put replaces the value', async () => {
      await s.put('twice', enc('same'));
      await s.put('twice', enc('same'));
      expect(dec(await s.get('twice'))).toBe('same');
      await s.put('twice', enc('other'));
      expect(dec(await s.get('twice'))).toBe('other');
      expect(await listAll(s, 'twice')).toEqual(['twice']);
    });

    it('100 parallel puts all land', async () => {
      const keys = Array.from({ length: 100 }, (_, i) => `par/${i % 7}/k${i}`);
      await Promise.all(keys.map((k) => s.put(k, enc(`v-${k}`))));
      await Promise.all(keys.map(async (k) => expect(dec(await s.get(k))).toBe(`v-${k}`)));
      expect((await listAll(s, 'par/')).sort()).toEqual([...keys].sort());
    });

    it('list returns every key exactly once, filtered by prefix', async () => {
      const keys = [
        'refs/heads/main',
        'refs/heads/dev',
        'refs/tags/v1',
        'packs/ab.pack',
        'packs/ab.idx',
        'pa',
        'top',
      ];
      await Promise.all(keys.map((k) => s.put(k, enc(k))));
      expect((await listAll(s, '')).sort()).toEqual([...keys].sort());
      expect((await listAll(s, 'refs/')).sort()).toEqual([
        'refs/heads/dev',
        'refs/heads/main',
        'refs/tags/v1',
      ]);
      expect((await listAll(s, 'refs/heads/')).sort()).toEqual(['refs/heads/dev', 'refs/heads/main']);
      expect((await listAll(s, 'refs/heads/ma')).sort()).toEqual(['refs/heads/main']);
      expect((await listAll(s, 'pa')).sort()).toEqual(['pa', 'packs/ab.idx', 'packs/ab.pack']);
      expect((await listAll(s, 'packs/ab.')).sort()).toEqual(['packs/ab.idx', 'packs/ab.pack']);
      expect(await listAll(s, 'nothing/')).toEqual([]);
    });

    it('list pages through more than 1000 keys', async () => {
      const keys = Array.from({ length: 1105 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await parallel(keys, 32, (k) => s.put(k, enc('x')));
      await s.put('manyother', enc('y'));
      const got = await listAll(s, 'many/');
      expect(got.length).toBe(keys.length);
      expect(new Set(got).size).toBe(keys.length);
      expect([...got].sort()).toEqual(keys);
    });

    it('delete removes a key; deleting a missing key is fine', async () => {
      await s.put('d/x', enc('1'));
      await s.delete('d/x');
      expect(await s.has('d/x')).toBe(false);
      await expect(s.get('d/x')).rejects.toEqual(code('NOT_FOUND'));
      await s.delete('d/x');
      await s.delete('never/was');
      expect(await listAll(s, 'd/')).toEqual([]);
    });

    it('putIfMatch(null) creates only if absent', async () => {
      const etag = await s.putIfMatch('refs/heads/main', enc('c1'), null);
      expect(typeof etag).toBe('string');
      const got = await s.getWithEtag('refs/heads/main');
      expect(dec(got.data)).toBe('c1');
      expect(got.etag).toBe(etag);
      expect((await s.stat('refs/heads/main')).etag).toBe(etag);
      await expect(s.putIfMatch('refs/heads/main', enc('c2'), null)).rejects.toEqual(
        expect.objectContaining({
          code: 'CONFLICT',
          data: expect.objectContaining({ key: 'refs/heads/main' }),
        }),
      );
      expect(dec(await s.get('refs/heads/main'))).toBe('c1');
    });

    it('putIfMatch with the current etag updates; with a stale etag it conflicts', async () => {
      const e1 = await s.putIfMatch('ref', enc('one'), null);
      const e2 = await s.putIfMatch('ref', enc('two'), e1);
      expect(e2).not.toBe(e1);
      expect((await s.getWithEtag('ref')).etag).toBe(e2);
      await expect(s.putIfMatch('ref', enc('three'), e1)).rejects.toEqual(code('CONFLICT'));
      expect(dec(await s.get('ref'))).toBe('two');
      // An etag for a key that does not exist conflicts too.
      await expect(s.putIfMatch('ref-missing', enc('x'), e2)).rejects.toEqual(code('CONFLICT'));
      expect(await s.has('ref-missing')).toBe(false);
      // Writing the same bytes again with the current etag is an update like any other.
      const e3 = await s.putIfMatch('ref', enc('two'), e2);
      expect(dec(await s.get('ref'))).toBe('two');
      expect(typeof e3).toBe('string');
    });

    it('10 concurrent putIfMatch racers: exactly one wins (create and update)', async () => {
      const race = async (ifMatch: string | null, tag: string): Promise<string[]> => {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => s.putIfMatch('race', enc(`${tag}-${i}`), ifMatch)),
        );
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toEqual(code('CONFLICT'));
        return results.flatMap((r, i) => (r.status === 'fulfilled' ? [`${tag}-${i}`] : []));
      };
      const created = await race(null, 'create');
      expect(created.length).toBe(1);
      const cur = await s.getWithEtag('race');
      expect(dec(cur.data)).toBe(created[0]);
      const updated = await race(cur.etag, 'update');
      expect(updated.length).toBe(1);
      expect(dec(await s.get('race'))).toBe(updated[0]);
    });

    it('an aborted signal rejects with ABORTED', async () => {
      await s.put('ab', enc('x'));
      const ac = new AbortController();
      ac.abort();
      const signal = ac.signal;
      await expect(s.get('ab', { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.getStream('ab', { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.put('ab2', enc('x'), { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.has('ab', { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.stat('ab', { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.delete('ab', { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.putIfMatch('ab3', enc('x'), null, { signal })).rejects.toEqual(code('ABORTED'));
      await expect(s.getWithEtag('ab', { signal })).rejects.toEqual(code('ABORTED'));
      await expect(listAllSignal(s, '', signal)).rejects.toEqual(code('ABORTED'));
      expect(await s.has('ab2')).toBe(false);
      expect(await s.has('ab3')).toBe(false);
      expect(await s.has('ab')).toBe(true);
    });

    it('a put aborted mid-stream rejects with ABORTED and stores nothing', async () => {
      const ac = new AbortController();
      const data = randomBytes(12 * 1024 * 1024);
      async function* source(): AsyncGenerator<Uint8Array> {
        let i = 0;
        for await (const c of slices(data)) {
          if ((i += c.length) > 9 * 1024 * 1024) ac.abort();
          yield c;
        }
      }
      await expect(s.put('aborted/put', source(), { signal: ac.signal })).rejects.toEqual(code('ABORTED'));
      expect(await s.has('aborted/put')).toBe(false);
      expect(await listAll(s, 'aborted/')).toEqual([]);
    });

    it('a stream whose source fails stores nothing', async () => {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(1000);
        throw new Error('source broke');
      }
      await expect(s.put('failed/put', failing())).rejects.toThrow();
      expect(await s.has('failed/put')).toBe(false);
    });

    it('invalid keys are BAD_INPUT', async () => {
      for (const k of ['../x', 'a//b', '', '/abs', 'a/./b', 'a/../b', 'x/', 'sp ace', 'a\\b', 'nul\0']) {
        await expect(s.get(k)).rejects.toEqual(code('BAD_INPUT'));
        await expect(s.put(k, enc('x'))).rejects.toEqual(code('BAD_INPUT'));
        await expect(s.has(k)).rejects.toEqual(code('BAD_INPUT'));
        await expect(s.delete(k)).rejects.toEqual(code('BAD_INPUT'));
        await expect(s.putIfMatch(k, enc('x'), null)).rejects.toEqual(code('BAD_INPUT'));
      }
      expect(await listAll(s, '')).toEqual([]);
    });
  });
}

async function listAllSignal(store: ObjectStore, prefix: string, signal: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.list(prefix, { signal })) out.push(k);
  return out;
}
