/**
 * What a remote holds: the union of its packs' `.idx` files. The idx files are the truth; the local
 * repository caches what it learned from them (tables remote_packs / remote_objects, schema 2) so that
 * each idx is downloaded once, and records the packs it pushed itself as they land.
 */
import pLimit from 'p-limit';
import type { ObjectStore } from '../../storage/object-store.js';
import { decodePackIndex, type PackEntry } from '../../storage/pack-format.js';
import type { Repository } from '../repository.js';
import { PACKS_PREFIX, idxKey } from './layout.js';

/** A row of the remote_objects cache table. */
interface RemoteObjectRow {
  hash: string;
  pack: string;
  offset: number;
  length: number;
  raw_length: number;
  codec: number;
  kind: number;
}

export interface RemoteObjectLocation extends PackEntry {
  /** The remote pack's name (its key is packs/<pack>.pack). */
  pack: string;
}

export interface RemoteIndex {
  find(hash: string): RemoteObjectLocation | undefined;
  has(hash: string): boolean;
}

/** The packs a listing of packs/ shows: names with an .idx (complete), and names with a .pack. */
export interface PackListing {
  indexed: Set<string>;
  packs: Set<string>;
}

export async function listRemotePacks(store: ObjectStore, signal?: AbortSignal): Promise<PackListing> {
  const indexed = new Set<string>();
  const packs = new Set<string>();
  for await (const key of store.list(PACKS_PREFIX, { signal })) {
    const m = /^packs\/([0-9a-f]{64})\.(pack|idx)$/.exec(key);
    if (!m) continue;
    (m[2] === 'idx' ? indexed : packs).add(m[1]!);
  }
  return { indexed, packs };
}

async function fetchIndexes(
  store: ObjectStore,
  names: Iterable<string>,
  onIndex: (name: string, entries: PackEntry[]) => void,
  concurrency = 16,
): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all(
    [...names].map((name) =>
      limit(async () => {
        const bytes = await store.get(idxKey(name));
        onIndex(name, decodePackIndex(bytes, `${store.location}/${idxKey(name)}`));
      }),
    ),
  );
}

/** An in-memory index of a whole remote (for reading a remote without a local repository). */
export class MemoryRemoteIndex implements RemoteIndex {
  readonly objects = new Map<string, RemoteObjectLocation>();
  find(hash: string): RemoteObjectLocation | undefined {
    return this.objects.get(hash);
  }
  has(hash: string): boolean {
    return this.objects.has(hash);
  }
  add(pack: string, entries: readonly PackEntry[]): void {
    for (const e of entries) if (!this.objects.has(e.hash)) this.objects.set(e.hash, { ...e, pack });
  }
}

/** Lists the remote's packs and reads every index (one LIST, one GET per pack). */
export async function loadRemoteIndex(store: ObjectStore, signal?: AbortSignal): Promise<MemoryRemoteIndex> {
  const idx = new MemoryRemoteIndex();
  const { indexed } = await listRemotePacks(store, signal);
  await fetchIndexes(store, indexed, (name, entries) => idx.add(name, entries));
  return idx;
}

/** The repository's cache of one remote's indexes. */
export class CachedRemoteIndex implements RemoteIndex {
  constructor(
    readonly repo: Repository,
    readonly remote: string,
  ) {}

  find(hash: string): RemoteObjectLocation | undefined {
    const r = this.repo.db
      .prep(
        'SELECT hash, pack, offset, length, raw_length, codec, kind FROM remote_objects WHERE remote = ? AND hash = ?',
      )
      .get(this.remote, hash) as RemoteObjectRow | undefined;
    return r && { ...r, rawLength: r.raw_length };
  }

  has(hash: string): boolean {
    return (
      this.repo.db
        .prep('SELECT 1 FROM remote_objects WHERE remote = ? AND hash = ?')
        .get(this.remote, hash) !== undefined
    );
  }

  knownPacks(): Set<string> {
    return new Set(
      (
        this.repo.db.prep('SELECT name FROM remote_packs WHERE remote = ?').all(this.remote) as {
          name: string;
        }[]
      ).map((r) => r.name),
    );
  }

  /** Records a pack whose index is on the remote. */
  addPack(name: string, entries: readonly PackEntry[]): void {
    const db = this.repo.db;
    db.transaction(() => {
      db.prep('INSERT OR IGNORE INTO remote_packs (remote, name) VALUES (?, ?)').run(this.remote, name);
      const ins = db.prep(
        'INSERT OR IGNORE INTO remote_objects (remote, hash, pack, offset, length, raw_length, codec, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const e of entries)
        ins.run(this.remote, e.hash, name, e.offset, e.length, e.rawLength, e.codec, e.kind);
    });
  }

  clear(): void {
    this.repo.db.transaction(() => {
      this.repo.db.prep('DELETE FROM remote_objects WHERE remote = ?').run(this.remote);
      this.repo.db.prep('DELETE FROM remote_packs WHERE remote = ?').run(this.remote);
    });
  }

  /** Hashes of every cached object of the given kinds (e.g. all metadata). */
  hashesOfKinds(kinds: readonly number[]): RemoteObjectLocation[] {
    const rows = this.repo.db
      .prep(
        `SELECT hash, pack, offset, length, raw_length, codec, kind FROM remote_objects WHERE remote = ? AND kind IN (${kinds.map(() => '?').join(',')})`,
      )
      .all(this.remote, ...kinds) as RemoteObjectRow[];
    return rows.map((r) => ({ ...r, rawLength: r.raw_length }));
  }

  /**
   * Brings the cache up to date with the remote: one listing of packs/, then a GET of each idx not seen
   * before. If a cached pack has vanished (the remote was rebuilt), the cache starts over.
   */
  async sync(store: ObjectStore, signal?: AbortSignal): Promise<PackListing & { fetched: number }> {
    const listing = await listRemotePacks(store, signal);
    let known = this.knownPacks();
    if ([...known].some((n) => !listing.indexed.has(n))) {
      this.clear();
      known = new Set();
    }
    const missing = [...listing.indexed].filter((n) => !known.has(n));
    await fetchIndexes(store, missing, (name, entries) => this.addPack(name, entries));
    return { ...listing, fetched: missing.length };
  }
}
