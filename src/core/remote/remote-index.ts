/**
 * What a remote holds: the union of the `.idx` files of its packs whose `.pack` is listed too. The remote is
 * the truth; the local repository caches what it learned from it (tables remote_packs / remote_objects,
 * schema 2) so that each idx is downloaded once, and records the packs it pushed itself as they land. Every
 * operation lists packs/ first and checks the cache against the listing and the remote's identity marker
 * (strata.json `id`): a cached pack that is no longer listed, or another remote at the same URL, drops the
 * cache and marks the remote unverified (docs/REMOTES.md "What push trusts").
 */
import pLimit from 'p-limit';
import type { ObjectStore } from '../../storage/object-store.js';
import { decodePackIndex, type PackEntry } from '../../storage/pack-format.js';
import type { Repository } from '../repository.js';
import { PACKS_PREFIX, idxKey, type RemoteConfigFile } from './layout.js';

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

/**
 * The packs a remote holds: an `.idx` and its `.pack` both listed. A `.pack` alone is an interrupted upload;
 * an `.idx` alone names a pack deleted behind strata's back, whose objects are gone.
 */
export const heldPacks = (l: PackListing): Set<string> =>
  new Set([...l.indexed].filter((n) => l.packs.has(n)));

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

/**
 * An in-memory index of a whole remote (for reading a remote without a local repository). Held as columns:
 * each object's hash as 32 bytes in one buffer, found through an open-addressing table, and its location in
 * typed arrays. A Map of hex strings to location objects cost ~180 bytes an object (~20 MB of heap for the
 * 1 GiB bench remote's 109k objects, for every streaming reader); this costs ~60.
 */
export class MemoryRemoteIndex implements RemoteIndex {
  private n = 0;
  private keys = new Uint8Array(0);
  private offset = new Float64Array(0);
  private length = new Float64Array(0);
  private rawLength = new Float64Array(0);
  private packOf = new Uint32Array(0);
  private codec = new Uint8Array(0);
  private kind = new Uint8Array(0);
  /** Row + 1 of each slot (0: empty); its size a power of two, at least twice the rows. */
  private table = new Int32Array(0);
  private readonly packs: string[] = [];
  private readonly packNo = new Map<string, number>();
  /** Objects whose hash is not 64 lowercase hex digits (none from a well-formed pack index). */
  private readonly odd = new Map<string, RemoteObjectLocation>();
  private readonly key = new Uint8Array(32);

  get size(): number {
    return this.n + this.odd.size;
  }

  find(hash: string): RemoteObjectLocation | undefined {
    if (!HEX64.test(hash)) return this.odd.get(hash);
    const row = this.rowOf(hash);
    return row < 0 ? undefined : this.at(row, hash);
  }

  has(hash: string): boolean {
    return HEX64.test(hash) ? this.rowOf(hash) >= 0 : this.odd.has(hash);
  }

  /** Every object's location (in no particular order). */
  *values(): IterableIterator<RemoteObjectLocation> {
    for (let r = 0; r < this.n; r++)
      yield this.at(r, Buffer.from(this.keys.buffer, r * 32, 32).toString('hex'));
    yield* this.odd.values();
  }

  add(pack: string, entries: readonly PackEntry[]): void {
    let p = this.packNo.get(pack);
    if (p === undefined) {
      p = this.packs.push(pack) - 1;
      this.packNo.set(pack, p);
    }
    for (const e of entries) {
      if (!HEX64.test(e.hash)) {
        if (!this.odd.has(e.hash)) this.odd.set(e.hash, { ...e, pack });
        continue;
      }
      if (this.rowOf(e.hash) >= 0) continue; // the first pack listed keeps it, as before
      if (this.n === this.offset.length) this.grow();
      const r = this.n++;
      this.keys.set(this.key, r * 32); // rowOf left the hash's bytes in this.key
      this.offset[r] = e.offset;
      this.length[r] = e.length;
      this.rawLength[r] = e.rawLength;
      this.packOf[r] = p;
      this.codec[r] = e.codec;
      this.kind[r] = e.kind;
      this.insert(r);
    }
  }

  private at(r: number, hash: string): RemoteObjectLocation {
    return {
      hash,
      kind: this.kind[r]!,
      codec: this.codec[r]!,
      offset: this.offset[r]!,
      length: this.length[r]!,
      rawLength: this.rawLength[r]!,
      pack: this.packs[this.packOf[r]!]!,
    };
  }

  /** The row holding `hash` (64 lowercase hex digits), or -1; leaves its bytes in this.key. */
  private rowOf(hash: string): number {
    const k = this.key;
    k.set(Buffer.from(hash, 'hex'));
    if (this.table.length === 0) return -1;
    const mask = this.table.length - 1;
    for (let i = slotOf(k) & mask; ; i = (i + 1) & mask) {
      const t = this.table[i]!;
      if (t === 0) return -1;
      if (sameKey(this.keys, (t - 1) * 32, k)) return t - 1;
    }
  }

  private insert(r: number): void {
    const mask = this.table.length - 1;
    const k = this.keys.subarray(r * 32, r * 32 + 32);
    let i = slotOf(k) & mask;
    while (this.table[i] !== 0) i = (i + 1) & mask;
    this.table[i] = r + 1;
  }

  private grow(): void {
    const cap = Math.max(1024, this.offset.length * 2);
    const more = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a as never);
      return b;
    };
    const keys = new Uint8Array(cap * 32);
    keys.set(this.keys);
    this.keys = keys;
    this.offset = more(this.offset, (n) => new Float64Array(n));
    this.length = more(this.length, (n) => new Float64Array(n));
    this.rawLength = more(this.rawLength, (n) => new Float64Array(n));
    this.packOf = more(this.packOf, (n) => new Uint32Array(n));
    this.codec = more(this.codec, (n) => new Uint8Array(n));
    this.kind = more(this.kind, (n) => new Uint8Array(n));
    this.table = new Int32Array(cap * 2);
    for (let r = 0; r < this.n; r++) this.insert(r);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A table slot from a hash's bytes (they are uniformly distributed: its first four will do). */
const slotOf = (k: Uint8Array): number => (k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24)) >>> 0;

function sameKey(keys: Uint8Array, at: number, k: Uint8Array): boolean {
  for (let j = 0; j < 32; j++) if (keys[at + j] !== k[j]) return false;
  return true;
}

export async function loadRemoteIndex(store: ObjectStore, signal?: AbortSignal): Promise<MemoryRemoteIndex> {
  const idx = new MemoryRemoteIndex();
  const held = heldPacks(await listRemotePacks(store, signal));
  await fetchIndexes(store, held, (name, entries) => idx.add(name, entries));
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

  private cfg(k: 'id' | 'unverified'): string {
    return `remote.${this.remote}.${k}`;
  }

  /**
   * True when the remote lost objects this repository knew it held (a pack vanished, or the remote was
   * recreated): a push then trusts no ref on it and checks every object it pushes against the indexes,
   * until one such push succeeds. Kept in the repository, so an interrupted push leaves it set.
   */
  get unverified(): boolean {
    return this.repo.db.getConfig(this.cfg('unverified')) === 'true';
  }

  markUnverified(): void {
    this.repo.db.setConfig(this.cfg('unverified'), 'true');
  }

  markVerified(): void {
    this.repo.db.setConfig(this.cfg('unverified'), undefined);
  }

  /**
   * Checks the remote's identity (strata.json, read by the caller just before; undefined when the remote is
   * empty) against the one remembered. Another remote at the same URL, or an empty remote where packs were
   * known, drops the cache and marks the remote unverified. Remembers the identity seen. Returns true when
   * the cache was dropped.
   */
  checkIdentity(config: RemoteConfigFile | undefined): boolean {
    const remembered = this.repo.db.getConfig(this.cfg('id'));
    const current = config?.id;
    const hadState = remembered !== undefined || this.knownPacks().size > 0;
    const other = config ? remembered !== undefined && remembered !== current : hadState;
    if (other) {
      this.clear();
      this.markUnverified();
    }
    this.repo.db.setConfig(this.cfg('id'), current);
    return other;
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
   * before. If a cached pack is no longer held (its .idx or its .pack vanished: the remote was wiped,
   * rebuilt or pruned behind our back), the cache starts over from the listing (an object may sit in two
   * packs and the cache keeps one location, so dropping only the vanished pack's rows could forget objects
   * that another pack still holds) and the remote is marked unverified.
   */
  async sync(
    store: ObjectStore,
    signal?: AbortSignal,
  ): Promise<PackListing & { held: Set<string>; vanished: string[]; fetched: number }> {
    const listing = await listRemotePacks(store, signal);
    const held = heldPacks(listing);
    let known = this.knownPacks();
    const vanished = [...known].filter((n) => !held.has(n));
    if (vanished.length) {
      this.clear();
      this.markUnverified();
      known = new Set();
    }
    const missing = [...held].filter((n) => !known.has(n));
    await fetchIndexes(store, missing, (name, entries) => this.addPack(name, entries));
    return { ...listing, held, vanished, fetched: missing.length };
  }
}
