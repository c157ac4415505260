/**
 * The local object database: append-only pack files under `.strata/packs/` with every object's location
 * in the SQLite index. Write ordering (docs/FORMAT.md, "Ordering"): pack bytes are written to a temp
 * file, fsynced, renamed to `<blake3 of pack>.pack` and the directory fsynced; only then do the index
 * rows commit. A crash leaves at worst an unreferenced temp or pack file, never a row naming missing bytes.
 * Every read re-checks the object's hash.
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
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decode, encode } from './codec.js';
import { StrataError } from './errors.js';
import { createHasher, hashBytes } from './hash.js';
import type { IndexDb, ObjectLocation } from './index-db.js';
import { entryHeader, packHeader, type PackEntry } from './pack-format.js';

export const DEFAULT_MAX_PACK_SIZE = 64 * 1024 * 1024;

export interface StoredObject {
  hash: string;
  kind: number;
  data: Uint8Array;
}

interface OpenPack {
  tmpPath: string;
  fd: number;
  size: number;
  hasher: ReturnType<typeof createHasher>;
  entries: PackEntry[];
  byHash: Map<string, PackEntry>;
}

export class LocalPacks {
  private current: OpenPack | undefined;
  private readonly fds = new Map<number, number>();
  /** Packs finished in this batch but whose rows are not yet committed. */
  private finished: { name: string; size: number; entries: PackEntry[] }[] = [];
  private readonly finishedByHash = new Map<string, { entry: PackEntry; path: string }>();
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
    return this.pendingEntry(hash) !== undefined || this.db.hasObject(hash);
  }

  private pendingEntry(hash: string): (PackEntry & { fd?: number; path: string }) | undefined {
    const e = this.current?.byHash.get(hash);
    if (e) return { ...e, fd: this.current!.fd, path: this.current!.tmpPath };
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
  putEncoded(hash: string, kind: number, codec: number, rawLength: number, bytes: Uint8Array): void {
    if (this.has(hash)) return;
    const p = this.openPack();
    const header = entryHeader(hash, kind, codec, rawLength, bytes.length);
    this.write(p, header);
    const offset = p.size;
    this.write(p, bytes);
    const entry: PackEntry = { hash, kind, codec, offset, length: bytes.length, rawLength };
    p.entries.push(entry);
    p.byHash.set(hash, entry);
    if (p.size >= (this.opts.maxPackSize ?? DEFAULT_MAX_PACK_SIZE)) this.finishPack();
  }

  private write(p: OpenPack, b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(p.fd, b, off, b.length - off);
    p.hasher.update(b);
    p.size += b.length;
  }

  private openPack(): OpenPack {
    if (this.current) return this.current;
    const tmpPath = join(this.dir, `tmp-${process.pid}-${randomBytes(6).toString('hex')}.pack`);
    const fd = openSync(tmpPath, 'wx');
    const p: OpenPack = { tmpPath, fd, size: 0, hasher: createHasher(), entries: [], byHash: new Map() };
    this.current = p;
    this.write(p, packHeader());
    return p;
  }

  /** Seals the open pack: fsync, rename to its content hash, fsync the directory. Rows are not yet committed. */
  private finishPack(): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    fsyncSync(p.fd);
    closeSync(p.fd);
    if (p.entries.length === 0) {
      unlinkSync(p.tmpPath);
      return;
    }
    const name = p.hasher.digestHex();
    renameSync(p.tmpPath, join(this.dir, `${name}.pack`));
    this.finished.push({ name, size: p.size, entries: p.entries });
    const path = join(this.dir, `${name}.pack`);
    for (const entry of p.entries) this.finishedByHash.set(entry.hash, { entry, path });
  }

  /** Makes everything put so far durable and visible: packs fsynced first, then their index rows. */
  flush(): void {
    this.finishPack();
    if (this.finished.length === 0) return;
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    const batch = this.finished;
    this.db.transaction(() => {
      for (const p of batch) {
        this.db.addPack(
          p.name,
          p.size,
          p.entries.map((e) => ({
            hash: e.hash,
            offset: e.offset,
            length: e.length,
            raw_length: e.rawLength,
            codec: e.codec,
            kind: e.kind,
          })),
        );
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
    const loc = this.db.findObject(hash);
    if (!loc) throw new StrataError('NOT_FOUND', `object ${hash} not found`, { hash });
    const name = this.db.packName(loc.pack);
    const path = join(this.dir, `${name}.pack`);
    return {
      kind: loc.kind,
      codec: loc.codec,
      rawLength: loc.raw_length,
      bytes: this.pread(this.fdFor(loc.pack, path), loc.offset, loc.length, path),
      where: `pack ${name}`,
    };
  }

  /** Reads, decodes and verifies an object. */
  get(hash: string): StoredObject {
    const r = this.readEncoded(hash);
    let data: Uint8Array;
    try {
      data = decode(r.codec, r.bytes);
    } catch (e) {
      throw new StrataError(
        'INTEGRITY',
        `object ${hash} in ${r.where} does not decode`,
        { hash, where: r.where },
        { cause: e },
      );
    }
    if (data.length !== r.rawLength || hashBytes(data) !== hash) {
      throw new StrataError('INTEGRITY', `object ${hash} in ${r.where} is corrupt (hash mismatch)`, {
        hash,
        where: r.where,
      });
    }
    return { hash, kind: r.kind, data };
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
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) throw new StrataError('INTEGRITY', `${where} is truncated`, { where, offset, length });
      got += n;
    }
    return buf;
  }

  close(): void {
    this.abort();
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
