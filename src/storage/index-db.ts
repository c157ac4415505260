/**
 * The repository's SQLite index (better-sqlite3, WAL): where every object lives, refs and reflog, the
 * staging index with its stat cache, config and remotes. Schema changes are numbered migrations; a
 * database newer than this code is refused.
 */
import type Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StrataError } from './errors.js';

const require = createRequire(import.meta.url);
// require(), not import: an ES import of this CommonJS package runs cjs-module-lexer over it on every start.
const Sqlite = require('better-sqlite3') as typeof Database;

let addonPath: string | null | undefined;
/**
 * The addon where an install builds it, passed as `nativeBinding` so that better-sqlite3 does not load the
 * `bindings` package to search a dozen candidate paths on every start; undefined (let it search) elsewhere.
 */
function sqliteOptions(): { nativeBinding?: string } {
  if (addonPath === undefined) {
    try {
      const p = join(
        dirname(require.resolve('better-sqlite3/package.json')),
        'build/Release/better_sqlite3.node',
      );
      addonPath = existsSync(p) ? p : null;
    } catch {
      addonPath = null;
    }
  }
  return addonPath ? { nativeBinding: addonPath } : {};
}

export const SCHEMA_VERSION = 3;

const MIGRATIONS: ReadonlyArray<string> = [
  // 1: initial schema
  `
  CREATE TABLE packs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL
  );
  CREATE TABLE objects (
    hash TEXT PRIMARY KEY,
    pack INTEGER NOT NULL REFERENCES packs(id),
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    raw_length INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    kind INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX objects_pack ON objects(pack);
  CREATE TABLE refs (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE reflog (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL,
    old TEXT,
    new TEXT,
    time INTEGER NOT NULL,
    message TEXT NOT NULL
  );
  CREATE TABLE commits (
    hash TEXT PRIMARY KEY,
    tree TEXT NOT NULL,
    time INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE commit_parents (
    child TEXT NOT NULL,
    idx INTEGER NOT NULL,
    parent TEXT NOT NULL,
    PRIMARY KEY (child, idx)
  ) WITHOUT ROWID;
  CREATE TABLE index_entries (
    path TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns TEXT,
    ctime_ns TEXT,
    ino TEXT,
    recorded_ns TEXT
  ) WITHOUT ROWID;
  CREATE TABLE config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE remotes (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE remote_refs (
    remote TEXT NOT NULL,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (remote, name)
  ) WITHOUT ROWID;
  CREATE TABLE remote_objects (
    remote TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (remote, hash)
  ) WITHOUT ROWID;
  `,
  // 2: remotes - a local cache of the remote's pack indexes (which packs were read, where each object lives)
  `
  DROP TABLE remote_objects;
  CREATE TABLE remote_packs (
    remote TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (remote, name)
  ) WITHOUT ROWID;
  CREATE TABLE remote_objects (
    remote TEXT NOT NULL,
    hash TEXT NOT NULL,
    pack TEXT NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    raw_length INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    PRIMARY KEY (remote, hash)
  ) WITHOUT ROWID;
  `,
  // 3: the canonical chunk lists of recently added span-coded versions (a cache: see canonicalChunks)
  `
  CREATE TABLE canonical_chunks (
    id INTEGER PRIMARY KEY,
    content TEXT NOT NULL UNIQUE,
    chunks BLOB NOT NULL
  );
  `,
];

/**
 * The canonical chunk lists the index keeps: the most recently added, at most this many and this many bytes
 * together (36 bytes a chunk: ~2.3 MB per GiB of file), but always the newest.
 */
const CANONICAL_LISTS_KEPT = 64;
const CANONICAL_BYTES_KEPT = 256 * 1024 * 1024;

/** At most this much of the index file is read through a memory map (it is ~45 MB per GiB of data). */
const INDEX_MMAP_BYTES = 1024 * 1024 * 1024;

/** Hashes per statement in findObjects. */
const FIND_BATCH = 64;
const FIND_COLUMNS = 'hash, pack, offset, length, raw_length, codec, kind';

export interface ObjectLocation {
  hash: string;
  pack: number;
  offset: number;
  length: number;
  raw_length: number;
  codec: number;
  kind: number;
}

export interface IndexEntry {
  path: string;
  manifest: string;
  size: number;
  mtime_ns: string | null;
  ctime_ns: string | null;
  ino: string | null;
  recorded_ns: string | null;
}

export class IndexDb {
  readonly db: Database.Database;
  /** The database file (named in INTEGRITY errors when SQLite finds it damaged). */
  readonly file: string;
  /**
   * Bumped by every addPack (the only way objects rows are added): while it stays the same, a hash this
   * process found absent from the index is still absent, but for rows another process adds, which
   * `INSERT OR IGNORE` turns into a harmless second copy (LocalPacks.putEncoded).
   */
  generation = 0;

  private constructor(db: Database.Database, file = '') {
    this.db = db;
    this.file = file;
  }

  /** Opens (and with `create`, creates) the database, applying pending migrations. */
  static open(file: string, opts: { create?: boolean; readonly?: boolean } = {}): IndexDb {
    let db: Database.Database;
    try {
      db = new Sqlite(file, {
        ...sqliteOptions(),
        fileMustExist: !opts.create,
        readonly: opts.readonly ?? false,
        timeout: 10_000,
      });
    } catch (e) {
      throw new StrataError('NOT_A_REPOSITORY', `cannot open index ${file}`, { file }, { cause: e });
    }
    try {
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
      }
      db.pragma('foreign_keys = ON');
      // Pages read through a memory map rather than a pread each into SQLite's own cache: a diff looks up the
      // locations of ~10k chunks in a cold index, 86-93 → 39-52 ms (10k lookups of a 1 GiB repository's index,
      // alternated). SQLite keeps the map in step with its own writes and truncations.
      db.pragma(`mmap_size = ${INDEX_MMAP_BYTES}`);
      const idx = new IndexDb(db, file);
      idx.migrate(opts.readonly ?? false);
      // Reading the schema touches page 1 and sqlite_master: a damaged header or schema fails here.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return idx;
    } catch (e) {
      const damaged = damagedDbError(e, file);
      try {
        db.close();
      } catch {
        /* already unusable */
      }
      throw damaged ?? e;
    }
  }

  private migrate(readonly: boolean): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StrataError(
        'UNSUPPORTED_VERSION',
        `index schema version ${version} is newer than this strata understands (${SCHEMA_VERSION}); upgrade strata`,
        { version, supported: SCHEMA_VERSION },
      );
    }
    if (version === SCHEMA_VERSION) return;
    if (readonly) throw new StrataError('UNSUPPORTED_VERSION', 'index needs a migration', { version });
    // Under the write lock, from the version read there: several processes opening an index at once (workers
    // of one training job) migrate it once; the others find it done.
    this.db
      .transaction(() => {
        const from = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = from; v < SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v]!);
        if (from !== SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })
      .immediate();
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (e) {
      throw damagedDbError(e, this.file) ?? e;
    }
  }

  /** SQLite's own structural check of the file (`PRAGMA quick_check`): problems found, none if healthy. */
  quickCheck(max = 100): string[] {
    try {
      const rows = this.db.pragma(`quick_check(${max})`) as { quick_check: string }[];
      const msgs = rows.map((r) => r.quick_check);
      return msgs.length === 1 && msgs[0] === 'ok' ? [] : msgs;
    } catch (e) {
      return [(e as Error).message];
    }
  }

  // ---- objects and packs

  private stmts = new Map<string, Database.Statement>();
  prep(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      try {
        s = guardStatement(this.db.prepare(sql), this.file);
      } catch (e) {
        throw damagedDbError(e, this.file) ?? e;
      }
      this.stmts.set(sql, s);
    }
    return s;
  }

  findObject(hash: string): ObjectLocation | undefined {
    return this.prep('SELECT * FROM objects WHERE hash = ?').get(hash) as ObjectLocation | undefined;
  }

  /**
   * findObject for many hashes with one statement (a diff looks up its chunks 32 at a time): the locations
   * in the order of `hashes`, undefined for a hash not in the index.
   */
  findObjects(hashes: readonly string[]): (ObjectLocation | undefined)[] {
    const byHash = new Map<string, ObjectLocation>();
    this.eachIn(hashes, FIND_COLUMNS, (r) => {
      const [hash, pack, offset, length, raw_length, codec, kind] = r as [string, ...number[]];
      byHash.set(hash, { hash, pack, offset, length, raw_length, codec, kind } as ObjectLocation);
    });
    return hashes.map((h) => byHash.get(h));
  }

  /** hasObject for many hashes, as findObjects asks (~1 µs a hash against ~2.5-5 µs one by one). */
  hasObjects(hashes: readonly string[]): boolean[] {
    const found = new Set<string>();
    this.eachIn(hashes, 'hash', (r) => found.add(r[0] as string));
    return hashes.map((h) => found.has(h));
  }

  /**
   * The rows (`columns` of objects) of the hashes in the index, FIND_BATCH to a `SELECT ... WHERE hash IN
   * (n parameters)` in raw mode (rows as arrays): a diff looks up tens of thousands of chunks, and an object
   * per row cost a third of each lookup (measured: 3.8 → 2.8 µs a hash, random hashes, against a json_each
   * join).
   */
  private eachIn(hashes: readonly string[], columns: string, row: (r: unknown[]) => void): void {
    for (let i = 0; i < hashes.length; i += FIND_BATCH) {
      const part = hashes.slice(i, i + FIND_BATCH);
      const marks = '?,'.repeat(part.length - 1) + '?';
      const st = this.prep(`SELECT ${columns} FROM objects WHERE hash IN (${marks})`).raw(true);
      for (const r of st.all(...part) as unknown[][]) row(r);
    }
  }

  hasObject(hash: string): boolean {
    return this.prep('SELECT 1 FROM objects WHERE hash = ?').get(hash) !== undefined;
  }

  /** A remote whose pack indexes (as last listed) hold the object, if any (a partial clone's chunks). */
  remoteHolding(hash: string): string | undefined {
    const r = this.prep('SELECT remote FROM remote_objects WHERE hash = ? ORDER BY remote LIMIT 1').get(
      hash,
    ) as { remote: string } | undefined;
    return r?.remote;
  }

  /** Hashes (of any kind) starting with a prefix, at most `limit`. */
  objectsWithPrefix(prefix: string, limit = 2): string[] {
    return (
      this.prep('SELECT hash FROM objects WHERE hash >= ? AND hash < ? ORDER BY hash LIMIT ?').all(
        prefix,
        prefix + 'g',
        limit,
      ) as { hash: string }[]
    ).map((r) => r.hash);
  }

  /** Registers a finished (fsynced) pack and all its objects in one transaction. */
  addPack(name: string, size: number, objects: Omit<ObjectLocation, 'pack'>[]): number {
    this.generation++;
    return this.transaction(() => {
      const id = Number(
        this.prep('INSERT INTO packs (name, size) VALUES (?, ?)').run(name, size).lastInsertRowid,
      );
      const ins = this.prep(
        'INSERT OR IGNORE INTO objects (hash, pack, offset, length, raw_length, codec, kind) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      for (const o of objects) ins.run(o.hash, id, o.offset, o.length, o.raw_length, o.codec, o.kind);
      return id;
    });
  }

  packs(): { id: number; name: string; size: number }[] {
    return this.prep('SELECT id, name, size FROM packs ORDER BY id').all() as {
      id: number;
      name: string;
      size: number;
    }[];
  }

  packName(id: number): string {
    const r = this.prep('SELECT name FROM packs WHERE id = ?').get(id) as { name: string } | undefined;
    if (!r) throw new StrataError('INTEGRITY', `index names unknown pack ${id}`, { pack: id });
    return r.name;
  }

  *iterateObjects(): IterableIterator<ObjectLocation> {
    yield* this.prep(
      'SELECT * FROM objects ORDER BY pack, offset',
    ).iterate() as IterableIterator<ObjectLocation>;
  }

  /** The objects the index places in pack `pack`, in offset order. */
  objectsInPack(pack: number): ObjectLocation[] {
    return this.prep('SELECT * FROM objects WHERE pack = ? ORDER BY offset').all(pack) as ObjectLocation[];
  }

  /** Objects whose pack the index does not list (a damaged index). */
  objectsOutsidePacks(): ObjectLocation[] {
    return this.prep(
      'SELECT * FROM objects WHERE pack NOT IN (SELECT id FROM packs) ORDER BY pack, offset',
    ).all() as ObjectLocation[];
  }

  objectCount(): number {
    return (this.prep('SELECT count(*) AS n FROM objects').get() as { n: number }).n;
  }

  // ---- refs

  getRef(name: string): string | undefined {
    return (this.prep('SELECT target FROM refs WHERE name = ?').get(name) as { target: string } | undefined)
      ?.target;
  }

  listRefs(prefix: string): { name: string; target: string }[] {
    return this.prep('SELECT name, target FROM refs WHERE name >= ? AND name < ? ORDER BY name').all(
      prefix,
      prefix + '\uffff',
    ) as { name: string; target: string }[];
  }

  /** Sets (or with target undefined, deletes) a ref and appends a reflog entry, atomically. */
  setRef(name: string, target: string | undefined, message: string, expectOld?: string | null): void {
    this.transaction(() => {
      const old = this.getRef(name);
      if (expectOld !== undefined && (old ?? null) !== expectOld) {
        throw new StrataError('CONFLICT', `ref ${name} moved concurrently`, {
          ref: name,
          expected: expectOld,
          actual: old,
        });
      }
      if (target === undefined) this.prep('DELETE FROM refs WHERE name = ?').run(name);
      else
        this.prep(
          'INSERT INTO refs (name, target) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET target = excluded.target',
        ).run(name, target);
      this.prep('INSERT INTO reflog (ref, old, new, time, message) VALUES (?, ?, ?, ?, ?)').run(
        name,
        old ?? null,
        target ?? null,
        Date.now(),
        message,
      );
    });
  }

  reflog(
    ref: string,
    limit = 100,
  ): { old: string | null; new: string | null; time: number; message: string }[] {
    return this.prep('SELECT old, new, time, message FROM reflog WHERE ref = ? ORDER BY id DESC LIMIT ?').all(
      ref,
      limit,
    ) as { old: string | null; new: string | null; time: number; message: string }[];
  }

  // ---- commit graph

  recordCommit(hash: string, tree: string, time: number, parents: readonly string[]): void {
    this.transaction(() => {
      this.prep('INSERT OR IGNORE INTO commits (hash, tree, time) VALUES (?, ?, ?)').run(hash, tree, time);
      const ins = this.prep('INSERT OR IGNORE INTO commit_parents (child, idx, parent) VALUES (?, ?, ?)');
      parents.forEach((p, i) => ins.run(hash, i, p));
    });
  }

  commitsWithPrefix(prefix: string, limit = 2): string[] {
    return (
      this.prep('SELECT hash FROM commits WHERE hash >= ? AND hash < ? ORDER BY hash LIMIT ?').all(
        prefix,
        prefix + 'g',
        limit,
      ) as { hash: string }[]
    ).map((r) => r.hash);
  }

  // ---- staging index with stat cache

  indexEntries(): IndexEntry[] {
    return this.prep('SELECT * FROM index_entries ORDER BY path').all() as IndexEntry[];
  }

  getIndexEntry(path: string): IndexEntry | undefined {
    return this.prep('SELECT * FROM index_entries WHERE path = ?').get(path) as IndexEntry | undefined;
  }

  upsertIndexEntry(e: IndexEntry): void {
    this.prep(
      `INSERT INTO index_entries (path, manifest, size, mtime_ns, ctime_ns, ino, recorded_ns)
       VALUES (@path, @manifest, @size, @mtime_ns, @ctime_ns, @ino, @recorded_ns)
       ON CONFLICT(path) DO UPDATE SET manifest = excluded.manifest, size = excluded.size, mtime_ns = excluded.mtime_ns,
         ctime_ns = excluded.ctime_ns, ino = excluded.ino, recorded_ns = excluded.recorded_ns`,
    ).run(e);
  }

  deleteIndexEntry(path: string): void {
    this.prep('DELETE FROM index_entries WHERE path = ?').run(path);
  }

  replaceIndex(entries: Iterable<IndexEntry>): void {
    this.transaction(() => {
      this.prep('DELETE FROM index_entries').run();
      for (const e of entries) this.upsertIndexEntry(e);
    });
  }

  // ---- canonical chunk lists (a cache of span-coded versions' canonical manifests, never pushed)

  /** Remembers the canonical chunk list of the file content `content`, keeping the most recent lists only. */
  putCanonicalChunks(
    content: string,
    chunks: Uint8Array,
    keep: { lists: number; bytes: number } = { lists: CANONICAL_LISTS_KEPT, bytes: CANONICAL_BYTES_KEPT },
  ): void {
    this.transaction(() => {
      this.prep('DELETE FROM canonical_chunks WHERE content = ?').run(content);
      this.prep('INSERT INTO canonical_chunks (content, chunks) VALUES (?, ?)').run(content, chunks);
      this.prep(
        `DELETE FROM canonical_chunks WHERE id IN (
           SELECT id FROM (
             SELECT id, ROW_NUMBER() OVER (ORDER BY id DESC) AS n,
                    SUM(length(chunks)) OVER (ORDER BY id DESC) AS total
             FROM canonical_chunks)
           WHERE n > 1 AND (n > ? OR total > ?))`,
      ).run(keep.lists, keep.bytes);
    });
  }

  getCanonicalChunks(content: string): Buffer | undefined {
    const row = this.prep('SELECT chunks FROM canonical_chunks WHERE content = ?').get(content) as
      { chunks: Buffer } | undefined;
    return row?.chunks;
  }

  // ---- config and remotes

  getConfig(key: string): string | undefined {
    return (this.prep('SELECT value FROM config WHERE key = ?').get(key) as { value: string } | undefined)
      ?.value;
  }

  setConfig(key: string, value: string | undefined): void {
    if (value === undefined) this.prep('DELETE FROM config WHERE key = ?').run(key);
    else
      this.prep(
        'INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ).run(key, value);
  }

  allConfig(): { key: string; value: string }[] {
    return this.prep('SELECT key, value FROM config ORDER BY key').all() as { key: string; value: string }[];
  }

  // ---- gc and repair (src/core/gc.ts, src/core/repair.ts)

  /**
   * Switches objects to the packs gc wrote, in one transaction: registers `added` packs (a name already
   * registered, i.e. a pack rewritten to identical bytes, keeps its row), points every moved object at its
   * new copy, drops the rows of `remove`d objects and every row left in the `retired` packs, and the retired
   * packs themselves. Returns the ids of the packs whose rows are gone (their files may now be deleted).
   */
  switchPacks(
    added: { name: string; size: number; objects: Omit<ObjectLocation, 'pack'>[] }[],
    retired: readonly number[],
    remove: Iterable<string>,
  ): number[] {
    return this.transaction(() => {
      const byName = new Map(this.packs().map((p) => [p.name, p.id]));
      const keep = new Set<number>();
      const move = this.prep('UPDATE objects SET pack = ?, offset = ?, length = ?, codec = ? WHERE hash = ?');
      for (const p of added) {
        let id = byName.get(p.name);
        if (id === undefined) {
          id = Number(
            this.prep('INSERT INTO packs (name, size) VALUES (?, ?)').run(p.name, p.size).lastInsertRowid,
          );
        } else keep.add(id);
        for (const o of p.objects) move.run(id, o.offset, o.length, o.codec, o.hash);
      }
      const del = this.prep('DELETE FROM objects WHERE hash = ?');
      const delCommit = this.prep('DELETE FROM commits WHERE hash = ?');
      const delParents = this.prep('DELETE FROM commit_parents WHERE child = ?');
      for (const h of remove) {
        del.run(h);
        delCommit.run(h);
        delParents.run(h);
      }
      const gone = retired.filter((id) => !keep.has(id));
      const delPackRows = this.prep('DELETE FROM objects WHERE pack = ?');
      const delPack = this.prep('DELETE FROM packs WHERE id = ?');
      for (const id of gone) {
        delPackRows.run(id);
        delPack.run(id);
      }
      return gone;
    });
  }

  /** Deletes reflog entries older than `before` (ms since the epoch); returns how many. */
  expireReflog(before: number): number {
    return this.prep('DELETE FROM reflog WHERE time < ?').run(before).changes;
  }

  /** Every reflog entry at or after `since` (ms): the commits they name stay reachable. */
  reflogSince(since: number): { ref: string; old: string | null; new: string | null }[] {
    return this.prep('SELECT ref, old, new FROM reflog WHERE time >= ?').all(since) as {
      ref: string;
      old: string | null;
      new: string | null;
    }[];
  }

  /** Replaces the whole object index (fsck --repair): every pack and object row, in one transaction. */
  replaceObjectIndex(packs: { name: string; size: number; objects: Omit<ObjectLocation, 'pack'>[] }[]): void {
    this.transaction(() => {
      this.prep('DELETE FROM objects').run();
      this.prep('DELETE FROM packs').run();
      for (const p of packs) this.addPack(p.name, p.size, p.objects);
    });
  }
}

const DAMAGED_CODES = new Set([
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_CORRUPT_INDEX',
  'SQLITE_CORRUPT_VTAB',
]);

/** An INTEGRITY error naming the file if `e` is SQLite reporting a damaged database file. */
export function damagedDbError(e: unknown, file: string): StrataError | undefined {
  if (e instanceof StrataError) return undefined;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !DAMAGED_CODES.has(code)) return undefined;
  return new StrataError(
    'INTEGRITY',
    `index database ${file} is damaged (${(e as Error).message}); run 'strata fsck --repair' to rebuild it from the packs`,
    { file, sqlite: code, damagedIndex: true },
    { cause: e },
  );
}

type AnyFn = (...a: unknown[]) => unknown;

/** Wraps a statement so that SQLite reporting a damaged file becomes an INTEGRITY error naming it. */
function guardStatement(stmt: Database.Statement, file: string): Database.Statement {
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => R) =>
    (...a: A): R => {
      try {
        return fn(...a);
      } catch (e) {
        throw damagedDbError(e, file) ?? e;
      }
    };
  const hot = new Map<PropertyKey, unknown>(); // run/get/all wrappers, built once per statement
  return new Proxy(stmt, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const cached = hot.get(prop);
      if (cached) return cached;
      if (prop === 'iterate') {
        return (...a: unknown[]) => {
          const it = wrap(() => (target.iterate as (...x: unknown[]) => IterableIterator<unknown>)(...a))();
          const next = wrap(() => it.next());
          return {
            next,
            return: (value?: unknown) => it.return?.(value) ?? { done: true, value },
            [Symbol.iterator]() {
              return this;
            },
          };
        };
      }
      if (prop === 'run' || prop === 'get' || prop === 'all') {
        const w = wrap((v as AnyFn).bind(target));
        hot.set(prop, w);
        return w;
      }
      const bound = (v as AnyFn).bind(target) as (...a: unknown[]) => unknown;
      // Chainable setters (raw, pluck, expand, safeIntegers, bind) return the statement: keep the guard.
      return (...a: unknown[]) => {
        const r = bound(...a);
        return r === target ? guardStatement(target, file) : r;
      };
    },
  });
}

/**
 * Reads whole tables out of a (possibly damaged) database file, table by table, from a scratch copy in the
 * temp directory so the file itself (and its WAL) stay untouched. Tables SQLite cannot read are listed in `failed`.
 */
export function salvageRows(
  file: string,
  tables: readonly string[],
): { rows: Record<string, Record<string, unknown>[]>; failed: string[] } {
  const rows: Record<string, Record<string, unknown>[]> = {};
  const failed: string[] = [];
  const scratchDir = mkdtempSync(join(tmpdir(), 'strata-salvage-'));
  const scratch = join(scratchDir, 'index.sqlite');
  let db: Database.Database | undefined;
  try {
    copyFileSync(file, scratch);
    if (existsSync(file + '-wal')) copyFileSync(file + '-wal', scratch + '-wal');
    db = new Sqlite(scratch, { ...sqliteOptions(), fileMustExist: true, timeout: 1000 });
  } catch {
    db = undefined;
  }
  for (const t of tables) {
    try {
      if (!db) throw new Error('unreadable');
      rows[t] = db.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[];
    } catch {
      failed.push(t);
    }
  }
  try {
    db?.close();
  } catch {
    /* damaged */
  }
  rmSync(scratchDir, { recursive: true, force: true });
  return { rows, failed };
}
