/**
 * Push must not trust what the local repository remembers about a remote (cached pack indexes, last-seen
 * refs) over what the remote holds now: a wiped or recreated remote gets every object again, a pack deleted
 * behind our back is sent again, and a fetch whose cached index names a pack that moved or vanished
 * re-reads the remote instead of failing on a stale location.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fsck } from '../../src/core/index.js';
import { StrataError } from '../../src/storage/errors.js';
import {
  addRemote,
  clone,
  fetch,
  fetchCheckoutData,
  loadRemoteIndex,
  push,
  REMOTE_CONFIG_KEY,
  RemoteObjectReader,
} from '../../src/core/remote/index.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { fileBackend, s3Backend, type Backend } from './backends.js';
import { commitFiles, expectSameFiles, jsonl, tmp, withRepo } from './helpers.js';

/** A backend whose remotes live in a bucket (or directory) of their own, so the whole bucket can be recreated. */
interface TruthBackend extends Backend {
  /** Deletes the remote's bucket (directory) and creates an empty one under the same URL. */
  recreate(url: string): Promise<void>;
}

async function fileTruth(): Promise<TruthBackend> {
  const b = fileBackend();
  return {
    ...b,
    recreate: async (url) => rmSync(fileURLToPath(url), { recursive: true, force: true }),
  };
}

async function s3Truth(): Promise<TruthBackend> {
  const b = await s3Backend();
  const { client } = b.moto;
  return {
    ...b,
    // One bucket per remote, so that deleting the bucket touches nothing else.
    url: () => {
      const name = `pt-${Math.random().toString(36).slice(2, 10)}`;
      pendingBuckets.push(b.moto.createBucket(name));
      return `s3://${name}/ds`;
    },
    recreate: async (url) => {
      const bucket = new URL(url).host;
      for (;;) {
        const l = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
        const keys = (l.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (!keys.length) break;
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
  };
}

const pendingBuckets: Promise<string>[] = [];

const backends: [string, () => Promise<TruthBackend>][] = [
  ['file', fileTruth],
  ['s3 (moto)', s3Truth],
];

async function deleteAll(store: ObjectStore): Promise<number> {
  const keys: string[] = [];
  for await (const k of store.list('')) keys.push(k);
  for (const k of keys) await store.delete(k);
  return keys.length;
}

describe.each(backends)('push against what the remote holds now, on %s', (_name, make) => {
  let b: TruthBackend;
  const dirs: string[] = [];
  const dir = (label: string): string => {
    const d = tmp(label);
    dirs.push(d);
    return d;
  };
  beforeAll(async () => {
    b = await make();
  });
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  afterAll(async () => {
    await b?.stop();
  });

  /** A fresh remote URL (its bucket created on S3). */
  async function remoteUrl(): Promise<string> {
    const url = b.url();
    await Promise.all(pendingBuckets.splice(0));
    return url;
  }

  /** A repository with one commit of several files, pushed in small packs; returns the first push's counts. */
  async function pushed(): Promise<{ src: string; url: string; commit: string; objects: number }> {
    const src = dir('src');
    const commit = await commitFiles(
      src,
      { 'data/train.jsonl': jsonl(500_000, 1), 'data/test.jsonl': jsonl(60_000, 2), 'README.md': '# d\n' },
      'first',
    );
    const url = await remoteUrl();
    const objects = await withRepo(src, async (repo) => {
      addRemote(repo, 'origin', url, b.settings);
      const r = await push(repo, { maxPackBytes: 8 * 1024 });
      expect(r.refs).toMatchObject([{ status: 'created', new: commit }]);
      expect(r.packs).toBeGreaterThan(3);
      return r.objects;
    });
    return { src, url, commit, objects };
  }

  async function expectCloneIdentical(src: string, url: string, commit: string): Promise<void> {
    const dst = join(dir('dst'), 'c');
    const c = await clone(url, dst, { settings: b.settings, all: true });
    expect(c.commit).toBe(commit);
    expectSameFiles(src, dst);
    await withRepo(dst, async (repo) => expect((await fsck(repo)).problems).toEqual([]));
  }

  it('a remote emptied behind our back (every key deleted) gets every object on the next push', async () => {
    const { src, url, commit, objects } = await pushed();
    expect(await deleteAll(b.store(url))).toBeGreaterThan(5);
    const r = await withRepo(src, (repo) => push(repo));
    expect(r.refs).toMatchObject([{ ref: 'refs/heads/main', old: null, new: commit, status: 'created' }]);
    expect(r.objects).toBe(objects);
    await expectCloneIdentical(src, url, commit);
  });

  it('a remote recreated empty at the same URL (new bucket or directory) gets every object again', async () => {
    const { src, url, commit, objects } = await pushed();
    const before = Buffer.from(await b.store(url).get(REMOTE_CONFIG_KEY)).toString('utf8');
    await b.recreate(url);
    const r = await withRepo(src, (repo) => push(repo));
    expect(r.refs).toMatchObject([{ status: 'created', new: commit }]);
    expect(r.objects).toBe(objects);
    // The recreated remote is a new remote: its identity marker differs from the old one's.
    const after = Buffer.from(await b.store(url).get(REMOTE_CONFIG_KEY)).toString('utf8');
    expect(JSON.parse(after).id).toMatch(/^[0-9a-f]{24}$/);
    expect(JSON.parse(after).id).not.toBe(JSON.parse(before).id);
    await expectCloneIdentical(src, url, commit);
  });

  /** The name of a pushed pack holding only chunks (not the commit), and how many objects it holds. */
  async function chunkPack(url: string, commit: string): Promise<{ name: string; count: number }> {
    const idx = await loadRemoteIndex(b.store(url));
    const metaPack = idx.find(commit)!.pack;
    const counts = new Map<string, number>();
    for (const l of idx.values()) counts.set(l.pack, (counts.get(l.pack) ?? 0) + 1);
    const [name, count] = [...counts].filter(([p]) => p !== metaPack).sort((a, b) => b[1] - a[1])[0]!;
    return { name, count };
  }

  it('a pack deleted from the remote is sent again by the next push, though the ref is up to date', async () => {
    const { src, url, commit } = await pushed();
    const lost = await chunkPack(url, commit);
    const store = b.store(url);
    await store.delete(`packs/${lost.name}.idx`);
    await store.delete(`packs/${lost.name}.pack`);
    const r = await withRepo(src, (repo) => push(repo));
    expect(r.refs).toMatchObject([{ status: 'up-to-date' }]);
    expect(r.objects).toBe(lost.count);
    expect(r.verified).toBe(true);
    await expectCloneIdentical(src, url, commit);
    // And once repaired, a push is a no-op again.
    const again = await withRepo(src, (repo) => push(repo));
    expect(again.objects).toBe(0);
    expect(again.verified).toBeUndefined();
  });

  it('a push interrupted while repairing a lost pack leaves the remote to be checked again by the next push', async () => {
    const { src, url, commit } = await pushed();
    const lost = await chunkPack(url, commit);
    const store = b.store(url);
    await store.delete(`packs/${lost.name}.idx`);
    await store.delete(`packs/${lost.name}.pack`);
    // Every upload fails: the push that noticed the loss sends nothing.
    const failing = new Proxy(store, {
      get(t, p) {
        if (p === 'put') return () => Promise.reject(new StrataError('IO', 'injected upload failure', {}));
        const v: unknown = Reflect.get(t, p);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    await expect(withRepo(src, (repo) => push(repo, { store: failing }))).rejects.toMatchObject({
      code: 'IO',
    });
    const r = await withRepo(src, (repo) => push(repo));
    expect(r.objects).toBe(lost.count);
    await expectCloneIdentical(src, url, commit);
  });

  it('a pack loss noticed by fetch is repaired by the next push', async () => {
    const { src, url, commit } = await pushed();
    const lost = await chunkPack(url, commit);
    const store = b.store(url);
    await store.delete(`packs/${lost.name}.idx`);
    await store.delete(`packs/${lost.name}.pack`);
    await withRepo(src, (repo) => fetch(repo));
    const r = await withRepo(src, (repo) => push(repo));
    expect(r.objects).toBe(lost.count);
    await expectCloneIdentical(src, url, commit);
  });

  it('a .pack deleted under its .idx is sent again by a fast-forward push', async () => {
    const { src, url, commit } = await pushed();
    const lost = await chunkPack(url, commit);
    await b.store(url).delete(`packs/${lost.name}.pack`);
    const second = await commitFiles(src, { 'notes.txt': 'second\n' }, 'second');
    const r = await withRepo(src, (repo) => push(repo));
    expect(r.refs).toMatchObject([{ status: 'fast-forward', old: commit, new: second }]);
    // The lost chunks, plus the new commit, its tree and the new file's manifest and chunk.
    expect(r.objects).toBeGreaterThanOrEqual(lost.count + 3);
    await expectCloneIdentical(src, url, second);
    // A reader straight from the remote ignores the orphaned .idx, whose objects now live in new packs.
    const reader = await RemoteObjectReader.open(b.store(url));
    await withRepo(src, async (repo) => {
      const hashes = [...repo.db.iterateObjects()].map((o) => o.hash);
      let n = 0;
      for await (const o of reader.getMany(hashes)) {
        expect(Buffer.from(o.data).equals(Buffer.from(repo.objects.getRaw(o.hash)))).toBe(true);
        n++;
      }
      expect(n).toBe(hashes.length);
    });
  });

  it('checkout data whose cached location names a pack that moved is found again; a lost one is INTEGRITY', async () => {
    const src = dir('src');
    const url = await remoteUrl();
    const base = await commitFiles(src, { 'a.txt': 'base\n' }, 'base');
    await withRepo(src, async (repo) => {
      addRemote(repo, 'origin', url, b.settings);
      await push(repo);
    });
    const side = await commitFiles(src, { 'big.jsonl': jsonl(200_000, 5) }, 'side');
    await withRepo(src, async (repo) => {
      repo.db.setRef('refs/heads/main', base, 'test: main back to base');
      repo.db.setRef('refs/heads/side', side, 'test: side');
      await push(repo, { refs: ['side'] });
    });
    const dst = join(dir('dst'), 'c');
    await clone(url, dst, { settings: b.settings });
    // Move the side commit's pack to another name behind the clone's back (what a remote repack does).
    const store = b.store(url);
    const idx = await loadRemoteIndex(store);
    const old = idx.find(side)!.pack;
    expect(old).not.toBe(idx.find(base)!.pack);
    const moved = 'f'.repeat(64);
    await store.put(`packs/${moved}.pack`, await store.get(`packs/${old}.pack`));
    await store.put(`packs/${moved}.idx`, await store.get(`packs/${old}.idx`));
    await store.delete(`packs/${old}.idx`);
    await store.delete(`packs/${old}.pack`);
    const got = await withRepo(dst, (repo) => fetchCheckoutData(repo, 'origin', side as never));
    expect(got.objects).toBeGreaterThan(0);
    // Now lose it for good: the error says the remote is incomplete, with a stable code.
    const dst2 = join(dir('dst2'), 'c');
    await clone(url, dst2, { settings: b.settings });
    await store.delete(`packs/${moved}.idx`);
    await store.delete(`packs/${moved}.pack`);
    await expect(
      withRepo(dst2, (repo) => fetchCheckoutData(repo, 'origin', side as never)),
    ).rejects.toMatchObject({ code: 'INTEGRITY' });
  });
});
