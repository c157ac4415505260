/**
 * `fsck --repair` (docs/reliability/gc-and-repair.md): rebuilds the object index from what the pack files
 * hold. Pack entries describe themselves, so every `.pack` in `.strata/packs/` is scanned and every entry
 * verified (decoded and re-hashed; a delta-coded chunk assembled from verified bases); the `packs` and
 * `objects` tables are replaced with the verified entries, so rows that pointed past a pack's end, into a
 * missing pack or at damaged bytes are gone (and such an object can be fetched again from a remote).
 *
 * If `index.sqlite` itself is damaged (SQLite cannot read it, or `PRAGMA quick_check` fails) it is moved
 * aside — never deleted — and a new one is built: objects and the commit graph from the packs; refs,
 * reflog, config, remotes and the staging index salvaged table by table from the damaged copy where SQLite
 * can still read them; refs that could not be salvaged are recreated as branches `recovered/<n>` at every
 * commit no other commit names as parent (newest first), and HEAD points at the salvaged HEAD or at
 * `recovered/1`. A staging index that could not be salvaged is rebuilt from HEAD's tree (files are
 * re-hashed by the next `status`).
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CODEC_DELTA, decode, decodeRecipe } from '../storage/codec.js';
import { isStrataError, StrataError } from '../storage/errors.js';
import { hashBytes, type Hash } from '../storage/hash.js';
import { IndexDb, salvageRows, type IndexEntry, type ObjectLocation } from '../storage/index-db.js';
import { fsyncDir, LocalPacks, locationOf, PackWriter } from '../storage/local-packs.js';
import {
  ENTRY_HEADER_SIZE,
  KIND,
  PACK_HEADER_SIZE,
  PACK_MAGIC,
  parseEntryHeader,
} from '../storage/pack-format.js';
import { fsck, type FsckProblem } from './fsck.js';
import { ObjectDb } from './object-db.js';
import { decodeCommit } from './objects/objects.js';
import { acquireLock, releaseLock, REPO_DIR, Repository } from './repository.js';
import { makeEntry } from './stage.js';
import { flattenTree } from './tree-builder.js';

export interface RepairReport {
  /** True when index.sqlite was damaged, moved aside and rebuilt. */
  indexRebuilt: boolean;
  /** Where the damaged database files were moved (kept for a human). */
  movedAside: string[];
  packsScanned: number;
  objectsIndexed: number;
  /** Index rows that named bytes the packs do not hold (missing pack, past the end, corrupt), now gone. */
  rowsDropped: { hash: string; pack: string; reason: string }[];
  /** Damage found in pack files: entries that do not verify, truncated or unreadable packs. */
  packProblems: { pack: string; object?: string; problem: string }[];
  /** What the rebuilt index took from the damaged one (table -> rows), and what it could not read. */
  salvaged: Record<string, number>;
  unsalvageable: string[];
  /** Refs recreated at commits nothing else descends from (only when refs could not be salvaged). */
  recoveredRefs: { name: string; commit: string; time: number }[];
  /** Problems `fsck` still finds after the repair (objects referenced but missing or corrupt, named). */
  unrepairable: FsckProblem[];
}

interface ScannedPack {
  name: string;
  size: number;
  objects: Omit<ObjectLocation, 'pack'>[];
}

interface Scan {
  packs: ScannedPack[];
  /** Pack files with any damage (bad header, cut entry, an entry that does not verify). */
  damaged: Set<string>;
  problems: RepairReport['packProblems'];
  commits: { hash: string; tree: string; time: number; parents: string[] }[];
}

/** Reads every pack in `dir`, keeping each entry that verifies (first copy wins). */
export function scanPacks(dir: string): Scan {
  const problems: Scan['problems'] = [];
  const seen = new Map<
    string,
    { path: string; offset: number; length: number; codec: number; raw: number }
  >();
  const packs: ScannedPack[] = [];
  const deltas: { pack: ScannedPack; loc: Omit<ObjectLocation, 'pack'>; bytes: Uint8Array }[] = [];
  const commits: Scan['commits'] = [];
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.pack') && !f.startsWith('tmp-'))
    .sort();
  for (const f of files) {
    const name = f.slice(0, -'.pack'.length);
    const path = join(dir, f);
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      problems.push({ pack: name, problem: `unreadable: ${(e as Error).message}` });
      continue;
    }
    const pack: ScannedPack = { name, size: buf.length, objects: [] };
    if (buf.length < PACK_HEADER_SIZE || !buf.subarray(0, 8).equals(PACK_MAGIC))
      problems.push({ pack: name, problem: 'bad pack header (entries scanned anyway)' });
    let at = PACK_HEADER_SIZE;
    while (at < buf.length) {
      if (at + ENTRY_HEADER_SIZE > buf.length) {
        problems.push({ pack: name, problem: `truncated entry header at byte ${at}` });
        break;
      }
      const h = parseEntryHeader(buf, at);
      const offset = at + ENTRY_HEADER_SIZE;
      if (offset + h.length > buf.length) {
        problems.push({
          pack: name,
          object: h.hash,
          problem: `entry at byte ${at} runs past the end (truncated pack)`,
        });
        break;
      }
      at = offset + h.length;
      const bytes = buf.subarray(offset, offset + h.length);
      const loc = {
        hash: h.hash,
        offset,
        length: h.length,
        raw_length: h.rawLength,
        codec: h.codec,
        kind: h.kind,
      };
      if (seen.has(h.hash)) continue;
      if (h.codec === CODEC_DELTA) {
        deltas.push({ pack, loc, bytes: Buffer.from(bytes) });
        continue;
      }
      let data: Uint8Array;
      try {
        data = decode(h.codec, bytes, h.rawLength);
      } catch {
        problems.push({ pack: name, object: h.hash, problem: 'does not decode' });
        continue;
      }
      if (data.length !== h.rawLength || hashBytes(data) !== h.hash || h.kind > KIND.commit) {
        problems.push({ pack: name, object: h.hash, problem: 'corrupt (hash mismatch)' });
        continue;
      }
      if (h.kind === KIND.commit) {
        try {
          const c = decodeCommit(data, h.hash);
          commits.push({ hash: h.hash, tree: c.tree, time: c.time, parents: c.parents });
        } catch (e) {
          problems.push({
            pack: name,
            object: h.hash,
            problem: `commit does not parse: ${(e as Error).message}`,
          });
          continue;
        }
      }
      seen.set(h.hash, { path, offset, length: h.length, codec: h.codec, raw: h.rawLength });
      pack.objects.push(loc);
    }
    packs.push(pack);
  }
  // Delta-coded chunks: assembled from bases that verified above (depth 1), then re-hashed.
  const readBase = (hash: string): Uint8Array | undefined => {
    const s = seen.get(hash);
    if (!s || s.codec === CODEC_DELTA) return undefined;
    const fd = openSync(s.path, 'r');
    try {
      const b = Buffer.alloc(s.length);
      readSync(fd, b, 0, s.length, s.offset);
      return decode(s.codec, b, s.raw);
    } finally {
      closeSync(fd);
    }
  };
  for (const d of deltas) {
    if (seen.has(d.loc.hash)) continue;
    try {
      const parts: Uint8Array[] = [];
      for (const op of decodeRecipe(d.bytes)) {
        if (op.kind === 'lit') parts.push(op.data);
        else {
          const base = readBase(op.base);
          if (!base) throw new Error(`delta base ${op.base} is missing or corrupt`);
          if (op.offset + op.length > base.length) throw new Error(`range exceeds delta base ${op.base}`);
          parts.push(base.subarray(op.offset, op.offset + op.length));
        }
      }
      const data = Buffer.concat(parts);
      if (data.length !== d.loc.raw_length || hashBytes(data) !== d.loc.hash)
        throw new Error('corrupt (hash mismatch)');
    } catch (e) {
      problems.push({
        pack: d.pack.name,
        object: d.loc.hash,
        problem: `delta-coded: ${(e as Error).message}`,
      });
      continue;
    }
    seen.set(d.loc.hash, { path: '', offset: 0, length: 0, codec: CODEC_DELTA, raw: d.loc.raw_length });
    d.pack.objects.push(d.loc);
  }
  return {
    packs: packs.filter((p) => p.objects.length > 0),
    damaged: new Set(problems.map((p) => p.pack)),
    problems,
    commits,
  };
}

/**
 * Copies the verified objects of damaged pack files into fresh packs (written and fsynced before anything
 * names them) and returns the scan with those packs replaced, plus the damaged files to move aside once the
 * index no longer names them.
 */
function rewriteDamaged(dir: string, scan: Scan): { packs: ScannedPack[]; moveAside: string[] } {
  const packs: ScannedPack[] = [];
  const moveAside = [...scan.damaged].filter((n) => existsSync(join(dir, `${n}.pack`)));
  const writer = new PackWriter(dir);
  let wrote = false;
  for (const p of scan.packs) {
    if (!scan.damaged.has(p.name)) {
      packs.push(p);
      continue;
    }
    const buf = readFileSync(join(dir, `${p.name}.pack`));
    for (const o of p.objects)
      writer.add(o.hash, o.kind, o.codec, o.raw_length, buf.subarray(o.offset, o.offset + o.length));
    wrote = true;
  }
  if (wrote) {
    for (const w of writer.seal()) {
      packs.push({
        name: w.name,
        size: w.size,
        objects: w.entries.map(locationOf),
      });
    }
  }
  return { packs, moveAside };
}

/** Moves damaged pack files to `.strata/damaged-packs/` (kept for a human, never deleted). */
function moveDamaged(strataDir: string, names: string[], report: RepairReport): void {
  if (!names.length) return;
  const to = join(strataDir, 'damaged-packs');
  mkdirSync(to, { recursive: true });
  for (const n of names) {
    renameSync(join(strataDir, 'packs', `${n}.pack`), join(to, `${n}.pack`));
    report.movedAside.push(join(to, `${n}.pack`));
  }
  fsyncDir(join(strataDir, 'packs'));
  fsyncDir(to);
}

/** Finds the root of the repository containing `start` without opening its index. */
export function findRepoRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, REPO_DIR, 'strata.json'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new StrataError(
        'NOT_A_REPOSITORY',
        `not a strata repository (or any parent): ${resolve(start)}`,
        {
          path: resolve(start),
        },
      );
    dir = up;
  }
}

/** `fsck --repair` for the repository containing `start`. */
export async function repair(start = '.'): Promise<RepairReport> {
  const root = findRepoRoot(start);
  const dbFile = join(root, REPO_DIR, 'index.sqlite');
  let repo: Repository | undefined;
  let damaged = !existsSync(dbFile);
  if (!damaged) {
    try {
      repo = Repository.open(root);
      if (repo.db.quickCheck(10).length > 0) damaged = true;
    } catch (e) {
      if (!(isStrataError(e, 'INTEGRITY') && e.data.damagedIndex)) throw e;
      damaged = true;
    }
  }
  if (damaged) {
    repo?.close();
    const report = rebuildIndex(root);
    const r = Repository.open(root);
    try {
      report.unrepairable = (await fsck(r)).problems;
    } finally {
      r.close();
    }
    return report;
  }
  const open = repo!;
  try {
    return await open.withLock(() => reindex(open));
  } finally {
    open.close();
  }
}

const emptyReport = (): RepairReport => ({
  indexRebuilt: false,
  movedAside: [],
  packsScanned: 0,
  objectsIndexed: 0,
  rowsDropped: [],
  packProblems: [],
  salvaged: {},
  unsalvageable: [],
  recoveredRefs: [],
  unrepairable: [],
});

/** The database opens and is sound: replace its object index by a scan of the packs. */
async function reindex(repo: Repository): Promise<RepairReport> {
  const report = emptyReport();
  const dir = join(repo.strataDir, 'packs');
  const scan = scanPacks(dir);
  report.packsScanned = readdirSync(dir).filter((f) => f.endsWith('.pack') && !f.startsWith('tmp-')).length;
  report.packProblems = scan.problems;
  const now = new Map<string, string>();
  for (const p of scan.packs) for (const o of p.objects) now.set(o.hash, p.name);
  report.objectsIndexed = now.size;
  const names = new Map(repo.db.packs().map((p) => [p.id, p.name]));
  for (const o of repo.db.iterateObjects()) {
    if (now.has(o.hash)) continue;
    const pack = names.get(o.pack) ?? `#${o.pack}`;
    const file = join(dir, `${pack}.pack`);
    const reason = !existsSync(file)
      ? 'pack file is missing'
      : o.offset + o.length > statSync(file).size
        ? 'points past the end of the pack'
        : 'bytes do not verify';
    report.rowsDropped.push({ hash: o.hash, pack, reason });
  }
  const fixed = rewriteDamaged(dir, scan);
  repo.db.transaction(() => {
    repo.db.replaceObjectIndex(fixed.packs);
    for (const c of scan.commits) repo.db.recordCommit(c.hash, c.tree, c.time, c.parents);
  });
  repo.objects.packs.forgetPacks();
  moveDamaged(repo.strataDir, fixed.moveAside, report);
  report.unrepairable = (await fsck(repo)).problems;
  return report;
}

const SALVAGE_TABLES = ['refs', 'reflog', 'config', 'remotes', 'remote_refs', 'index_entries'] as const;

/** index.sqlite is damaged or gone: move it aside and build a new one from the packs and what can be salvaged. */
function rebuildIndex(root: string): RepairReport {
  const report = emptyReport();
  report.indexRebuilt = true;
  const sd = join(root, REPO_DIR);
  const dbFile = join(sd, 'index.sqlite');
  const lock = join(sd, 'lock');
  const nonce = acquireLock(lock);
  try {
    // 1. Move the damaged files aside (a WAL belongs to its database: they move together).
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const aside = `${dbFile}.damaged-${stamp}`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(dbFile + suffix)) {
        renameSync(dbFile + suffix, aside + suffix);
        report.movedAside.push(aside + suffix);
      }
    }
    fsyncDir(sd);
    // 2. Salvage what SQLite can still read, from a scratch copy (the kept files stay untouched).
    const salvage = salvageTables(aside, report);
    // 3. A new database beside the old name, renamed into place when complete.
    const building = `${dbFile}.rebuild-${process.pid}`;
    for (const suffix of ['', '-wal', '-shm']) rmSync(building + suffix, { force: true });
    const db = IndexDb.open(building, { create: true });
    let moveAside: string[] = [];
    try {
      const packsDir = join(sd, 'packs');
      const scan = scanPacks(packsDir);
      report.packsScanned = readdirSync(packsDir).filter(
        (f) => f.endsWith('.pack') && !f.startsWith('tmp-'),
      ).length;
      report.packProblems = scan.problems;
      const present = new Set<string>();
      for (const p of scan.packs) for (const o of p.objects) present.add(o.hash);
      report.objectsIndexed = present.size;
      const fixed = rewriteDamaged(packsDir, scan);
      moveAside = fixed.moveAside;
      db.transaction(() => {
        db.replaceObjectIndex(fixed.packs);
        for (const c of scan.commits) db.recordCommit(c.hash, c.tree, c.time, c.parents);
        restoreRefs(db, salvage, scan.commits, present, report);
        for (const t of ['reflog', 'config', 'remotes', 'remote_refs'] as const) {
          for (const row of salvage[t] ?? []) {
            const cols = Object.keys(row);
            db.prep(
              `INSERT OR IGNORE INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
            ).run(...cols.map((c) => row[c]));
          }
        }
      });
      restoreIndex(db, salvage.index_entries as IndexEntry[] | undefined, present, packsDir, report);
    } finally {
      db.close();
    }
    renameSync(building, dbFile);
    fsyncDir(sd);
    moveDamaged(sd, moveAside, report);
  } finally {
    releaseLock(lock, nonce);
  }
  return report;
}

type Row = Record<string, unknown>;

function salvageTables(aside: string, report: RepairReport): Partial<Record<string, Row[]>> {
  if (!existsSync(aside)) {
    report.unsalvageable.push(...SALVAGE_TABLES);
    return {};
  }
  const { rows, failed } = salvageRows(aside, SALVAGE_TABLES);
  for (const [t, r] of Object.entries(rows)) report.salvaged[t] = r.length;
  report.unsalvageable.push(...failed);
  return rows;
}

function restoreRefs(
  db: IndexDb,
  salvage: Partial<Record<string, Row[]>>,
  commits: Scan['commits'],
  present: Set<string>,
  report: RepairReport,
): void {
  const insert = db.prep('INSERT OR REPLACE INTO refs (name, target) VALUES (?, ?)');
  const refs = (salvage.refs ?? []) as { name: string; target: string }[];
  let head: string | undefined;
  const kept = new Set<string>();
  for (const r of refs) {
    if (r.name === 'HEAD') {
      head = r.target;
      continue;
    }
    if (!present.has(r.target)) continue; // fsck reports the commit as missing if a salvaged ref named it
    insert.run(r.name, r.target);
    kept.add(r.target);
  }
  // Refs lost: every commit no other commit has as parent becomes a branch recovered/<n>, newest first.
  const byHash = new Map(commits.map((c) => [c.hash, c]));
  const reached = new Set<string>();
  const stack = [...kept];
  while (stack.length) {
    const c = stack.pop()!;
    if (reached.has(c)) continue;
    reached.add(c);
    for (const p of byHash.get(c)?.parents ?? []) stack.push(p);
  }
  const parents = new Set(commits.flatMap((c) => c.parents));
  const tips = commits
    .filter((c) => !parents.has(c.hash) && !reached.has(c.hash))
    .sort((a, b) => b.time - a.time || (a.hash < b.hash ? -1 : 1));
  if (salvage.refs) tips.length = 0; // refs were salvaged: dangling commits stay dangling (gc removes them)
  tips.forEach((c, i) => {
    let n = i + 1;
    while (db.getRef(`refs/heads/recovered/${n}`)) n++;
    const name = `refs/heads/recovered/${n}`;
    insert.run(name, c.hash);
    report.recoveredRefs.push({ name, commit: c.hash, time: c.time });
  });
  const headOk = head !== undefined && (head.startsWith('ref: ') || present.has(head));
  if (headOk) insert.run('HEAD', head);
  else if (report.recoveredRefs.length) insert.run('HEAD', `ref: ${report.recoveredRefs[0]!.name}`);
  else insert.run('HEAD', 'ref: refs/heads/main');
}

/** Staging index: salvaged if every manifest it names is stored, else rebuilt from HEAD's tree. */
function restoreIndex(
  db: IndexDb,
  salvaged: IndexEntry[] | undefined,
  present: Set<string>,
  packsDir: string,
  report: RepairReport,
): void {
  if (salvaged && salvaged.every((e) => present.has(e.manifest))) {
    db.replaceIndex(salvaged);
    return;
  }
  if (salvaged) report.unsalvageable.push('index_entries (names missing manifests)');
  const head = db.getRef('HEAD');
  const commit = head?.startsWith('ref: ') ? db.getRef(head.slice(5)) : head;
  if (!commit || !present.has(commit)) {
    db.replaceIndex([]);
    return;
  }
  const objects = new ObjectDb(new LocalPacks(packsDir, db));
  try {
    const files = flattenTree(objects, objects.commit(commit as Hash).tree as Hash);
    db.replaceIndex([...files].map(([p, f]) => makeEntry(p, f.hash, f.size)));
  } catch {
    report.unsalvageable.push('index_entries (HEAD tree unreadable)');
    db.replaceIndex([]);
  } finally {
    objects.packs.close();
  }
}
