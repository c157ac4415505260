import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsck, isStrataError, Repository } from '../../src/core/index.js';
import {
  addRemote,
  clone,
  fetch,
  lsRemote,
  pull,
  push,
  RemoteObjectReader,
} from '../../src/core/remote/index.js';
import { readCommit as readCommitVia } from '../../src/core/object-reader.js';
import { CountingStore } from '../../src/storage/counting-store.js';
import { fileBackend, s3Backend, type Backend } from './backends.js';
import { commitFiles, expectSameFiles, jsonl, tmp, withRepo } from './helpers.js';

const backends: [string, () => Promise<Backend>][] = [
  ['file', async () => fileBackend()],
  ['s3 (moto)', () => s3Backend()],
];

describe.each(backends)('remote on %s', (_name, make) => {
  let b: Backend;
  beforeAll(async () => {
    b = await make();
  });
  afterAll(async () => {
    await b?.stop();
  });

  /** A repository with a few files (one large enough for several chunks), pushed to a fresh remote. */
  async function pushed(
    files?: Record<string, string>,
  ): Promise<{ dir: string; url: string; commit: string }> {
    const dir = tmp('src');
    const commit = await commitFiles(
      dir,
      files ?? {
        'data/train.jsonl': jsonl(600_000, 1),
        'data/test.jsonl': jsonl(50_000, 2),
        'README.md': '# dataset\n',
        'empty.txt': '',
      },
      'first',
    );
    const url = b.url();
    await withRepo(dir, async (repo) => {
      addRemote(repo, 'origin', url, b.settings);
      const r = await push(repo);
      expect(r.refs).toMatchObject([{ ref: 'refs/heads/main', status: 'created', new: commit }]);
      expect(r.objects).toBeGreaterThan(files ? 2 : 10);
    });
    return { dir, url, commit };
  }

  it('push, then clone into another directory: every file byte-identical, fsck clean', async () => {
    const { dir, url, commit } = await pushed();
    const dst = join(tmp('dst'), 'clone');
    const c = await clone(url, dst, { settings: b.settings });
    expect(c).toMatchObject({ branch: 'main', commit });
    expectSameFiles(dir, dst);
    await withRepo(dst, async (repo) => {
      const report = await fsck(repo);
      expect(report.problems).toEqual([]);
      expect(repo.db.getRef('refs/remotes/origin/main')).toBe(commit);
    });
  });

  it('a second push of an unchanged repository makes at most 5 requests', async () => {
    const { dir, url } = await pushed();
    const counting = new CountingStore(b.store(url));
    await withRepo(dir, async (repo) => {
      const r = await push(repo, { store: counting });
      expect(r.refs[0]!.status).toBe('up-to-date');
      expect(r.objects).toBe(0);
    });
    expect(counting.total).toBeLessThanOrEqual(5);
    // The LIST checks that the remote still holds the packs this repository knows of.
    expect(counting.calls.map(([op, k]) => `${op} ${k}`)).toEqual([
      'get strata.json',
      'getWithEtag refs/heads/main',
      'list packs/',
    ]);
    expect(counting.counts.put + counting.counts.putIfMatch).toBe(0);
  });

  it('pushes only what changed; clone --all gets the full history', async () => {
    const { dir, url } = await pushed();
    const big = jsonl(600_000, 1);
    // Append examples: most chunks are shared with the first commit.
    const second = await commitFiles(dir, { 'data/train.jsonl': big + jsonl(20_000, 9) }, 'second');
    const counting = new CountingStore(b.store(url));
    const r = await withRepo(dir, (repo) => push(repo, { store: counting }));
    expect(r.refs[0]).toMatchObject({ status: 'fast-forward', new: second });
    // A handful of new chunks plus manifest, tree and commit: far fewer than the first push.
    expect(r.objects).toBeLessThan(15);
    const dst = join(tmp('dst'), 'c');
    await clone(url, dst, { settings: b.settings, all: true });
    expectSameFiles(dir, dst);
    await withRepo(dst, async (repo) => expect((await fsck(repo)).problems).toEqual([]));
  });

  it('fetch and pull fast-forward; a diverged pull says how to merge', async () => {
    const { dir, url } = await pushed({ 'a.txt': 'one\n' });
    const other = join(tmp('other'), 'o');
    await clone(url, other, { settings: b.settings });
    const c2 = await commitFiles(dir, { 'a.txt': 'two\n', 'b/c.jsonl': jsonl(100_000, 3) }, 'two');
    await withRepo(dir, (repo) => push(repo));
    const f = await withRepo(other, (repo) => fetch(repo));
    expect(f.refs).toMatchObject([{ ref: 'refs/heads/main', new: c2 }]);
    await withRepo(other, async (repo) => {
      // Metadata only: the new file's chunks are not here yet.
      expect(repo.objects.has(repo.objects.commit(c2 as never).tree)).toBe(true);
      const p = await pull(repo);
      expect(p).toMatchObject({ status: 'fast-forward', new: c2 });
    });
    expectSameFiles(dir, other);
    await withRepo(other, async (repo) => expect((await pull(repo)).status).toBe('up-to-date'));
    // Diverge: both sides commit.
    await commitFiles(dir, { 'a.txt': 'three\n' }, 'three');
    await withRepo(dir, (repo) => push(repo));
    await commitFiles(other, { 'a.txt': 'other\n' }, 'other');
    const err = await withRepo(other, (repo) => pull(repo)).catch((e: unknown) => e);
    expect(isStrataError(err, 'NON_FAST_FORWARD')).toBe(true);
    expect((err as Error).message).toMatch(/merge/);
    // And pushing the diverged branch is refused too, unless forced.
    const perr = await withRepo(other, (repo) => push(repo)).catch((e: unknown) => e);
    expect(isStrataError(perr, 'NON_FAST_FORWARD')).toBe(true);
    const forced = await withRepo(other, (repo) => push(repo, { force: true }));
    expect(forced.refs[0]!.status).toBe('forced');
  });

  it('two clones pushing different commits to one branch at the same moment: exactly one wins', async () => {
    const { url } = await pushed({ 'a.txt': 'base\n' });
    const x = join(tmp('x'), 'x');
    const y = join(tmp('y'), 'y');
    await clone(url, x, { settings: b.settings });
    await clone(url, y, { settings: b.settings });
    const cx = await commitFiles(x, { 'x.jsonl': jsonl(300_000, 11) }, 'from x');
    const cy = await commitFiles(y, { 'y.jsonl': jsonl(300_000, 12) }, 'from y');
    const rx = Repository.open(x);
    const ry = Repository.open(y);
    const results = await Promise.allSettled([push(rx), push(ry)]);
    rx.close();
    ry.close();
    const ok = results.filter((r) => r.status === 'fulfilled');
    const bad = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok.length).toBe(1);
    expect(bad.length).toBe(1);
    expect(bad[0]!.reason).toMatchObject({ code: 'NON_FAST_FORWARD' });
    const ls = await lsRemote(b.store(url));
    const winner = ls.refs.find((r) => r.ref === 'refs/heads/main')!.commit;
    expect([cx, cy]).toContain(winner);
    // The ref names a complete commit.
    const check = join(tmp('check'), 'c');
    const c = await clone(url, check, { settings: b.settings, all: true });
    expect(c.commit).toBe(winner);
    await withRepo(check, async (repo) => expect((await fsck(repo)).problems).toEqual([]));
  });

  it('refuses a remote whose strata.json has an unknown format version', async () => {
    const { dir, url } = await pushed({ 'a.txt': 'x\n' });
    await b.store(url).put('strata.json', Buffer.from('{"format":99,"chunking":{"min":1,"avg":2,"max":3}}'));
    for (const op of [
      () => clone(url, join(tmp('v'), 'v'), { settings: b.settings }),
      () => withRepo(dir, (repo) => fetch(repo)),
      () => withRepo(dir, (repo) => push(repo, { force: true })),
    ]) {
      await expect(op()).rejects.toMatchObject({ code: 'UNSUPPORTED_VERSION' });
    }
  });

  it('push refuses a remote with other chunking parameters', async () => {
    const { dir, url } = await pushed({ 'a.txt': 'x\n' });
    await b
      .store(url)
      .put('strata.json', Buffer.from('{"format":1,"chunking":{"min":1024,"avg":2048,"max":8192}}'));
    await commitFiles(dir, { 'a.txt': 'y\n' }, 'y');
    await expect(withRepo(dir, (repo) => push(repo))).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('pushes tags, and RemoteObjectReader reads objects straight from the remote', async () => {
    const { dir, url, commit } = await pushed();
    await withRepo(dir, async (repo) => {
      repo.db.setRef('refs/tags/v1', commit, 'tag');
      const r = await push(repo, { tags: true });
      expect(r.refs).toMatchObject([{ ref: 'refs/tags/v1', status: 'created' }]);
      const reader = await RemoteObjectReader.open(b.store(url));
      const cm = await readCommitVia(reader, commit);
      expect(cm.message).toBe('first');
      // getMany in order, every chunk of every file, equal to the local bytes.
      const hashes = [...repo.db.iterateObjects()].map((o) => o.hash);
      let n = 0;
      for await (const o of reader.getMany(hashes)) {
        expect(o.hash).toBe(hashes[n++]);
        expect(Buffer.from(o.data).equals(Buffer.from(repo.objects.getRaw(o.hash)))).toBe(true);
      }
      expect(n).toBe(hashes.length);
    });
    const ls = await lsRemote(b.store(url));
    expect(ls.refs.map((r) => r.ref)).toEqual(['refs/heads/main', 'refs/tags/v1']);
  });

  it('clone of an empty remote gives an empty repository; a clone into a non-empty directory is refused', async () => {
    const dst = join(tmp('none'), 'n');
    const r = await clone(b.url(), dst, { settings: b.settings });
    expect(r.branch).toBeNull();
    const busy = tmp('busy');
    writeFileSync(join(busy, 'f'), 'x');
    await expect(clone(b.url(), busy, { settings: b.settings })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
  });
});
