/**
 * fetch, pull, clone and ls-remote. Fetch reads the remote's refs, brings the local cache of its pack
 * indexes up to date, downloads the metadata objects (commits, trees, manifests, segments) missing locally
 * with coalesced ranged GETs of the remote packs (chunk data only on request: `all`, or for the files a
 * checkout writes), verifies each object's hash, stores them as they arrived (already encoded), makes them
 * durable, and only then moves the remote-tracking refs. See docs/REMOTES.md.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { StrataError, isStrataError } from '../../storage/errors.js';
import type { Hash } from '../../storage/hash.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { KIND } from '../../storage/pack-format.js';
import { updateWorktree } from '../checkout.js';
import { markPartial } from '../partial.js';
import { decodeCommit, decodeSegment } from '../objects/objects.js';
import { readHead } from '../refs.js';
import { Repository } from '../repository.js';
import { isAncestor } from './graph.js';
import { REFS_PREFIX, readRemoteConfig, readRemoteRef, type RemoteConfigFile } from './layout.js';
import type { TransferProgress } from './progress.js';
import { recordRemoteRef } from './push.js';
import { CachedRemoteIndex, type RemoteIndex, type RemoteObjectLocation } from './remote-index.js';
import { addRemote, getRemote, openRemoteStore, type RemoteSettings } from './remotes.js';
import { planReads, readRanges, type RangeOptions } from './ranges.js';

export interface RemoteRef {
  ref: string;
  commit: Hash;
}

/** Every ref on a remote (one LIST of refs/, one GET per ref), sorted by name. */
export async function listRemoteRefs(store: ObjectStore, signal?: AbortSignal): Promise<RemoteRef[]> {
  const keys: string[] = [];
  for await (const k of store.list(REFS_PREFIX, { signal }))
    if (/^refs\/(heads|tags)\/./.test(k)) keys.push(k);
  const refs = await Promise.all(
    keys.map(async (k) => {
      const r = await readRemoteRef(store, k);
      return r && { ref: k, commit: r.commit };
    }),
  );
  return refs.filter((r): r is RemoteRef => !!r).sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}

export interface LsRemoteResult {
  location: string;
  config: RemoteConfigFile | undefined;
  refs: RemoteRef[];
}

export async function lsRemote(store: ObjectStore): Promise<LsRemoteResult> {
  const config = await readRemoteConfig(store);
  return { location: store.location, config, refs: config ? await listRemoteRefs(store) : [] };
}

export interface FetchOptions extends RangeOptions {
  remote?: string;
  /** Also download every chunk reachable from the fetched refs. */
  all?: boolean;
  store?: ObjectStore;
  progress?: TransferProgress;
}

export interface FetchResult {
  remote: string;
  location: string;
  refs: { ref: string; old: Hash | null; new: Hash }[];
  pruned: string[];
  objects: number;
  bytes: number;
}

const META_KINDS = [KIND.commit, KIND.tree, KIND.file, KIND.segment];

/**
 * Downloads objects by hash from the remote into the local packs (verified, stored as they arrived) and
 * flushes them. Returns the count and bytes received.
 */
export async function downloadObjects(
  repo: Repository,
  store: ObjectStore,
  index: RemoteIndex,
  hashes: Iterable<string>,
  opts: RangeOptions & { progress?: TransferProgress } = {},
): Promise<{ objects: number; bytes: number }> {
  const locs: RemoteObjectLocation[] = [];
  for (const h of hashes) {
    if (repo.objects.has(h)) continue;
    const l = index.find(h);
    if (!l)
      throw new StrataError(
        'INTEGRITY',
        `object ${h} is not on the remote ${store.location} (the remote is incomplete)`,
        {
          hash: h,
          location: store.location,
        },
      );
    locs.push(l);
  }
  if (!locs.length) return { objects: 0, bytes: 0 };
  const reads = planReads(locs, opts);
  const commits: { hash: string; raw: Uint8Array }[] = [];
  let objects = 0;
  let bytes = 0;
  opts.progress?.onPhase?.('receiving objects', {
    objects: locs.length,
    bytes: reads.reduce((a, r) => a + r.end - r.start, 0),
  });
  try {
    await readRanges(
      store,
      reads,
      (l, enc, raw) => {
        repo.objects.packs.putEncoded(l.hash, l.kind, l.codec, l.rawLength, enc);
        if (l.kind === KIND.commit) commits.push({ hash: l.hash, raw });
        objects++;
        opts.progress?.onObjects?.(1);
      },
      {
        ...opts,
        onBytes: (n) => {
          bytes += n;
          opts.progress?.onBytes?.(n);
        },
      },
    );
  } catch (e) {
    repo.objects.packs.abort();
    throw e;
  }
  repo.objects.flush();
  for (const c of commits) {
    const cm = decodeCommit(c.raw, c.hash);
    repo.db.recordCommit(c.hash, cm.tree, cm.time, cm.parents);
  }
  return { objects, bytes };
}

/**
 * downloadObjects through the repository's cache of the remote's indexes. A pack that is not found means the
 * cache is stale (the remote was repacked, pruned or recreated since it was read): the cache is brought up
 * to date (one LIST) and the download tried once more, where an object the remote no longer holds is
 * INTEGRITY ("the remote is incomplete") and a pack vanishing again is INTEGRITY too.
 */
export async function downloadSynced(
  repo: Repository,
  store: ObjectStore,
  cache: CachedRemoteIndex,
  hashes: Iterable<string>,
  opts: RangeOptions & { progress?: TransferProgress } = {},
): Promise<{ objects: number; bytes: number }> {
  const want = [...hashes];
  try {
    return await downloadObjects(repo, store, cache, want, opts);
  } catch (e) {
    if (!isStrataError(e, 'NOT_FOUND')) throw e;
    await cache.sync(store, opts.signal);
    try {
      return await downloadObjects(repo, store, cache, want, opts);
    } catch (e2) {
      if (!isStrataError(e2, 'NOT_FOUND')) throw e2;
      throw new StrataError(
        'INTEGRITY',
        `a pack of ${store.location} vanished while it was being read (is the remote being rebuilt?): ${e2.message}`,
        { location: store.location },
        { cause: e2 },
      );
    }
  }
}

/**
 * Reads a metadata object that fetch must already have brought in. All metadata a remote holds is local
 * after a fetch, so a missing one was never there as metadata: the remote is incomplete, or its
 * referrer names an object of another kind (a tree entry naming a chunk).
 */
function fetchedMeta<T>(read: () => T, hash: string, what: string, referrer: string): T {
  try {
    return read();
  } catch (e) {
    if (!isStrataError(e, 'NOT_FOUND')) throw e;
    throw new StrataError(
      'INTEGRITY',
      `${referrer} names ${what} ${hash}, which the remote does not hold as a ${what}`,
      { hash, referrer },
      { cause: e },
    );
  }
}

/** Chunks of the files under a commit's tree (or, with `history`, under every commit it reaches). */
export function chunksOf(repo: Repository, tips: readonly string[], history: boolean): Set<string> {
  return new Set(eachChunkOf(repo, tips, history));
}

/** chunksOf as it walks (a chunk may come more than once): a caller that stops early reads no further. */
function* eachChunkOf(repo: Repository, tips: readonly string[], history: boolean): Generator<string> {
  const seen = new Set<string>();
  const commits = [...tips];
  while (commits.length) {
    const c = commits.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    const cm = repo.objects.commit(c);
    if (history) commits.push(...cm.parents);
    const trees: [string, string][] = [[cm.tree, `commit ${c}`]];
    while (trees.length) {
      const [t, referrer] = trees.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      for (const e of fetchedMeta(() => repo.objects.tree(t), t, 'tree', referrer).entries) {
        if (e.kind === 'tree') trees.push([e.hash, `tree ${t}`]);
        else if (!seen.has(e.hash)) {
          seen.add(e.hash);
          const m = fetchedMeta(() => repo.objects.manifest(e.hash), e.hash, 'file', `tree ${t}`);
          for (const s of m.spans ?? []) yield s[0];
          for (const seg of m.segments ?? [])
            for (const s of decodeSegment(repo.objects.getRaw(seg.hash, KIND.segment), seg.hash).spans)
              yield s[0];
        }
      }
    }
  }
}

/** Whether some chunk of the files of these commits and their history is not here (stops at the first). */
function lacksData(repo: Repository, tips: readonly string[]): boolean {
  const checked = new Set<string>();
  for (const h of eachChunkOf(repo, tips, true)) {
    if (checked.has(h)) continue;
    checked.add(h);
    if (!repo.objects.has(h)) return true;
  }
  return false;
}

function checkComplete(repo: Repository, remote: string, ref: RemoteRef): void {
  try {
    const cm = repo.objects.commit(ref.commit);
    repo.objects.tree(cm.tree);
  } catch (e) {
    if (isStrataError(e, 'NOT_FOUND'))
      throw new StrataError(
        'INTEGRITY',
        `remote ${remote} ref ${ref.ref} names commit ${ref.commit}, whose objects are not on the remote`,
        { remote, ref: ref.ref, commit: ref.commit },
      );
    throw e;
  }
}

/** Fetches refs and metadata (and with `all`, chunk data) from a remote. */
export async function fetch(repo: Repository, opts: FetchOptions = {}): Promise<FetchResult> {
  const remote = opts.remote ?? 'origin';
  const info = getRemote(repo, remote);
  const store = opts.store ?? openRemoteStore(info.url, info);
  try {
    return await repo.withLock(() => fetchFrom(repo, remote, store, opts));
  } finally {
    if (!opts.store) await store.close?.();
  }
}

async function fetchFrom(
  repo: Repository,
  remote: string,
  store: ObjectStore,
  opts: FetchOptions,
): Promise<FetchResult> {
  {
    const result: FetchResult = {
      remote,
      location: store.location,
      refs: [],
      pruned: [],
      objects: 0,
      bytes: 0,
    };
    const cfg = await readRemoteConfig(store);
    const refs = cfg ? await listRemoteRefs(store, opts.signal) : [];
    opts.progress?.onPhase?.('reading remote indexes');
    const cache = new CachedRemoteIndex(repo, remote);
    // Another remote at this URL (recreated, wiped) than the one remembered: forget the old one's indexes.
    cache.checkIdentity(cfg);
    if (cfg) await cache.sync(store, opts.signal);
    // Metadata: every commit, tree, manifest and segment the remote holds that we lack.
    const meta = cache.hashesOfKinds(META_KINDS).filter((l) => !repo.objects.has(l.hash));
    const got = await downloadSynced(
      repo,
      store,
      cache,
      meta.map((l) => l.hash),
      opts,
    );
    for (const r of refs) checkComplete(repo, remote, r);
    if (opts.all) {
      const data = await downloadSynced(
        repo,
        store,
        cache,
        [...chunksOf(repo, [...new Set(refs.map((r) => r.commit))], true)],
        opts,
      );
      got.objects += data.objects;
      got.bytes += data.bytes;
    }
    Object.assign(result, got);
    // Without --all, commits whose chunk data is not here make the repository partial: their files are
    // downloaded when a command reads them (core/partial.ts). With --all, everything is here.
    if (opts.all) markPartial(repo, false);
    else if (refs.length) {
      if (lacksData(repo, [...new Set(refs.map((r) => r.commit))])) markPartial(repo, true);
    }
    // Refs last, after the objects they name are durable.
    const before = new Map(
      (
        repo.db.prep('SELECT name, target FROM remote_refs WHERE remote = ?').all(remote) as {
          name: string;
          target: string;
        }[]
      ).map((r) => [r.name, r.target]),
    );
    for (const r of refs) {
      const old = (before.get(r.ref) as Hash | undefined) ?? null;
      if (old !== r.commit) result.refs.push({ ref: r.ref, old, new: r.commit });
      recordRemoteRef(repo, remote, r.ref, r.commit);
      if (r.ref.startsWith('refs/tags/') && !repo.db.getRef(r.ref))
        repo.db.setRef(r.ref, r.commit, `fetch: tag from ${remote}`);
      before.delete(r.ref);
    }
    for (const gone of before.keys()) {
      repo.db.prep('DELETE FROM remote_refs WHERE remote = ? AND name = ?').run(remote, gone);
      if (gone.startsWith('refs/heads/')) {
        const local = `refs/remotes/${remote}/${gone.slice('refs/heads/'.length)}`;
        if (repo.db.getRef(local)) repo.db.setRef(local, undefined, `fetch: ${gone} is gone from ${remote}`);
      }
      result.pruned.push(gone);
    }
    return result;
  }
}

/** Downloads the chunks a checkout of `commit` needs that are not local ("data as needed"). */
export async function fetchCheckoutData(
  repo: Repository,
  remote: string,
  commit: Hash,
  opts: { store?: ObjectStore; progress?: TransferProgress } & RangeOptions = {},
): Promise<{ objects: number; bytes: number }> {
  const want = [...chunksOf(repo, [commit], false)].filter((h) => !repo.objects.has(h));
  if (!want.length) return { objects: 0, bytes: 0 };
  const info = getRemote(repo, remote);
  const store = opts.store ?? openRemoteStore(info.url, info);
  const cache = new CachedRemoteIndex(repo, remote);
  try {
    if (want.some((h) => !cache.has(h))) await cache.sync(store, opts.signal);
    return await repo.withLock(() => downloadSynced(repo, store, cache, want, opts));
  } finally {
    if (!opts.store) await store.close?.();
  }
}

/**
 * Moves the current branch to `target` and the working tree with it. Index and working tree move first
 * (refusing to overwrite local changes, like `switch`), then the branch, in one ref write, so HEAD never
 * leaves the branch: a crash in between leaves the branch at its old commit with the new files in place,
 * and re-running pull finishes (files already at the target are not local changes).
 */
async function fastForward(repo: Repository, branch: string, target: Hash, message: string): Promise<void> {
  await repo.withLock(async () => {
    const head = readHead(repo);
    await updateWorktree(repo, head.commit, target);
    repo.db.setRef(`refs/heads/${branch}`, target, message, head.commit ?? null);
  });
}

export interface PullOptions extends FetchOptions {
  /** The remote branch to bring in (default: the current branch's name). */
  branch?: string;
}

export interface PullResult {
  fetch: FetchResult;
  branch: string;
  old: Hash | null;
  new: Hash;
  status: 'up-to-date' | 'fast-forward' | 'ahead';
}

/** fetch, then fast-forward the current branch and working tree to the remote branch. */
export async function pull(repo: Repository, opts: PullOptions = {}): Promise<PullResult> {
  const remote = opts.remote ?? 'origin';
  const head = readHead(repo);
  if (head.kind !== 'branch')
    throw new StrataError('BAD_INPUT', 'HEAD is detached: switch to a branch to pull', {});
  const branch = opts.branch ?? head.branch;
  const f = await fetch(repo, { ...opts, remote });
  const tracking = `refs/remotes/${remote}/${branch}`;
  const target = repo.db.getRef(tracking) as Hash | undefined;
  if (!target)
    throw new StrataError('NOT_FOUND', `remote ${remote} has no branch ${branch}`, { remote, branch });
  const local = readHead(repo).commit ?? null;
  if (local === target)
    return { fetch: f, branch: head.branch, old: local, new: target, status: 'up-to-date' };
  if (local && isAncestor(repo, target, local))
    return { fetch: f, branch: head.branch, old: local, new: local, status: 'ahead' };
  if (local && !isAncestor(repo, local, target))
    throw new StrataError(
      'NON_FAST_FORWARD',
      `${head.branch} and ${remote}/${branch} have diverged: merge them (\`strata merge ${remote}/${branch}\`), or discard your local commits (\`strata reset --hard ${remote}/${branch}\`)`,
      { branch: head.branch, local, remote: target, tracking },
    );
  await fetchCheckoutData(repo, remote, target, { ...opts, store: opts.store });
  await fastForward(repo, head.branch, target, `pull: fast-forward to ${remote}/${branch}`);
  return { fetch: f, branch: head.branch, old: local, new: target, status: 'fast-forward' };
}

export interface CloneOptions extends RangeOptions {
  /** Download every chunk of the history, not only what the checkout needs. */
  all?: boolean;
  /** Branch to check out (default: main, else master, else the first branch). */
  branch?: string;
  settings?: RemoteSettings;
  store?: ObjectStore;
  progress?: TransferProgress;
  cwd?: string;
}

export interface CloneResult {
  root: string;
  location: string;
  branch: string | null;
  commit: Hash | null;
  objects: number;
  bytes: number;
}

/** The directory `clone URL` creates by default: the last component of the URL's path. */
export function defaultCloneDir(url: string): string {
  const name = basename(
    url
      .replace(/[?#].*$/, '')
      .replace(/\/+$/, '')
      .replace(/^[a-z0-9]+:\/\//i, '/'),
  );
  return name && name !== '/' ? name : 'dataset';
}

/** init + remote add origin + fetch + checkout of the default branch (its data as needed, or everything). */
export async function clone(url: string, dir?: string, opts: CloneOptions = {}): Promise<CloneResult> {
  const cwd = opts.cwd ?? process.cwd();
  const store = opts.store ?? openRemoteStore(url, opts.settings, { cwd });
  let cfg: RemoteConfigFile | undefined;
  let refs: RemoteRef[];
  try {
    cfg = await readRemoteConfig(store);
    refs = cfg ? await listRemoteRefs(store, opts.signal) : [];
  } catch (e) {
    if (!opts.store) await store.close?.();
    throw e;
  }
  const heads = refs
    .filter((r) => r.ref.startsWith('refs/heads/'))
    .map((r) => r.ref.slice('refs/heads/'.length));
  const branch = opts.branch ?? ['main', 'master'].find((b) => heads.includes(b)) ?? heads[0] ?? null;
  if (opts.branch && !heads.includes(opts.branch))
    throw new StrataError('NOT_FOUND', `remote has no branch ${opts.branch}`, { branch: opts.branch });
  const root = resolve(cwd, dir ?? defaultCloneDir(url));
  const existed = existsSync(root);
  if (existed && readdirSync(root).length)
    throw new StrataError('ALREADY_EXISTS', `destination ${root} exists and is not empty`, { path: root });
  mkdirSync(root, { recursive: true });
  let repo: Repository | undefined;
  try {
    repo = Repository.init(root, {
      ...(cfg ? { chunking: cfg.chunking } : {}),
      defaultBranch: branch ?? 'main',
    });
    addRemote(repo, 'origin', url, opts.settings, cwd);
    const f = await fetch(repo, { ...opts, remote: 'origin', store });
    let commit: Hash | null = null;
    let data = { objects: 0, bytes: 0 };
    if (branch) {
      commit = repo.db.getRef(`refs/remotes/origin/${branch}`) as Hash;
      if (!opts.all) data = await fetchCheckoutData(repo, 'origin', commit, { ...opts, store });
      await fastForward(repo, branch, commit, `clone: from ${url}`);
    }
    return {
      root,
      location: store.location,
      branch,
      commit,
      objects: f.objects + data.objects,
      bytes: f.bytes + data.bytes,
    };
  } catch (e) {
    repo?.close();
    repo = undefined;
    rmSync(existed ? resolve(root, '.strata') : root, { recursive: true, force: true });
    throw e;
  } finally {
    repo?.close();
    if (!opts.store) await store.close?.();
  }
}
