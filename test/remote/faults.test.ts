/** Pushes through a fault-injecting proxy in front of moto: lost responses, interrupted and resumed pushes. */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsck } from '../../src/core/index.js';
import { addRemote, clone, listRemotePacks, push, readRemoteRef } from '../../src/core/remote/index.js';
import { CountingStore } from '../../src/storage/counting-store.js';
import { decodePackIndex } from '../../src/storage/pack-format.js';
import { RetryStore } from '../../src/storage/retry-store.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { setAwsEnv } from './backends.js';
import { commitFiles, expectSameFiles, jsonl, tmp, withRepo } from './helpers.js';

let moto: Moto;
let proxy: FaultProxy;

beforeAll(async () => {
  setAwsEnv();
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
});
afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
});

/** A store through the proxy, with fast retries, counted. */
function proxied(prefix: string, retries = 4): CountingStore {
  return new CountingStore(
    new RetryStore(new S3Store(moto.storeOptions(prefix, { endpoint: proxy.endpoint })), {
      retries,
      minTimeoutMs: 5,
      maxTimeoutMs: 20,
    }),
  );
}

describe('push through faults', () => {
  it('a lost response on the ref write: the retry sees 412, re-reads the writer id, push reports success', async () => {
    const prefix = `lost-${randomUUID().slice(0, 8)}`;
    const dir = tmp('lost');
    const c1 = await commitFiles(dir, { 'a.jsonl': jsonl(100_000, 1) }, 'one');
    const url = `s3://${moto.bucket}/${prefix}`;
    for (const [commitHash, label] of [
      [c1, 'create (If-None-Match: *)'],
      [undefined, 'update (If-Match)'],
    ] as const) {
      const want = commitHash ?? (await commitFiles(dir, { 'b.txt': 'two\n' }, 'two'));
      proxy.inject({
        fault: 'lose-response',
        match: (r) => r.method === 'PUT' && r.url.includes(`/${prefix}/refs/heads/main`),
        times: 1,
      });
      const store = proxied(prefix);
      const r = await withRepo(dir, (repo) => {
        if (!repo.db.getConfig('remote.origin.endpoint') && commitHash)
          addRemote(repo, 'origin', url, { endpoint: moto.endpoint });
        return push(repo, { store });
      });
      expect(r.refs[0], label).toMatchObject({ new: want, recovered: true });
      expect(store.calls.filter(([op, k]) => op === 'putIfMatch' && k.startsWith('refs/')).length).toBe(1);
      expect((await readRemoteRef(new S3Store(moto.storeOptions(prefix)), 'refs/heads/main'))?.commit).toBe(
        want,
      );
      proxy.clear();
    }
  });

  it('a push interrupted by faults resumes without re-uploading the packs that landed', async () => {
    const prefix = `resume-${randomUUID().slice(0, 8)}`;
    const dir = tmp('resume');
    await commitFiles(dir, { 'big.jsonl': jsonl(3_000_000, 5), 'small.jsonl': jsonl(200_000, 6) }, 'big');
    const url = `s3://${moto.bucket}/${prefix}`;
    await withRepo(dir, (repo) => void addRemote(repo, 'origin', url, { endpoint: moto.endpoint }));
    // Every pack upload after the 4th fails, whatever the retries do.
    let packPuts = 0;
    proxy.inject({
      fault: 'reset',
      match: (r) =>
        r.method === 'PUT' && /\.pack(\?|$)/.test(r.url) && r.url.includes(prefix) && ++packPuts > 4,
    });
    const opts = { maxPackBytes: 64 * 1024, packConcurrency: 2 };
    const first = await withRepo(dir, (repo) => push(repo, { ...opts, store: proxied(prefix, 1) })).catch(
      (e: unknown) => e,
    );
    expect(first).toMatchObject({ code: 'NETWORK' });
    proxy.clear();
    const direct = new S3Store(moto.storeOptions(prefix));
    const landed = await listRemotePacks(direct);
    expect(landed.indexed.size).toBeGreaterThan(0);
    const landedObjects = new Set<string>();
    for (const n of landed.indexed)
      for (const e of decodePackIndex(await direct.get(`packs/${n}.idx`), n)) landedObjects.add(e.hash);
    expect(await readRemoteRef(direct, 'refs/heads/main')).toBeUndefined();

    // Retry: only what did not land goes up.
    const store = proxied(prefix);
    const second = await withRepo(dir, (repo) => push(repo, { ...opts, store }));
    const putKeys = store.calls.filter(([op]) => op === 'put').map(([, k]) => k);
    const packKeys = putKeys.filter((k) => k.endsWith('.pack'));
    expect(packKeys.length).toBe(second.packs - second.packsSkipped);
    for (const k of packKeys) expect(landed.indexed.has(k.slice(6, -5))).toBe(false);
    const total = await withRepo(dir, (repo) => repo.db.objectCount());
    expect(second.objects).toBe(total - landedObjects.size);
    for (const k of putKeys.filter((x) => x.endsWith('.idx'))) {
      for (const e of decodePackIndex(await direct.get(k), k)) expect(landedObjects.has(e.hash)).toBe(false);
    }
    // The result is complete.
    const dst = join(tmp('rc'), 'c');
    await clone(url, dst, { settings: { endpoint: moto.endpoint }, all: true });
    expectSameFiles(dir, dst);
    await withRepo(dst, async (repo) => expect((await fsck(repo)).problems).toEqual([]));
  });

  it('clone and fetch complete through 503s, resets and truncated bodies', async () => {
    const prefix = `chaos-${randomUUID().slice(0, 8)}`;
    const dir = tmp('chaos');
    await commitFiles(dir, { 'd.jsonl': jsonl(1_000_000, 8) }, 'one');
    const url = `s3://${moto.bucket}/${prefix}`;
    await withRepo(dir, async (repo) => {
      addRemote(repo, 'origin', url, { endpoint: moto.endpoint });
      proxy.chaos(0.3, ['slowdown', 'reset', 'truncate'], 7);
      await push(repo, { store: proxied(prefix, 8), maxPackBytes: 256 * 1024 });
    });
    const dst = join(tmp('cc'), 'c');
    await clone(url, dst, { store: proxied(prefix, 8), all: true, maxRangeBytes: 128 * 1024 });
    proxy.clear();
    expectSameFiles(dir, dst);
  });
});
