/**
 * `gc`: removes objects nothing reaches and repacks what is left into few packs (docs/reliability/gc-and-repair.md).
 *
 * Reachable = every ref (branches, tags, remote-tracking refs, HEAD even detached), the commits the
 * remotes were last seen at (remote_refs), every reflog entry younger than the expiry, and every staged
 * index entry; walked commit -> parents, commit -> tree -> trees/manifests -> segments -> chunks, a
 * delta-coded chunk -> its bases, a manifest -> the manifest its optional `content` field names.
 *
 * Ordering (restic's prune): (1) copy the stored payloads of the reachable objects of the packs being
 * rewritten into new packs, fsynced and renamed, directory fsynced; (2) one SQLite transaction points their
 * rows at the new copies and drops the unreachable rows, the retired packs and expired reflog entries;
 * (3) only then delete the retired pack files. A crash before (2) leaves new packs nobody names; after (2)
 * old packs nobody names: garbage either way, and the next gc removes it. The repository lock is held
 * throughout, so no commit, add or fetch runs in between.
 */
import { readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CODEC_DELTA, decode } from '../storage/codec.js';
import { StrataError } from '../storage/errors.js';
import { hashBytes, type Hash } from '../storage/hash.js';
import type { ObjectLocation } from '../storage/index-db.js';
import { DEFAULT_MAX_PACK_SIZE, fsyncDir, locationOf, PackWriter } from '../storage/local-packs.js';
import { ENTRY_HEADER_SIZE, KIND, PACK_HEADER_SIZE, scanPackFile } from '../storage/pack-format.js';
import { kindName } from './object-db.js';
import { decodeCommit, decodeManifest, decodeSegment, decodeTree } from './objects/objects.js';
import { pidAlive, type Repository } from './repository.js';

export const DEFAULT_REFLOG_EXPIRE_DAYS = 90;
const DAY_MS = 86_400_000;

export interface GcOptions {
  /** Report what would happen; write and delete nothing. */
  dryRun?: boolean;
  /** Reflog entries older than this stop keeping commits: `now`, `never` or `<N>d` (default: config `gc.reflogExpire`, else 90d). */
  expireReflog?: string;
  /** Largest pack gc writes (default 64 MiB). */
  maxPackSize?: number;
  /** The clock, for tests (ms since the epoch). */
  now?: number;
}

export interface GcReport {
  dryRun: boolean;
  objects: { before: number; kept: number; removed: number; copied: number };
  bytes: { before: number; after: number };
  packs: { before: number; after: number; written: number; deleted: number };
  reflog: { expire: string; cutoff: string | null; expired: number };
  /** Reachable chunks not stored here (a partial clone: a remote holds them). */
  notLocal: number;
  /** Leftovers of interrupted writes (temp packs, packs nobody names) removed (or, dry run, removable). */
  leftovers: string[];
  /** Packs in the directory the index does not name that hold objects the index lacks: kept, run `fsck --repair`. */
  unknownPacksKept: string[];
  /** Scratch directories in .strata/tmp left by processes that died (a killed diff's spill files), removed. */
  scratchRemoved: string[];
}

/** Parses `now`, `never` or `<N>d` into a cutoff time (ms); entries at or after it keep their commits. */
export function reflogCutoff(spec: string, now: number): number {
  if (spec === 'now') return now + 1;
  if (spec === 'never') return Number.NEGATIVE_INFINITY;
  const m = /^(\d+)d$/.exec(spec);
  if (!m) {
    throw new StrataError(
      'BAD_INPUT',
      `bad reflog expiry ${JSON.stringify(spec)} (expected now, never or <N>d)`,
      {
        value: spec,
      },
    );
  }
  return now - Number(m[1]) * DAY_MS;
}

const isCommitHash = (t: string | null | undefined): t is Hash => !!t && /^[0-9a-f]{64}$/.test(t);

/**
 * Every object reachable from the repository's roots that is stored here (a chunk held only by a remote
 * is counted in `notLocal`). A missing or unreadable commit, tree, manifest or segment, or an undecodable
 * delta recipe, is an INTEGRITY error: what lies below it cannot be known, so nothing may be removed.
 */
export function reachableObjects(
  repo: Repository,
  reflogSince: number,
): { reachable: Set<string>; notLocal: number } {
  const db = repo.db;
  const reachable = new Set<string>();
  let notLocal = 0;
  const present = (h: string): boolean => db.hasObject(h);
  const missing = (h: string, what: string, from: string): never => {
    throw new StrataError(
      'INTEGRITY',
      `gc: ${what} ${h} (reached from ${from}) is missing; nothing was removed (run 'strata fsck')`,
      { hash: h, from },
    );
  };
  const chunk = (h: string): void => {
    if (reachable.has(h)) return;
    if (!present(h)) {
      notLocal++;
      reachable.add(h); // counted once
      return;
    }
    reachable.add(h);
    if (db.findObject(h)?.codec === CODEC_DELTA) {
      for (const op of repo.objects.packs.deltaOps(h) ?? []) {
        if (op.kind !== 'ref' || reachable.has(op.base)) continue;
        if (!present(op.base)) missing(op.base, 'delta base', `delta chunk ${h}`);
        reachable.add(op.base);
      }
    }
  };
  const manifest = (h: string, from: string): void => {
    if (reachable.has(h)) return;
    if (!present(h)) missing(h, 'file manifest', from);
    reachable.add(h);
    const m = decodeManifest(repo.objects.getRaw(h, KIND.file), h);
    for (const s of m.spans ?? []) chunk(s[0]);
    for (const seg of m.segments ?? []) {
      if (reachable.has(seg.hash)) continue;
      if (!present(seg.hash)) missing(seg.hash, 'segment', `file ${h}`);
      reachable.add(seg.hash);
      for (const s of decodeSegment(repo.objects.getRaw(seg.hash, KIND.segment), seg.hash).spans) chunk(s[0]);
    }
    // Issue 7: a manifest with sub-chunk spans may name its canonical whole-chunk manifest; keep it if stored.
    const content = (m as { content?: unknown }).content;
    if (typeof content === 'string' && isCommitHash(content) && present(content))
      manifest(content, `file ${h}`);
  };
  const tree = (root: string, from: string): void => {
    const stack: [string, string][] = [[root, from]];
    while (stack.length) {
      const [t, f] = stack.pop()!;
      if (reachable.has(t)) continue;
      if (!present(t)) missing(t, 'tree', f);
      reachable.add(t);
      for (const e of decodeTree(repo.objects.getRaw(t, KIND.tree), t).entries) {
        if (e.kind === 'tree') stack.push([e.hash, `tree ${t}`]);
        else manifest(e.hash, `tree ${t} (${e.name})`);
      }
    }
  };
  const commit = (root: string, from: string): void => {
    const stack: [string, string][] = [[root, from]];
    while (stack.length) {
      const [c, f] = stack.pop()!;
      if (reachable.has(c)) continue;
      if (!present(c)) missing(c, 'commit', f);
      reachable.add(c);
      const cm = decodeCommit(repo.objects.getRaw(c, KIND.commit), c);
      tree(cm.tree, `commit ${c}`);
      for (const p of cm.parents) stack.push([p, `commit ${c}`]);
    }
  };
  // Every ref: HEAD (detached or not), branches, tags, remote-tracking refs, recovered refs.
  for (const r of db.listRefs('')) if (isCommitHash(r.target)) commit(r.target, `ref ${r.name}`);
  const remoteRefs = db.prep('SELECT remote, name, target FROM remote_refs').all() as {
    remote: string;
    name: string;
    target: string;
  }[];
  for (const r of remoteRefs) {
    // The remote holds these; keep the local copy when there is one.
    if (isCommitHash(r.target) && present(r.target)) commit(r.target, `remote ${r.remote} ${r.name}`);
  }
  for (const e of db.reflogSince(reflogSince)) {
    for (const t of [e.old, e.new]) {
      if (!isCommitHash(t) || reachable.has(t)) continue;
      commit(t, `reflog of ${e.ref}`);
    }
  }
  for (const e of db.indexEntries()) manifest(e.manifest, `index entry ${e.path}`);
  return { reachable, notLocal };
}

/** Test hook: `STRATA_GC_CRASH_AT=<point>` makes gc kill itself with SIGKILL at that point. */
function crashPoint(name: string): void {
  if (process.env.STRATA_GC_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}

const META_FIRST = [KIND.commit, KIND.tree, KIND.file, KIND.segment, KIND.chunk] as number[];

export async function gc(repo: Repository, opts: GcOptions = {}): Promise<GcReport> {
  const run = (): GcReport => gcLocked(repo, opts);
  return opts.dryRun ? run() : repo.withLock(run);
}

function gcLocked(repo: Repository, opts: GcOptions): GcReport {
  const db = repo.db;
  const now = opts.now ?? Date.now();
  const maxPackSize = opts.maxPackSize ?? DEFAULT_MAX_PACK_SIZE;
  const expire = opts.expireReflog ?? db.getConfig('gc.reflogExpire') ?? `${DEFAULT_REFLOG_EXPIRE_DAYS}d`;
  const cutoff = reflogCutoff(expire, now);
  const packsDir = join(repo.strataDir, 'packs');

  const { reachable, notLocal } = reachableObjects(repo, cutoff);

  // Which packs to rewrite: any holding an unreachable object, and every small one (consolidation).
  const packs = db.packs();
  const stats = new Map(packs.map((p) => [p.id, { objects: 0, unreachable: 0 }]));
  const unreachable: string[] = [];
  let objectsBefore = 0;
  for (const o of db.iterateObjects()) {
    objectsBefore++;
    const st = stats.get(o.pack) ?? { objects: 0, unreachable: 0 };
    stats.set(o.pack, st);
    st.objects++;
    if (!reachable.has(o.hash)) {
      st.unreachable++;
      unreachable.push(o.hash);
    }
  }
  let rewrite = packs.filter((p) => stats.get(p.id)!.unreachable > 0 || p.size < maxPackSize / 2);
  if (rewrite.length === 1 && stats.get(rewrite[0]!.id)!.unreachable === 0) rewrite = []; // already one pack
  // Packs rows name that the index has no packs row for cannot be rewritten: they are dropped with their rows.
  const rewriteIds = new Set(rewrite.map((p) => p.id));
  const orphanPackIds = [...stats.keys()].filter((id) => !packs.some((p) => p.id === id));
  for (const id of orphanPackIds) {
    if (stats.get(id)!.objects > stats.get(id)!.unreachable) {
      throw new StrataError(
        'INTEGRITY',
        `gc: index rows name unknown pack ${id}; run 'strata fsck --repair'`,
        {
          pack: id,
        },
      );
    }
  }

  const toCopy: ObjectLocation[] = [];
  for (const o of db.iterateObjects()) if (rewriteIds.has(o.pack) && reachable.has(o.hash)) toCopy.push(o);
  toCopy.sort(
    (a, b) =>
      META_FIRST.indexOf(a.kind) - META_FIRST.indexOf(b.kind) || a.pack - b.pack || a.offset - b.offset,
  );

  const bytesBefore = packs.reduce((n, p) => n + p.size, 0);
  const keptBytes = packs.filter((p) => !rewriteIds.has(p.id)).reduce((n, p) => n + p.size, 0);
  const leftovers = findLeftovers(repo, new Set(packs.map((p) => p.name)), reachable);
  const report: GcReport = {
    dryRun: !!opts.dryRun,
    objects: {
      before: objectsBefore,
      kept: objectsBefore - unreachable.length,
      removed: unreachable.length,
      copied: toCopy.length,
    },
    bytes: { before: bytesBefore, after: 0 },
    packs: { before: packs.length, after: 0, written: 0, deleted: 0 },
    reflog: {
      expire,
      cutoff: Number.isFinite(cutoff) ? new Date(Math.min(cutoff, now)).toISOString() : null,
      expired: 0,
    },
    notLocal,
    leftovers: leftovers.removable,
    unknownPacksKept: leftovers.unknownKept,
    scratchRemoved: deadScratch(repo),
  };

  if (opts.dryRun) {
    const sim = simulatePacks(toCopy, maxPackSize);
    report.bytes.after = keptBytes + sim.bytes;
    report.packs.after = packs.length - rewrite.length + sim.packs;
    report.packs.written = sim.packs;
    report.packs.deleted = rewrite.length;
    report.reflog.expired = (
      db.prep('SELECT count(*) AS n FROM reflog WHERE time < ?').get(cutoff) as { n: number }
    ).n;
    return report;
  }

  // 1. New packs, durable before anything names them.
  const writer = new PackWriter(packsDir, maxPackSize);
  try {
    for (const o of toCopy) {
      const r = repo.objects.packs.readEncoded(o.hash);
      verify(repo, o, r.bytes, r.where);
      writer.add(o.hash, o.kind, o.codec, o.raw_length, r.bytes);
    }
  } catch (e) {
    writer.abort();
    for (const w of writer.written)
      if (!packs.some((p) => p.name === w.name)) unlinkQuiet(join(packsDir, `${w.name}.pack`));
    throw e;
  }
  const written = writer.seal();
  crashPoint('after-write');

  // 2. One transaction: rows move to the new packs, unreachable rows, retired packs and old reflog go.
  const names = new Map(packs.map((p) => [p.id, p.name]));
  let gone: number[] = [];
  db.transaction(() => {
    gone = db.switchPacks(
      written.map((w) => ({
        name: w.name,
        size: w.size,
        objects: w.entries.map(locationOf),
      })),
      [...rewriteIds, ...orphanPackIds],
      unreachable,
    );
    if (Number.isFinite(cutoff)) report.reflog.expired = db.expireReflog(cutoff);
  });
  repo.objects.packs.forgetPacks();
  crashPoint('after-switch');

  // 3. Only now: delete the retired pack files, then leftovers of earlier interrupted writes.
  let deleted = 0;
  for (const id of gone) {
    const name = names.get(id);
    if (!name) continue;
    unlinkQuiet(join(packsDir, `${name}.pack`));
    deleted++;
    crashPoint('mid-delete');
  }
  const fresh = new Set(written.map((w) => `${w.name}.pack`));
  for (const f of leftovers.removable) if (!fresh.has(f)) unlinkQuiet(join(packsDir, f));
  fsyncDir(packsDir);
  for (const d of report.scratchRemoved)
    rmSync(join(repo.strataDir, 'tmp', d), { recursive: true, force: true });

  const after = db.packs();
  report.packs.after = after.length;
  report.packs.written = written.length;
  report.packs.deleted = deleted;
  report.bytes.after = after.reduce((n, p) => n + p.size, 0);
  return report;
}

/** Checks an object's stored bytes against its hash before they are copied (never propagate damage). */
function verify(repo: Repository, o: ObjectLocation, bytes: Uint8Array, where: string): void {
  if (o.codec === CODEC_DELTA) {
    repo.objects.packs.get(o.hash); // assembles from its bases and verifies, naming object, pack and base
    return;
  }
  let data: Uint8Array;
  try {
    data = decode(o.codec, bytes, o.raw_length);
  } catch (e) {
    throw new StrataError(
      'INTEGRITY',
      `gc: object ${o.hash} (${kindName(o.kind)}) in ${where} does not decode; nothing was removed`,
      { hash: o.hash, where },
      { cause: e },
    );
  }
  if (data.length !== o.raw_length || hashBytes(data) !== o.hash) {
    throw new StrataError(
      'INTEGRITY',
      `gc: object ${o.hash} (${kindName(o.kind)}) in ${where} is corrupt (hash mismatch); nothing was removed (run 'strata fsck')`,
      { hash: o.hash, where },
    );
  }
}

function simulatePacks(objs: readonly ObjectLocation[], max: number): { packs: number; bytes: number } {
  let packs = 0;
  let bytes = 0;
  let cur = -1;
  let n = 0;
  for (const o of objs) {
    const add = ENTRY_HEADER_SIZE + o.length;
    if (cur < 0 || (cur + add > max && n > 0)) {
      if (cur >= 0) bytes += cur;
      packs++;
      cur = PACK_HEADER_SIZE;
      n = 0;
    }
    cur += add;
    n++;
  }
  if (cur >= 0) bytes += cur;
  return { packs, bytes };
}

/**
 * Files in packs/ left by interrupted writes: temp packs of dead processes, and sealed packs the index
 * does not name (a gc or commit that crashed before or after its transaction) holding nothing reachable
 * that the index lacks. An unnamed pack that holds such an object (or cannot be read) is kept and
 * reported: `fsck --repair` indexes it.
 */
function findLeftovers(
  repo: Repository,
  known: Set<string>,
  reachable: Set<string>,
): { removable: string[]; unknownKept: string[] } {
  const dir = join(repo.strataDir, 'packs');
  const removable: string[] = [];
  const unknownKept: string[] = [];
  for (const f of readdirSync(dir)) {
    const tmp = /^tmp-(\d+)-[0-9a-f]+\.pack$/.exec(f);
    if (tmp) {
      if (Number(tmp[1]) !== process.pid && !pidAlive(Number(tmp[1]))) removable.push(f);
      continue;
    }
    if (!f.endsWith('.pack') || known.has(f.slice(0, -'.pack'.length))) continue;
    let redundant = true;
    try {
      if (statSync(join(dir, f)).size > 0) {
        for (const e of scanPackFile(join(dir, f), `pack ${f}`)) {
          if (reachable.has(e.hash) && !repo.db.hasObject(e.hash)) {
            redundant = false;
            break;
          }
        }
      }
    } catch {
      redundant = false; // unreadable: leave it for a human or fsck --repair
    }
    (redundant ? removable : unknownKept).push(f);
  }
  return { removable, unknownKept };
}

/**
 * Scratch directories in .strata/tmp whose owner is gone: `strata-diff-<pid>-*` (a diff's spill files; the
 * diff removes its own when it ends, even early, but not when it is killed) of a process no longer alive.
 */
function deadScratch(repo: Repository): string[] {
  let names: string[];
  try {
    names = readdirSync(join(repo.strataDir, 'tmp'));
  } catch {
    return [];
  }
  return names.filter((f) => {
    const m = /^strata-diff-(\d+)-/.exec(f);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
