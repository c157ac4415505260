/**
 * The local object database: append-only pack files under `.strata/packs/` with every object's location
 * in the SQLite index. Write ordering (docs/FORMAT.md, "Ordering"): pack bytes are written to a temp
 * file, fsynced, renamed to `<blake3 of pack>.pack` and the directory fsynced; only then do the index
 * rows commit. A crash leaves at worst an unreferenced temp or pack file, never a row naming missing bytes.
 * Every read re-checks the object's hash. A chunk may be stored delta-coded (codec 2): a recipe of literal
 * bytes and ranges of other chunks stored in full (depth 1); get() assembles and verifies it.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
  existsSync,
  unlinkSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  CODEC_DELTA,
  CODEC_NONE,
  CODEC_ZSTD,
  decode,
  decodeRecipe,
  encode,
  encodeRecipe,
  type DeltaOp,
} from './codec.js';
import type { Encoded } from './compress-pool.js';
import { StrataError } from './errors.js';
import { createHasher, hashBytes } from './hash.js';
import type { IndexDb, ObjectLocation } from './index-db.js';
import { ENTRY_HEADER_SIZE, entryHeader, KIND, packHeader, type PackEntry } from './pack-format.js';

/** node:crypto is loaded when a pack is first written, not by every command that only reads. */
const randomHex = (n: number): string =>
  (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'))
    .randomBytes(n)
    .toString('hex');

export const DEFAULT_MAX_PACK_SIZE = 64 * 1024 * 1024;
/** Decoded delta bases kept for the next delta chunks (neighbouring chunks share bases). */
const BASE_CACHE_ENTRIES = 16;

export interface StoredObject {
  hash: string;
  kind: number;
  data: Uint8Array;
}

interface OpenPack {
  tmpPath: string;
  fd: number;
  /** Bytes of the pack so far, buffered ones included (an entry's offset). */
  size: number;
  hasher: ReturnType<typeof createHasher>;
  entries: PackEntry[];
  byHash: Map<string, PackEntry>;
  /** Bytes written to the pack but not yet to its file: `buf[0, used)` (see packWrite). */
  buf: Buffer;
  used: number;
}

/**
 * Pack bytes are written through a buffer of this size: two writes and a hash update per object (its header,
 * its bytes) were ~1.8 s of a 1 GiB first commit's main thread (120k write calls).
 */
const PACK_WRITE_BUFFER = 1 << 20;

function openPackFile(tmpPath: string, fd: number): OpenPack {
  return {
    tmpPath,
    fd,
    size: 0,
    hasher: createHasher(),
    entries: [],
    byHash: new Map(),
    buf: Buffer.allocUnsafe(PACK_WRITE_BUFFER),
    used: 0,
  };
}

/** Appends bytes to an open pack, buffered; `packDrain` puts them in the file (and the pack's hash). */
function packWrite(p: OpenPack, b: Uint8Array): void {
  if (p.used + b.length > p.buf.length) packDrain(p);
  if (b.length >= p.buf.length) {
    writeAll(p.fd, b);
    p.hasher.update(b);
  } else {
    p.buf.set(b, p.used);
    p.used += b.length;
  }
  p.size += b.length;
}

/** Writes an open pack's buffered bytes to its file: before it is read back, fsynced or sealed. */
function packDrain(p: OpenPack): void {
  if (p.used === 0) return;
  const b = p.buf.subarray(0, p.used);
  writeAll(p.fd, b);
  p.hasher.update(b);
  p.used = 0;
}

/**
 * Seals an open pack file: its buffered bytes written, fsynced, closed and renamed to `<blake3>.pack` in
 * `dir` (the directory is not fsynced here). An empty pack is removed instead: undefined.
 */
function sealPackFile(dir: string, p: OpenPack): string | undefined {
  packDrain(p);
  fsyncSync(p.fd);
  closeSync(p.fd);
  if (p.entries.length === 0) {
    unlinkSync(p.tmpPath);
    return undefined;
  }
  const name = p.hasher.digestHex();
  renameSync(p.tmpPath, join(dir, `${name}.pack`));
  return name;
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

/** Prefetched locations kept at most (LocalPacks.prefetchLocations). */
const PREFETCH_KEPT = 16384;
/** Locations of a reading order looked up at once (LocalPacks.prefetchAhead). */
const PREFETCH_AHEAD = 4096;

export class LocalPacks {
  private current: OpenPack | undefined;
  private readonly fds = new Map<number, number>();
  /** Pack names by id, read once (cleared with the descriptors when gc or repair retires packs). */
  private readonly names = new Map<number, string>();
  /** Packs finished in this batch but whose rows are not yet committed. */
  private finished: { name: string; size: number; entries: PackEntry[] }[] = [];
  private readonly finishedByHash = new Map<string, { entry: PackEntry; path: string }>();
  private readonly baseCache = new Map<string, Uint8Array>();
  /** Locations looked up ahead (prefetchLocations), each taken once by readEncodedShared. */
  private readonly prefetched = new Map<string, ObjectLocation>();
  compressionLevel: number;

  constructor(
    readonly dir: string,
    readonly db: IndexDb,
    readonly opts: { maxPackSize?: number; compressionLevel?: number } = {},
  ) {
    this.compressionLevel = opts.compressionLevel ?? 3;
    mkdirSync(dir, { recursive: true });
  }

  /** True if the object is stored (committed or pending in this writer). */
  has(hash: string): boolean {
    // (Not pendingEntry: that builds an object, and commits ask this for every chunk they write.)
    return this.hasPending(hash) || this.db.hasObject(hash);
  }

  /** True if the object is pending in this writer: put, and not yet in the index. */
  hasPending(hash: string): boolean {
    return this.current?.byHash.has(hash) === true || this.finishedByHash.has(hash);
  }

  /** A mark that stays the same while no rows are added to the index (IndexDb.generation). */
  get indexGeneration(): number {
    return this.db.generation;
  }

  /** `has` for many hashes, the index asked a batch at a time. */
  hasMany(hashes: readonly string[]): boolean[] {
    const inDb = this.db.hasObjects(hashes);
    return hashes.map((h, i) => inDb[i]! || this.hasPending(h));
  }

  private pendingEntry(hash: string): (PackEntry & { fd?: number; path: string }) | undefined {
    const e = this.current?.byHash.get(hash);
    if (e) {
      packDrain(this.current!); // read back through the file
      return { ...e, fd: this.current!.fd, path: this.current!.tmpPath };
    }
    const f = this.finishedByHash.get(hash);
    return f ? { ...f.entry, path: f.path } : undefined;
  }

  /** Stores raw bytes under their BLAKE3 hash (no-op if present); returns the hash. */
  put(kind: number, data: Uint8Array, knownHash?: string): string {
    const hash = knownHash ?? hashBytes(data);
    if (this.has(hash)) return hash;
    const { codec, bytes } = encode(data, this.compressionLevel);
    this.putEncoded(hash, kind, codec, data.length, bytes);
    return hash;
  }

  /** Appends an already-encoded object (used by fetch, which receives stored bytes). */
  putEncoded(
    hash: string,
    kind: number,
    codec: number,
    rawLength: number,
    bytes: Uint8Array,
    absentSince?: number,
  ): void {
    // absentSince: the index generation at which the caller found `hash` absent from the index; while it
    // holds, only what is pending here needs a look (a commit of new chunks asked the index ~3 times each).
    if (absentSince === this.db.generation ? this.hasPending(hash) : this.has(hash)) return;
    const p = this.openPack();
    const header = entryHeader(hash, kind, codec, rawLength, bytes.length);
    packWrite(p, header);
    const offset = p.size;
    packWrite(p, bytes);
    const entry: PackEntry = { hash, kind, codec, offset, length: bytes.length, rawLength };
    p.entries.push(entry);
    p.byHash.set(hash, entry);
    if (p.size >= (this.opts.maxPackSize ?? DEFAULT_MAX_PACK_SIZE)) this.finishPack();
  }

  /**
   * Stores a chunk delta-coded (codec 2): `ops` concatenated are its `rawLength` bytes, every ref naming a
   * chunk stored in full (codec 0 or 1). No-op if the chunk is present. The caller vouches that the ops
   * assemble to `hash`; get() verifies it on every read.
   */
  putDelta(hash: string, rawLength: number, ops: readonly DeltaOp[]): void {
    if (this.has(hash)) return;
    let total = 0;
    for (const op of ops) {
      if (op.kind === 'ref') {
        const base = this.has(op.base) ? this.readEncoded(op.base) : undefined;
        if (!base || base.codec === CODEC_DELTA || base.kind !== KIND.chunk) {
          throw new StrataError('BAD_INPUT', `delta base ${op.base} is not a chunk stored in full`, {
            hash,
            base: op.base,
          });
        }
        total += op.length;
      } else total += op.data.length;
    }
    if (total !== rawLength) {
      throw new StrataError('BAD_INPUT', `delta ops cover ${total} bytes, not ${rawLength}`, { hash });
    }
    this.putEncoded(hash, KIND.chunk, CODEC_DELTA, rawLength, encodeRecipe(ops, this.compressionLevel));
  }

  /** The recipe of a delta-coded chunk, or undefined if the object is stored in full. */
  deltaOps(hash: string): DeltaOp[] | undefined {
    const r = this.readEncoded(hash);
    if (r.codec !== CODEC_DELTA) return undefined;
    try {
      return decodeRecipe(r.bytes);
    } catch (e) {
      throw new StrataError(
        'INTEGRITY',
        `object ${hash} in ${r.where}: delta recipe does not decode`,
        { hash, where: r.where },
        { cause: e },
      );
    }
  }

  private openPack(): OpenPack {
    if (this.current) return this.current;
    const tmpPath = join(this.dir, `tmp-${process.pid}-${randomHex(6)}.pack`);
    const fd = openSync(tmpPath, 'wx+'); // readable too: pending objects are read back (delta bases)
    const p = openPackFile(tmpPath, fd);
    this.current = p;
    packWrite(p, packHeader());
    return p;
  }

  /** Seals the open pack: fsync, rename to its content hash, fsync the directory. Rows are not yet committed. */
  private finishPack(): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    const name = sealPackFile(this.dir, p);
    if (name === undefined) return;
    this.finished.push({ name, size: p.size, entries: p.entries });
    const path = join(this.dir, `${name}.pack`);
    for (const entry of p.entries) this.finishedByHash.set(entry.hash, { entry, path });
  }

  /** Makes everything put so far durable and visible: packs fsynced first, then their index rows. */
  flush(): void {
    this.finishPack();
    if (this.finished.length === 0) return;
    fsyncDir(this.dir);
    const batch = this.finished;
    this.db.transaction(() => {
      for (const p of batch) {
        this.db.addPack(p.name, p.size, p.entries.map(locationOf));
      }
    });
    this.finished = [];
    this.finishedByHash.clear();
  }

  /** Drops the open pack (on error): nothing it held becomes visible. */
  abort(): void {
    const p = this.current;
    this.current = undefined;
    if (p) {
      closeSync(p.fd);
      if (existsSync(p.tmpPath)) unlinkSync(p.tmpPath);
    }
  }

  location(hash: string): ObjectLocation | undefined {
    return this.db.findObject(hash);
  }

  /** Reads an object's stored (still encoded) bytes without verifying. */
  readEncoded(hash: string): {
    kind: number;
    codec: number;
    rawLength: number;
    bytes: Uint8Array;
    where: string;
  } {
    const pending = this.pendingEntry(hash);
    if (pending) {
      const fd = pending.fd ?? openSync(pending.path, 'r');
      try {
        return {
          kind: pending.kind,
          codec: pending.codec,
          rawLength: pending.rawLength,
          bytes: this.pread(fd, pending.offset, pending.length, pending.path),
          where: pending.path,
        };
      } finally {
        if (pending.fd === undefined) closeSync(fd);
      }
    }
    const loc = this.takePrefetched(hash) ?? this.db.findObject(hash);
    if (!loc) throw new StrataError('NOT_FOUND', `object ${hash} not found`, { hash });
    const { name, path, fd } = this.sealed(loc.pack);
    return {
      kind: loc.kind,
      codec: loc.codec,
      rawLength: loc.raw_length,
      bytes: this.pread(fd, loc.offset, loc.length, path),
      where: `pack ${name}`,
    };
  }

  /**
   * What a decoding thread can take of `hashes`: the plain or zstd chunks of sealed packs, as their stored
   * bytes in one shared buffer (readEncodedShared); undefined for anything else (missing, another kind or
   * codec, in a pack still being written, unreadable), which the caller reads by hash to learn what is wrong.
   * With `into` (large enough), the bytes are read into it (readEncodedShared). With `defer`, nothing is read
   * here: each item names where its bytes are (Encoded.src) and the thread that decodes it reads them.
   */
  readDecodable(
    hashes: readonly string[],
    into?: SharedArrayBuffer,
    opts: { defer?: boolean } = {},
  ): (Encoded | undefined)[] {
    const out: (Encoded | undefined)[] = hashes.map(() => undefined);
    try {
      const read = this.readEncodedShared(hashes, into, opts.defer);
      hashes.forEach((hash, k) => {
        const loc = read.locations[k];
        if (!loc || loc.kind !== KIND.chunk || (loc.codec !== CODEC_NONE && loc.codec !== CODEC_ZSTD)) return;
        const bytes = new Uint8Array(read.buffer, read.at[k]!, loc.length);
        out[k] = { codec: loc.codec, bytes, rawLength: loc.raw_length, hash };
        if (opts.defer) out[k].src = { fd: this.sealed(loc.pack).fd, offset: loc.offset };
      });
    } catch {
      /* each read by hash */
    }
    return out;
  }

  /**
   * The stored (still encoded) bytes of several objects of sealed packs, back to back in one new shared
   * buffer, for a decoding thread: one allocation, no copy per object, and one read for objects that lie
   * next to each other in a pack (a file's chunks usually do). `at[i]` is where object i's bytes start in
   * the buffer, or -1 for one that is not in a sealed pack (missing, or still being written): read those
   * with readEncoded, which says what is wrong. With `into` (large enough), the bytes are read into it
   * instead of a new buffer. With `defer`, only the room is laid out: nothing is read.
   */
  readEncodedShared(
    hashes: readonly string[],
    into?: SharedArrayBuffer,
    defer = false,
  ): {
    buffer: SharedArrayBuffer;
    at: number[];
    locations: (ObjectLocation | undefined)[];
  } {
    const locations = this.locate(hashes);
    const at: number[] = [];
    let total = 0;
    for (const loc of locations) {
      at.push(loc ? total : -1);
      if (loc) total += loc.length;
    }
    const buffer = into && into.byteLength >= total ? into : new SharedArrayBuffer(total);
    const view = new Uint8Array(buffer);
    for (let i = 0; i < locations.length && !defer;) {
      const loc = locations[i];
      if (!loc) {
        i++;
        continue;
      }
      // A run of objects stored one after the other in the same pack: one read.
      let j = i + 1;
      let end = loc.offset + loc.length;
      while (j < locations.length) {
        const next = locations[j];
        if (!next || next.pack !== loc.pack || next.offset !== end) break;
        end += next.length;
        j++;
      }
      const { path, fd } = this.sealed(loc.pack);
      this.readFully(fd, view, at[i]!, loc.offset, end - loc.offset, path);
      i = j;
    }
    return { buffer, at, locations };
  }

  /**
   * Looks the locations of `hashes` up now, in hash order, for readEncodedShared to take (each once): a
   * reader that knows what it will read (a diff's read-ahead) looks up thousands at a time. Measured on the
   * 1 GiB chat set's 1% edit diff: ~13 µs a hash 32 at a time between other work, against ~6-7 sorted and in
   * one pass (SQLite walks the index's pages in order; a few dozen lookups between parses find them cold).
   */
  prefetchLocations(hashes: readonly string[]): void {
    // Locations never taken (chunks the reader found elsewhere) are let go rather than piling up.
    if (this.prefetched.size > PREFETCH_KEPT) this.prefetched.clear();
    const want = [...new Set(hashes)].filter((h) => !this.prefetched.has(h)).sort();
    const found = this.db.findObjects(want);
    for (let i = 0; i < want.length; i++) {
      const loc = found[i];
      if (loc) this.prefetched.set(want[i]!, loc);
    }
  }

  /**
   * For a reader going through `list` in order, about to read [from, end): once `end` passes `located` (how
   * far its locations were looked up), looks up the next PREFETCH_AHEAD from `from` (prefetchLocations).
   * Returns how far they are looked up now.
   */
  prefetchAhead(list: readonly string[], from: number, end: number, located: number): number {
    if (end <= located) return located;
    const upTo = Math.min(list.length, from + PREFETCH_AHEAD);
    this.prefetchLocations(list.slice(from, upTo));
    return upTo;
  }

  private takePrefetched(hash: string): ObjectLocation | undefined {
    const loc = this.prefetched.get(hash);
    if (loc) this.prefetched.delete(hash);
    return loc;
  }

  /** Where each of `hashes` is in a sealed pack (taking prefetched locations), or undefined. */
  private locate(hashes: readonly string[]): (ObjectLocation | undefined)[] {
    const out: (ObjectLocation | undefined)[] = new Array<ObjectLocation | undefined>(hashes.length);
    const ask: string[] = [];
    const askAt: number[] = [];
    for (let i = 0; i < hashes.length; i++) {
      const h = hashes[i]!;
      const loc = this.takePrefetched(h);
      if (loc) out[i] = loc;
      else {
        ask.push(h);
        askAt.push(i);
      }
    }
    if (ask.length) {
      const found = this.db.findObjects(ask);
      for (let k = 0; k < ask.length; k++) out[askAt[k]!] = found[k];
    }
    for (let i = 0; i < hashes.length; i++) if (out[i] && this.pendingEntry(hashes[i]!)) out[i] = undefined;
    return out;
  }

  /**
   * Like readEncoded, but a delta-coded chunk comes back as a self-contained full copy (re-compressed,
   * codec 0 or 1), verified: what push writes to remotes, which never hold codec 2.
   */
  readEncodedFull(hash: string): {
    kind: number;
    codec: number;
    rawLength: number;
    bytes: Uint8Array;
    where: string;
  } {
    const r = this.readEncoded(hash);
    if (r.codec !== CODEC_DELTA) return r;
    const data = this.get(hash).data;
    const { codec, bytes } = encode(data, this.compressionLevel);
    return { kind: r.kind, codec, rawLength: data.length, bytes, where: r.where };
  }

  /** Reads, decodes and verifies an object. */
  get(hash: string): StoredObject {
    const r = this.readEncoded(hash);
    let data: Uint8Array;
    try {
      data =
        r.codec === CODEC_DELTA
          ? this.assemble(hash, r.where, r.bytes)
          : decode(r.codec, r.bytes, r.rawLength);
    } catch (e) {
      if (e instanceof StrataError && e.data.delta === true) throw e;
      throw new StrataError(
        'INTEGRITY',
        `object ${hash} in ${r.where} does not decode`,
        { hash, where: r.where },
        { cause: e },
      );
    }
    if (data.length !== r.rawLength || hashBytes(data) !== hash) {
      throw new StrataError(
        'INTEGRITY',
        `object ${hash}${r.codec === CODEC_DELTA ? ' (delta-coded)' : ''} in ${r.where} is corrupt (hash mismatch)`,
        {
          hash,
          where: r.where,
        },
      );
    }
    return { hash, kind: r.kind, data };
  }

  /** Builds a delta chunk's bytes from its recipe; errors name the chunk, its pack and the base. */
  private assemble(hash: string, where: string, payload: Uint8Array): Uint8Array {
    const fail = (msg: string, base?: string, cause?: unknown): never => {
      throw new StrataError(
        'INTEGRITY',
        `object ${hash} (delta-coded) in ${where}: ${msg}`,
        { hash, where, delta: true, ...(base ? { base } : {}) },
        cause === undefined ? undefined : { cause },
      );
    };
    let ops: DeltaOp[];
    try {
      ops = decodeRecipe(payload);
    } catch (e) {
      return fail('delta recipe does not decode', undefined, e);
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    for (const op of ops) {
      if (op.kind === 'lit') {
        parts.push(op.data);
        size += op.data.length;
        continue;
      }
      const base = this.baseBytes(op.base, fail);
      if (op.offset + op.length > base.length) fail(`range exceeds delta base ${op.base}`, op.base);
      parts.push(base.subarray(op.offset, op.offset + op.length));
      size += op.length;
    }
    return Buffer.concat(parts, size);
  }

  private baseBytes(base: string, fail: (msg: string, base?: string, cause?: unknown) => never): Uint8Array {
    const hit = this.baseCache.get(base);
    if (hit) {
      this.baseCache.delete(base);
      this.baseCache.set(base, hit);
      return hit;
    }
    if (!this.has(base)) fail(`delta base ${base} is missing`, base);
    let data: Uint8Array;
    try {
      const r = this.readEncoded(base);
      if (r.codec === CODEC_DELTA) fail(`delta base ${base} is itself delta-coded`, base);
      data = this.get(base).data;
    } catch (e) {
      if (e instanceof StrataError && e.data.delta === true) throw e;
      return fail(`delta base ${base} is unreadable: ${(e as Error).message}`, base, e);
    }
    this.baseCache.set(base, data);
    if (this.baseCache.size > BASE_CACHE_ENTRIES) this.baseCache.delete(this.baseCache.keys().next().value!);
    return data;
  }

  private fdFor(packId: number, path: string): number {
    let fd = this.fds.get(packId);
    if (fd === undefined) {
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw new StrataError('INTEGRITY', `pack file ${path} is missing`, { path }, { cause: e });
      }
      this.fds.set(packId, fd);
    }
    return fd;
  }

  private pread(fd: number, offset: number, length: number, where: string): Uint8Array {
    const buf = Buffer.allocUnsafe(length);
    this.readFully(fd, buf, 0, offset, length, where);
    return buf;
  }

  /** Reads `length` bytes at `offset` of the file into `buf` at `at`; a file that ends first is INTEGRITY. */
  private readFully(
    fd: number,
    buf: Uint8Array,
    at: number,
    offset: number,
    length: number,
    where: string,
  ): void {
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, at + got, length - got, offset + got);
      if (n === 0) throw new StrataError('INTEGRITY', `${where} is truncated`, { where, offset, length });
      got += n;
    }
  }

  /** A sealed pack's name, path and (kept open) descriptor, by its id. */
  private sealed(packId: number): { name: string; path: string; fd: number } {
    let name = this.names.get(packId);
    if (name === undefined) this.names.set(packId, (name = this.db.packName(packId)));
    const path = join(this.dir, `${name}.pack`);
    return { name, path, fd: this.fdFor(packId, path) };
  }

  /** Closes the descriptors of sealed packs (after gc retired some: the next read reopens by id). */
  forgetPacks(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    this.names.clear();
    this.prefetched.clear();
  }

  close(): void {
    this.abort();
    this.forgetPacks();
  }
}

/** A sealed pack written by a PackWriter: its name (BLAKE3 of its bytes), size and entries. */
/** A pack entry as an index row (without its pack id). */
export const locationOf = (e: PackEntry): Omit<ObjectLocation, 'pack'> => ({
  hash: e.hash,
  offset: e.offset,
  length: e.length,
  raw_length: e.rawLength,
  codec: e.codec,
  kind: e.kind,
});

export interface WrittenPack {
  name: string;
  size: number;
  entries: PackEntry[];
}

/**
 * Writes already-encoded objects into new packs of at most `maxPackSize` bytes (gc's repack), without
 * consulting the index: each pack is written to a temp file, fsynced and renamed to `<blake3>.pack`; then
 * `seal()` fsyncs the directory. Nothing is registered in the index: the caller switches rows afterwards.
 */
export class PackWriter {
  private current: OpenPack | undefined;
  readonly written: WrittenPack[] = [];

  constructor(
    readonly dir: string,
    readonly maxPackSize = DEFAULT_MAX_PACK_SIZE,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  add(hash: string, kind: number, codec: number, rawLength: number, bytes: Uint8Array): void {
    let p = this.current;
    if (p && p.size + ENTRY_HEADER_SIZE + bytes.length > this.maxPackSize && p.entries.length > 0) {
      this.finish();
      p = undefined;
    }
    if (!p) {
      const tmpPath = join(this.dir, `tmp-${process.pid}-${randomHex(6)}.pack`);
      const fd = openSync(tmpPath, 'wx');
      p = openPackFile(tmpPath, fd);
      this.current = p;
      packWrite(p, packHeader());
    }
    packWrite(p, entryHeader(hash, kind, codec, rawLength, bytes.length));
    const entry: PackEntry = { hash, kind, codec, offset: p.size, length: bytes.length, rawLength };
    packWrite(p, bytes);
    p.entries.push(entry);
  }

  private finish(): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    const name = sealPackFile(this.dir, p);
    if (name !== undefined) this.written.push({ name, size: p.size, entries: p.entries });
  }

  /** Seals the last pack and fsyncs the directory: every written pack is durable under its name. */
  seal(): WrittenPack[] {
    this.finish();
    fsyncDir(this.dir);
    return this.written;
  }

  /** Removes the open temp pack (on error); sealed packs stay (unreferenced, so only garbage). */
  abort(): void {
    const p = this.current;
    this.current = undefined;
    if (!p) return;
    closeSync(p.fd);
    if (existsSync(p.tmpPath)) unlinkSync(p.tmpPath);
  }
}

export function fsyncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
