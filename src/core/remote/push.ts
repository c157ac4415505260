/**
 * push: send what the remote lacks as packs (at most 64 MiB each, several in flight, each pack's .idx
 * written after its .pack), then move each ref with a compare-and-swap. See docs/REMOTES.md.
 *
 * A pack is never held in memory: one pass over its objects names it (the BLAKE3 of its bytes), a second
 * streams them to the store in 1 MiB blocks as it reads them (replayable, so a retry reads them again).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { CODEC_DELTA } from '../../storage/codec.js';
import type { ObjectLocation } from '../../storage/index-db.js';
import { StrataError, isStrataError } from '../../storage/errors.js';
import { createHasher, type Hash } from '../../storage/hash.js';
import { replayable, type ObjectStore, type ReplayableBody } from '../../storage/object-store.js';
import {
  KIND,
  encodePackIndex,
  entryHeader,
  packHeader,
  PACK_HEADER_SIZE,
  ENTRY_HEADER_SIZE,
  type PackEntry,
} from '../../storage/pack-format.js';
import { decodeSegment, type FileManifest } from '../objects/objects.js';
import { readHead } from '../refs.js';
import type { Repository } from '../repository.js';
import { isAncestor, treeClosure } from './graph.js';
import {
  createRemoteConfig,
  encodeRemoteRef,
  idxKey,
  newWriterId,
  packKey,
  readRemoteConfig,
  readRemoteRef,
  refKey,
  sameChunking,
} from './layout.js';
import type { TransferProgress } from './progress.js';
import { CachedRemoteIndex, type PackListing } from './remote-index.js';
import { getRemote, openRemoteStore } from './remotes.js';

export const MAX_PACK_BYTES = 64 * 1024 * 1024;

export interface PushOptions {
  /** Remote name (default origin). */
  remote?: string;
  /** Branch or tag names (default: the current branch). */
  refs?: string[];
  /** Push every local tag too. */
  tags?: boolean;
  /** Allow non-fast-forward updates (still compare-and-swap against what was read). */
  force?: boolean;
  progress?: TransferProgress;
  /** Use this store instead of opening the remote's URL (tests wrap it, e.g. in a CountingStore). */
  store?: ObjectStore;
  /** Packs built and uploaded at once (default 4). */
  packConcurrency?: number;
  /** Pack size limit (default 64 MiB); packs are sized to spread a push over packConcurrency uploads. */
  maxPackBytes?: number;
  signal?: AbortSignal;
}

export type PushStatus = 'up-to-date' | 'created' | 'fast-forward' | 'forced';

export interface PushRefResult {
  ref: string;
  old: Hash | null;
  new: Hash;
  status: PushStatus;
  /** True when a lost response was detected and the ref was found to hold our write. */
  recovered?: boolean;
}

export interface PushResult {
  remote: string;
  location: string;
  refs: PushRefResult[];
  objects: number;
  bytes: number;
  packs: number;
  /** Packs found already on the remote (from an interrupted earlier push) and not uploaded again. */
  packsSkipped: number;
  /**
   * True when the remote had lost objects it was known to hold (a pack vanished, or it was recreated at
   * the same URL): every object of every ref pushed was checked against its indexes, and what it lacked sent.
   */
  verified?: boolean;
}

interface Target {
  ref: string;
  commit: Hash;
}

function targets(repo: Repository, opts: PushOptions): Target[] {
  const out: Target[] = [];
  const names = opts.refs ?? [];
  if (names.length === 0 && !opts.tags) {
    const h = readHead(repo);
    if (h.kind !== 'branch')
      throw new StrataError('BAD_INPUT', 'HEAD is detached: name the branch to push', {});
    if (!h.commit)
      throw new StrataError('BAD_INPUT', `branch ${h.branch} has no commits yet: nothing to push`, {
        branch: h.branch,
      });
    out.push({ ref: `refs/heads/${h.branch}`, commit: h.commit });
  }
  for (const n of names) {
    const ref = n.startsWith('refs/')
      ? n
      : repo.db.getRef(`refs/heads/${n}`)
        ? `refs/heads/${n}`
        : `refs/tags/${n}`;
    const c = repo.db.getRef(ref);
    if (!c) throw new StrataError('NOT_FOUND', `no local branch or tag named ${n}`, { name: n });
    out.push({ ref, commit: c as Hash });
  }
  if (opts.tags)
    for (const t of repo.db.listRefs('refs/tags/'))
      if (!out.some((o) => o.ref === t.name)) out.push({ ref: t.name, commit: t.target as Hash });
  for (const t of out) refKey(t.ref);
  return out;
}

/**
 * Objects reachable from `tips` that the remote lacks: metadata first, then chunks in file order, and about
 * how many bytes they take in packs (`bytes`, from the index rows the walk reads anyway).
 */
export function objectsToSend(
  repo: Repository,
  tips: readonly Hash[],
  boundary: readonly Hash[],
  remoteHas: (h: string) => boolean,
): { meta: string[]; chunks: string[]; bytes: number } {
  const stop = new Set(boundary.filter((b) => repo.objects.has(b)));
  const complete = new Set<string>();
  for (const b of stop) treeClosure(repo, b, complete);
  const meta: string[] = [];
  const chunks: string[] = [];
  const seen = new Set<string>();
  const want = (h: string, list: string[]): boolean => {
    if (seen.has(h)) return false;
    seen.add(h);
    if (!remoteHas(h)) list.push(h);
    return true;
  };
  const needLocal = (h: string): void => {
    if (!repo.objects.has(h))
      throw new StrataError(
        'NOT_FOUND',
        `object ${h} is neither in the local repository nor on the remote (a partial clone? run strata fetch --all)`,
        { hash: h },
      );
  };
  let bytes = 0;
  // A chunk to send must be here: one query to the remote cache, one to the local index, per chunk.
  const wantChunk = (h: string): void => {
    if (seen.has(h)) return;
    seen.add(h);
    if (remoteHas(h)) return;
    const loc = repo.db.findObject(h);
    if (loc) bytes += pushedBytes(loc);
    else needLocal(h); // maybe in a pack not indexed yet: counted when it is packed
    chunks.push(h);
  };
  const walkManifest = (m: FileManifest): void => {
    for (const s of m.spans ?? []) wantChunk(s[0]);
    for (const seg of m.segments ?? []) {
      if (!want(seg.hash, meta)) continue;
      if (!repo.objects.has(seg.hash) && remoteHas(seg.hash)) continue;
      needLocal(seg.hash);
      for (const s of decodeSegment(repo.objects.getRaw(seg.hash, KIND.segment), seg.hash).spans)
        wantChunk(s[0]);
    }
  };
  const walkTree = (t: string): void => {
    const stack = [t];
    while (stack.length) {
      const h = stack.pop()!;
      if (complete.has(h) || !want(h, meta)) continue;
      needLocal(h);
      for (const e of repo.objects.tree(h).entries) {
        if (e.kind === 'tree') stack.push(e.hash);
        else if (!complete.has(e.hash) && want(e.hash, meta)) {
          needLocal(e.hash);
          walkManifest(repo.objects.manifest(e.hash));
        }
      }
    }
  };
  const commits = [...tips];
  while (commits.length) {
    const c = commits.pop()!;
    if (stop.has(c) || !want(c, meta)) continue;
    needLocal(c);
    const cm = repo.objects.commit(c);
    walkTree(cm.tree);
    for (const p of cm.parents) commits.push(p);
  }
  for (const h of meta) {
    const loc = repo.db.findObject(h);
    if (loc) bytes += pushedBytes(loc);
  }
  return { meta, chunks, bytes };
}

/** Bytes an object takes in a pushed pack, with its entry header: a delta chunk is sent in full (at most its raw length). */
function pushedBytes(loc: ObjectLocation): number {
  return (loc.codec === CODEC_DELTA ? loc.raw_length : loc.length) + ENTRY_HEADER_SIZE;
}

/** Bytes a pack body is produced in: what a pack upload holds in memory besides the store's own buffers. */
export const PACK_BLOCK_BYTES = 1024 * 1024;

/** An entry of a planned pack, with where its stored bytes are in a local pack file (pack id -1: elsewhere). */
interface PlannedEntry extends PackEntry {
  srcPack: number;
  srcOffset: number;
}

/**
 * The local pack files a push reads, by pack id: the stored bytes of an indexed, fully stored object are read
 * from where the walk found them (one index query per object for a whole push); anything else (a delta chunk
 * sent in full, an object not indexed yet) goes through readEncodedFull.
 */
class PackSource {
  private readonly fds = new Map<number, number>();
  constructor(private readonly repo: Repository) {}

  /** The object's entry fields and, if it can be read straight from a pack file, its bytes' location. */
  locate(h: string): {
    kind: number;
    codec: number;
    rawLength: number;
    length: number;
    srcPack: number;
    srcOffset: number;
    bytes?: Uint8Array;
  } {
    const loc = this.repo.db.findObject(h);
    if (loc && loc.codec !== CODEC_DELTA)
      return {
        kind: loc.kind,
        codec: loc.codec,
        rawLength: loc.raw_length,
        length: loc.length,
        srcPack: loc.pack,
        srcOffset: loc.offset,
      };
    // Remotes never hold delta-coded chunks (codec 2): a local delta chunk is sent as a full copy.
    const o = this.repo.objects.packs.readEncodedFull(h);
    return {
      kind: o.kind,
      codec: o.codec,
      rawLength: o.rawLength,
      length: o.bytes.length,
      srcPack: -1,
      srcOffset: 0,
      bytes: o.bytes,
    };
  }

  /** Reads `length` stored bytes of pack `pack` at `offset` into `into` at `at`. */
  read(pack: number, offset: number, length: number, into: Buffer, at: number): void {
    let fd = this.fds.get(pack);
    if (fd === undefined) {
      const path = join(this.repo.objects.packs.dir, `${this.repo.db.packName(pack)}.pack`);
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw new StrataError('INTEGRITY', `pack file ${path} is missing`, { path }, { cause: e });
      }
      this.fds.set(pack, fd);
    }
    let got = 0;
    while (got < length) {
      const n = readSync(fd, into, at + got, length - got, offset + got);
      if (n === 0)
        throw new StrataError('INTEGRITY', `local pack ${pack} is cut short at ${offset + got}`, {
          pack,
          offset,
        });
      got += n;
    }
  }

  /** The stored bytes of a planned entry. */
  bytes(e: PlannedEntry): Uint8Array {
    if (e.srcPack < 0) return this.repo.objects.packs.readEncodedFull(e.hash).bytes;
    const b = Buffer.allocUnsafe(e.length);
    this.read(e.srcPack, e.srcOffset, e.length, b, 0);
    return b;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/**
 * Writes pieces into blocks of `size` bytes, handing each full block to `out`; stored bytes of entries that
 * live in a local pack file are read straight into the block (no copy in between).
 */
class BlockWriter {
  block: Buffer;
  fill = 0;
  constructor(
    private readonly size: number,
    private readonly out: (block: Buffer) => void,
    private readonly fresh: boolean,
  ) {
    this.block = Buffer.allocUnsafe(size);
  }

  private room(): number {
    if (this.fill === this.block.length) {
      this.out(this.block);
      if (this.fresh) this.block = Buffer.allocUnsafe(this.size);
      this.fill = 0;
    }
    return this.block.length - this.fill;
  }

  write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      const n = Math.min(this.room(), b.length - off);
      this.block.set(n === b.length ? b : b.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
    }
  }

  writeEntry(src: PackSource, e: PlannedEntry, bytes?: Uint8Array): void {
    this.write(entryHeader(e.hash, e.kind, e.codec, e.rawLength, e.length));
    if (e.srcPack < 0) return this.write(bytes ?? src.bytes(e));
    let off = 0;
    while (off < e.length) {
      const n = Math.min(this.room(), e.length - off);
      src.read(e.srcPack, e.srcOffset + off, n, this.block, this.fill);
      this.fill += n;
      off += n;
    }
  }

  /** The last, partial block (a view), or undefined when empty; starts over. */
  rest(): Buffer | undefined {
    const r = this.fill > 0 ? this.block.subarray(0, this.fill) : undefined;
    this.fill = 0;
    if (r && this.fresh) this.block = Buffer.allocUnsafe(this.size);
    return r;
  }
}

interface PackPlan {
  name: string;
  size: number;
  entries: PlannedEntry[];
}

/**
 * Cuts objects into packs of about `target` bytes (never above it unless one object is), keeping their order,
 * and names each (the BLAKE3 of its bytes, hashed in blocks) from one pass over its objects' stored bytes;
 * a plan holds no bytes, and plans are made one at a time as the uploads ask for them.
 */
function* planPacks(src: PackSource, hashes: readonly string[], target: number): Generator<PackPlan> {
  let hasher = createHasher();
  const w = new BlockWriter(PACK_BLOCK_BYTES, (b) => hasher.update(b), false);
  let entries: PlannedEntry[] = [];
  let size = 0;
  const start = (): void => {
    hasher = createHasher();
    entries = [];
    const header = packHeader();
    w.write(header);
    size = header.length;
  };
  const finish = (): PackPlan => {
    const rest = w.rest();
    if (rest) hasher.update(rest);
    return { name: hasher.digestHex(), size, entries };
  };
  start();
  for (const h of hashes) {
    const o = src.locate(h);
    if (entries.length && size + ENTRY_HEADER_SIZE + o.length > target) {
      yield finish();
      start();
    }
    const e: PlannedEntry = {
      hash: h,
      kind: o.kind,
      codec: o.codec,
      offset: size + ENTRY_HEADER_SIZE,
      length: o.length,
      rawLength: o.rawLength,
      srcPack: o.srcPack,
      srcOffset: o.srcOffset,
    };
    w.writeEntry(src, e, o.bytes);
    entries.push(e);
    size += ENTRY_HEADER_SIZE + o.length;
  }
  if (entries.length) yield finish();
}

/**
 * The body of a pack upload: its bytes produced again from the local packs in fresh 1 MiB blocks as the store
 * reads them, checked against the planned name and size before the last block goes out (so a pack that came
 * out different ends its put with INTEGRITY instead of landing under a wrong name). Replayable: a retried put
 * reads it anew.
 */
function packBody(src: PackSource, plan: PackPlan): ReplayableBody {
  return replayable(async function* () {
    const hasher = createHasher();
    let size = 0;
    let held: Buffer | undefined;
    const ready: Buffer[] = [];
    const w = new BlockWriter(PACK_BLOCK_BYTES, (b) => ready.push(b), true);
    const take = function* (): Generator<Buffer> {
      for (const b of ready) {
        hasher.update(b);
        size += b.length;
        if (held) yield held;
        held = b;
      }
      ready.length = 0;
    };
    w.write(packHeader());
    for (const e of plan.entries) {
      w.writeEntry(src, e);
      if (ready.length) yield* take();
    }
    const rest = w.rest();
    if (rest) ready.push(rest);
    yield* take();
    const name = hasher.digestHex();
    if (name !== plan.name || size !== plan.size)
      throw new StrataError(
        'INTEGRITY',
        `pack ${plan.name} came out different when read again for upload (local objects changed during push?)`,
        { pack: plan.name, got: name, size, expectedSize: plan.size },
      );
    if (held) yield held;
  });
}

async function uploadPacks(
  repo: Repository,
  store: ObjectStore,
  cache: CachedRemoteIndex,
  listing: PackListing,
  hashes: readonly string[],
  estimate: number,
  opts: PushOptions,
): Promise<{ packs: number; skipped: number; bytes: number }> {
  const conc = Math.max(1, opts.packConcurrency ?? 4);
  const max = Math.min(opts.maxPackBytes ?? MAX_PACK_BYTES, MAX_PACK_BYTES);
  // Size packs so that a push keeps `conc` uploads busy (8 MiB .. max).
  const target = Math.max(Math.min(8 * 1024 * 1024, max), Math.min(max, Math.ceil(estimate / (conc * 2))));
  opts.progress?.onPhase?.('writing packs', { objects: hashes.length, bytes: estimate });
  let packs = 0;
  let bytes = 0;
  let skipped = 0;
  const inFlight = new Set<Promise<void>>();
  let failed: unknown;
  const src = new PackSource(repo);
  try {
    for (const p of planPacks(src, hashes, target)) {
      packs++;
      bytes += p.size - PACK_HEADER_SIZE;
      const task = (async () => {
        if (listing.packs.has(p.name)) skipped++;
        else await store.put(packKey(p.name), packBody(src, p), { signal: opts.signal });
        // The index only after its pack: a reader never sees an index naming a missing pack.
        await store.put(idxKey(p.name), encodePackIndex(p.entries), { signal: opts.signal });
        cache.addPack(p.name, p.entries);
        opts.progress?.onBytes?.(p.size);
        opts.progress?.onObjects?.(p.entries.length);
      })().then(
        () => void inFlight.delete(task),
        (e: unknown) => {
          inFlight.delete(task);
          failed ??= e;
        },
      );
      inFlight.add(task);
      while (inFlight.size >= conc) await Promise.race(inFlight);
      if (failed) break;
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.allSettled(inFlight);
    src.close();
  }
  if (failed) throw failed;
  return { packs, skipped, bytes };
}

/** Pushes branches and tags to a remote. */
export async function push(repo: Repository, opts: PushOptions = {}): Promise<PushResult> {
  const info = getRemote(repo, opts.remote ?? 'origin');
  const store = opts.store ?? openRemoteStore(info.url, info);
  try {
    return await pushTo(repo, store, opts);
  } finally {
    if (!opts.store) await store.close?.();
  }
}

async function pushTo(repo: Repository, store: ObjectStore, opts: PushOptions): Promise<PushResult> {
  const remoteName = opts.remote ?? 'origin';
  const wanted = targets(repo, opts);
  const result: PushResult = {
    remote: remoteName,
    location: store.location,
    refs: [],
    objects: 0,
    bytes: 0,
    packs: 0,
    packsSkipped: 0,
  };
  // 1. The remote's format, chunking and identity (one GET; created on the first push, below). Another
  // remote at this URL than the one this repository remembers (recreated, wiped) drops what it remembers.
  let cfg = await readRemoteConfig(store);
  if (cfg && !sameChunking(cfg.chunking, repo.chunking))
    throw new StrataError(
      'BAD_INPUT',
      `remote ${remoteName} chunks with ${JSON.stringify(cfg.chunking)}, this repository with ${JSON.stringify(repo.chunking)}; they must match`,
      { remote: remoteName, remoteChunking: cfg.chunking, localChunking: repo.chunking },
    );
  const cache = new CachedRemoteIndex(repo, remoteName);
  cache.checkIdentity(cfg);
  // 2. Where the remote refs are now (one GET each, with the etag for the compare-and-swap).
  const current = await Promise.all(wanted.map((t) => readRemoteRef(store, t.ref)));
  const updates: { t: Target; cur: Awaited<ReturnType<typeof readRemoteRef>>; status: PushStatus }[] = [];
  const rejected: string[] = [];
  wanted.forEach((t, i) => {
    const cur = current[i];
    if (cur?.commit === t.commit) {
      result.refs.push({ ref: t.ref, old: cur.commit, new: t.commit, status: 'up-to-date' });
      return;
    }
    let status: PushStatus = cur ? 'fast-forward' : 'created';
    if (cur && (t.ref.startsWith('refs/tags/') || !isAncestor(repo, cur.commit, t.commit))) {
      if (!opts.force) rejected.push(`${t.ref} (remote has ${cur.commit.slice(0, 12)})`);
      status = 'forced';
    }
    updates.push({ t, cur, status });
  });
  if (rejected.length)
    throw new StrataError(
      'NON_FAST_FORWARD',
      `push rejected, the remote holds commits this push would drop: ${rejected.join(', ')}; fetch, merge (strata pull) and push again, or use --force`,
      { remote: remoteName, refs: rejected },
    );
  // 3. What the remote holds now: one LIST of packs/ (also when every ref is up to date: a pack deleted
  // behind our back is found here), a GET per unseen index.
  let listing: PackListing | undefined;
  if (cfg) {
    opts.progress?.onPhase?.('reading remote indexes');
    listing = await cache.sync(store, opts.signal);
  }
  // An unverified remote lost objects it was known to hold: every ref pushed is checked whole, up to date
  // or not, and no remote ref is trusted to stand for its history.
  const verify = cache.unverified;
  const tips = verify ? wanted : updates.map((u) => u.t);
  if (tips.length) {
    if (!cfg) {
      cfg = await createRemoteConfig(store, repo.chunking);
      cache.checkIdentity(cfg);
    }
    if (!sameChunking(cfg.chunking, repo.chunking))
      throw new StrataError('BAD_INPUT', `remote ${remoteName} was created with other chunking parameters`, {
        remote: remoteName,
      });
    if (!listing) {
      opts.progress?.onPhase?.('reading remote indexes');
      listing = await cache.sync(store, opts.signal);
    }
    // 4. What it lacks: walk from what we push, stopping at commits the remote holds (in its indexes now)
    // and one of its refs names or named: their history is complete there, as refs move only after their
    // packs land.
    opts.progress?.onPhase?.('counting objects');
    const boundary = verify
      ? []
      : [
          ...updates.flatMap((u) => (u.cur ? [u.cur.commit] : [])),
          ...(
            repo.db.prep('SELECT target FROM remote_refs WHERE remote = ?').all(remoteName) as {
              target: string;
            }[]
          ).map((r) => r.target as Hash),
        ].filter((c) => cache.has(c));
    const {
      meta,
      chunks,
      bytes: estimate,
    } = objectsToSend(
      repo,
      tips.map((t) => t.commit),
      boundary,
      (h) => cache.has(h),
    );
    const send = [...meta, ...chunks];
    if (send.length) {
      const up = await uploadPacks(repo, store, cache, listing, send, estimate, opts);
      Object.assign(result, {
        objects: send.length,
        bytes: up.bytes,
        packs: up.packs,
        packsSkipped: up.skipped,
      });
    }
    // 5. Move the refs, each with a compare-and-swap against the etag read in step 2.
    opts.progress?.onPhase?.('updating refs');
    const writer = newWriterId();
    for (const u of updates) {
      const body = encodeRemoteRef(u.t.commit, writer);
      let recovered = false;
      try {
        await store.putIfMatch(refKey(u.t.ref), body, u.cur?.etag ?? null, { signal: opts.signal });
      } catch (e) {
        if (!isStrataError(e, 'CONFLICT')) throw e;
        // A retried write whose first response was lost comes back as a conflict with ourselves.
        const now = await readRemoteRef(store, u.t.ref);
        if (now?.writer === writer && now.commit === u.t.commit) recovered = true;
        else
          throw new StrataError(
            'NON_FAST_FORWARD',
            `push of ${u.t.ref} rejected: the remote ref moved while pushing (now ${now ? now.commit.slice(0, 12) : 'deleted'}); fetch, merge (strata pull) and push again`,
            { remote: remoteName, ref: u.t.ref, remoteCommit: now?.commit ?? null, conflict: true },
          );
      }
      recordRemoteRef(repo, remoteName, u.t.ref, u.t.commit);
      result.refs.push({
        ref: u.t.ref,
        old: u.cur?.commit ?? null,
        new: u.t.commit,
        status: u.status,
        ...(recovered ? { recovered } : {}),
      });
    }
    // Every ref pushed is now complete on the remote, checked object by object.
    if (verify) {
      cache.markVerified();
      result.verified = true;
    }
  }
  for (const r of result.refs) if (r.status === 'up-to-date') recordRemoteRef(repo, remoteName, r.ref, r.new);
  return result;
}

/** Remembers a remote ref: remote_refs, and refs/remotes/<remote>/<branch> for branches. */
export function recordRemoteRef(repo: Repository, remote: string, ref: string, commit: string): void {
  repo.db
    .prep(
      'INSERT INTO remote_refs (remote, name, target) VALUES (?, ?, ?) ON CONFLICT(remote, name) DO UPDATE SET target = excluded.target',
    )
    .run(remote, ref, commit);
  if (ref.startsWith('refs/heads/')) {
    const local = `refs/remotes/${remote}/${ref.slice('refs/heads/'.length)}`;
    if (repo.db.getRef(local) !== commit)
      repo.db.setRef(local, commit, `update by push/fetch from ${remote}`);
  }
}
