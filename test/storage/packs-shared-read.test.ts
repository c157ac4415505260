// LocalPacks.readEncodedShared: the stored bytes of many objects into one shared buffer (the diff's read-ahead
// hands it to the decoding thread), each exactly what readEncoded reads, adjacent objects in one read.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Repository } from '../../src/core/repository.js';
import { hashBytes } from '../../src/storage/hash.js';
import { tempDir } from '../core/helpers.js';
import { mulberry32 } from '../helpers/prng.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('LocalPacks.readEncodedShared', () => {
  it('reads what readEncoded reads, in the order asked, over two packs, with gaps and repeats; missing ones are -1; into a given buffer if it fits', () => {
    const d = tempDir('strata-shared-read-');
    dirs.push(d);
    const repo = Repository.init(d);
    try {
      const r = mulberry32(5);
      const make = (n: number): string[] =>
        Array.from({ length: n }, (_, i) =>
          repo.objects.putChunk(Buffer.from(`chunk ${i} ${r()} `.repeat(1 + Math.floor(r() * 200)))),
        );
      const first = make(40);
      repo.objects.flush();
      const second = make(40);
      repo.objects.flush();
      const missing = hashBytes(Buffer.from('never stored'));
      // In pack order (runs of neighbours), out of order, across packs, repeated, and one missing.
      const ask = [
        ...first.slice(0, 10),
        second[3]!,
        first[20]!,
        first[19]!,
        missing,
        ...second.slice(10, 30),
        first[0]!,
      ];
      const got = repo.objects.packs.readEncodedShared(ask);
      const view = new Uint8Array(got.buffer);
      ask.forEach((h, i) => {
        if (h === missing) {
          expect(got.at[i]).toBe(-1);
          expect(got.locations[i]).toBeUndefined();
          return;
        }
        const want = repo.objects.packs.readEncoded(h);
        const loc = got.locations[i]!;
        expect(loc.codec).toBe(want.codec);
        expect(loc.raw_length).toBe(want.rawLength);
        expect(
          Buffer.from(view.subarray(got.at[i]!, got.at[i]! + loc.length)).equals(Buffer.from(want.bytes)),
        ).toBe(true);
      });
      const total = ask.reduce((n, h, i) => n + (h === missing ? 0 : got.locations[i]!.length), 0);
      expect(got.buffer.byteLength).toBe(total);
      // Into a caller's buffer: used if large enough (same bytes at the same places), else a new one.
      const into = new SharedArrayBuffer(total + 100);
      new Uint8Array(into).fill(0xee);
      const again = repo.objects.packs.readEncodedShared(ask, into);
      expect(again.buffer).toBe(into);
      expect(again.at).toEqual(got.at);
      expect(Buffer.from(into, 0, total).equals(Buffer.from(got.buffer))).toBe(true);
      const small = new SharedArrayBuffer(total - 1);
      const other = repo.objects.packs.readEncodedShared(ask, small);
      expect(other.buffer).not.toBe(small);
      expect(Buffer.from(other.buffer).equals(Buffer.from(got.buffer))).toBe(true);
    } finally {
      repo.close();
    }
  });
});

describe('LocalPacks.prefetchLocations', () => {
  it('looks locations up ahead, for readEncodedShared and readEncoded to take once each; forgetPacks drops them', () => {
    const d = tempDir('strata-prefetch-');
    dirs.push(d);
    const repo = Repository.init(d);
    try {
      const hashes = Array.from({ length: 30 }, (_, i) =>
        repo.objects.putChunk(Buffer.from(`prefetched ${i} `.repeat(20 + i))),
      );
      repo.objects.flush();
      const packs = repo.objects.packs;
      const missing = hashBytes(Buffer.from('never stored'));
      const plain = packs.readEncodedShared([...hashes, missing]);
      const find = vi.spyOn(repo.db, 'findObjects');
      const findOne = vi.spyOn(repo.db, 'findObject');
      const asked = (): string[] => find.mock.calls.flatMap((c) => [...c[0]]);
      // Out of order and repeated: looked up once, in hash order.
      packs.prefetchLocations([...hashes.slice(0, 20)].reverse().concat(hashes[3]!, missing));
      expect(asked()).toEqual([...new Set([...hashes.slice(0, 20), missing])].sort());
      find.mockClear();
      const got = packs.readEncodedShared([...hashes, missing]);
      expect(got.at).toEqual(plain.at);
      expect(got.locations).toEqual(plain.locations);
      expect(Buffer.from(got.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
      // Only what was not prefetched is asked (the missing one was not found, so not kept).
      expect(asked()).toEqual([...hashes.slice(20), missing]);
      // Each prefetched location is taken once: asking again goes to the index.
      find.mockClear();
      packs.readEncodedShared([hashes[0]!]);
      expect(asked()).toEqual([hashes[0]]);
      // readEncoded takes a prefetched location too.
      packs.prefetchLocations([hashes[25]!]);
      findOne.mockClear();
      expect(Buffer.from(packs.readEncoded(hashes[25]!).bytes)).toEqual(
        Buffer.from(plain.buffer, plain.at[25], plain.locations[25]!.length),
      );
      expect(findOne).not.toHaveBeenCalled();
      // forgetPacks (gc, repair) drops what was looked up.
      packs.prefetchLocations([hashes[26]!]);
      packs.forgetPacks();
      find.mockClear();
      packs.readEncodedShared([hashes[26]!]);
      expect(asked()).toEqual([hashes[26]]);
      // prefetchAhead: a reading order's next window, once a read goes past what was looked up.
      find.mockClear();
      const order = hashes.slice(10);
      expect(packs.prefetchAhead(order, 2, 4, 0)).toBe(order.length);
      expect(asked()).toEqual(order.slice(2).sort());
      find.mockClear();
      expect(packs.prefetchAhead(order, 4, 6, order.length)).toBe(order.length);
      expect(find).not.toHaveBeenCalled();
    } finally {
      repo.close();
    }
  });
});

describe('IndexDb.findObjects', () => {
  it('answers as findObject does for each hash, in order, with repeats, missing ones and none', () => {
    const d = tempDir('strata-find-objects-');
    dirs.push(d);
    const repo = Repository.init(d);
    try {
      const hashes = Array.from({ length: 50 }, (_, i) =>
        repo.objects.putChunk(Buffer.from(`object ${i}\n`)),
      );
      repo.objects.flush();
      const missing = hashBytes(Buffer.from('never stored'));
      const ask = [
        hashes[7]!,
        missing,
        ...hashes.slice(20, 40).reverse(),
        hashes[7]!,
        'not a hash',
        hashes[0]!,
      ];
      const db = repo.db;
      const got = db.findObjects(ask);
      expect(got).toHaveLength(ask.length);
      ask.forEach((h, i) => expect(got[i]).toEqual(db.findObject(h)));
      expect(got[1]).toBeUndefined();
      expect(got[0]).toMatchObject({ hash: hashes[7] });
      expect(db.findObjects([])).toEqual([]);
    } finally {
      repo.close();
    }
  });
});

describe('LocalPacks.readDecodable({ defer: true }) and readPending', () => {
  it('reads nothing itself; the decoding side reads each item and verifies it; a failed read leaves it undecoded', async () => {
    const d = tempDir('strata-deferred-read-');
    dirs.push(d);
    const repo = Repository.init(d);
    try {
      const r = mulberry32(9);
      const raw = Array.from({ length: 24 }, (_, i) => Buffer.from(`deferred ${i} ${r()} `.repeat(30 + i)));
      const hashes = raw.map((b) => repo.objects.putChunk(b));
      repo.objects.flush();
      const { decodeBatch, decodeVerifiedInto, readPending } =
        await import('../../src/storage/compress-pool.js');
      const ask = [...hashes.slice(0, 12), hashes[20]!, hashes[15]!];
      const into = new SharedArrayBuffer(1 << 20);
      new Uint8Array(into).fill(0xee);
      const items = repo.objects.packs.readDecodable(ask, into, { defer: true });
      expect(new Uint8Array(into).every((b) => b === 0xee)).toBe(true); // nothing read yet
      expect(items.every((e) => e?.src && e.bytes.buffer === into)).toBe(true);
      // The first 12 lie one after the other in the pack and in the buffer: one read; then one each.
      const d1 = decodeBatch(
        items.map((e) => e!),
        undefined,
      );
      d1.data.forEach((x, i) => expect(Buffer.from(x!).equals(raw[hashes.indexOf(ask[i]!)]!)).toBe(true));
      expect(items.every((e) => e!.src === undefined)).toBe(true);
      // One item decoded alone (the reader's inline path) reads its own bytes.
      const [one] = repo.objects.packs.readDecodable([hashes[5]!], undefined, { defer: true });
      const dst = new Uint8Array(raw[5]!.length);
      expect(decodeVerifiedInto(one!, dst)).toBe(true);
      expect(Buffer.from(dst).equals(raw[5]!)).toBe(true);
      // A read past the end of the file (a truncated pack) or on a closed descriptor: left pending, not decoded.
      const [bad] = repo.objects.packs.readDecodable([hashes[6]!], undefined, { defer: true });
      bad!.src!.offset = 1e9;
      readPending([bad!]);
      expect(bad!.src).toBeDefined();
      expect(decodeVerifiedInto(bad!, new Uint8Array(raw[6]!.length))).toBe(false);
      const [closed] = repo.objects.packs.readDecodable([hashes[7]!], undefined, { defer: true });
      closed!.src!.fd = 1_000_000;
      expect(decodeBatch([closed!], undefined).data[0]).toBeUndefined();
    } finally {
      repo.close();
    }
  });
});
