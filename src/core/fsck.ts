/**
 * `fsck`: re-reads and re-hashes every stored object, checks that every pack entry agrees with the index,
 * and walks every ref down to the chunks (and the bases of delta-coded chunks), reporting each problem with
 * the object and pack it concerns. A delta chunk whose base is missing or corrupt is reported by name too.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CODEC_DELTA } from '../storage/codec.js';
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import type { ObjectLocation } from '../storage/index-db.js';
import { KIND, scanPackFile } from '../storage/pack-format.js';
import type { FileManifest } from './objects/objects.js';
import { decodeSegment, MAX_TREE_DEPTH } from './objects/objects.js';
import { LocalObjectReader } from './object-reader.js';
import type { Repository } from './repository.js';

export interface FsckProblem {
  code: string;
  message: string;
  object?: string;
  pack?: string;
}

export interface FsckReport {
  objects: number;
  packs: number;
  reachable: number;
  problems: FsckProblem[];
  /** Chunks not stored here but held by a remote this repository fetched from (a partial clone). */
  remoteOnly: number;
  /** Leftovers of interrupted writes: harmless, removable. */
  danglingFiles: string[];
}

export async function fsck(repo: Repository): Promise<FsckReport> {
  const problems: FsckProblem[] = [];
  const packsDir = join(repo.strataDir, 'packs');
  // 0. SQLite's own structural check of index.sqlite.
  for (const m of repo.db.quickCheck()) {
    problems.push({
      code: 'INDEX_DAMAGED',
      message: `index ${repo.db.file}: ${m} (run 'strata fsck --repair')`,
    });
  }
  const packs = repo.db.packs();
  // 1. Every pack scans cleanly and agrees with the index.
  for (const p of packs) {
    const file = join(packsDir, `${p.name}.pack`);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      problems.push({ code: 'MISSING_PACK', message: `pack ${p.name} is missing`, pack: p.name });
      continue;
    }
    if (size !== p.size) {
      problems.push({
        code: 'PACK_SIZE',
        message: `pack ${p.name} has ${size} bytes, index says ${p.size}`,
        pack: p.name,
      });
    }
    try {
      // The index's rows of this pack at once (one query, not one per entry).
      const rows = new Map(repo.db.objectsInPack(p.id).map((l) => [l.hash, l]));
      // Entry headers only, read a block at a time: step 2 reads (and verifies) the objects themselves.
      for (const e of scanPackFile(file, `pack ${p.name}`)) {
        const loc = rows.get(e.hash);
        if (loc && (loc.offset !== e.offset || loc.length !== e.length)) {
          problems.push({
            code: 'INDEX_MISMATCH',
            message: `object ${e.hash}: index and pack ${p.name} disagree`,
            object: e.hash,
            pack: p.name,
          });
        }
      }
    } catch (e) {
      problems.push({ code: 'CORRUPT_PACK', message: (e as Error).message, pack: p.name });
    }
  }
  // 2. Every object decodes and hashes to its name, pack by pack in offset order. Chunks go through
  // LocalObjectReader (a batch's stored bytes read at once, decoded and verified on both cores); what that
  // path does not take or cannot verify, and every other kind, through LocalPacks.get, whose error names the
  // problem. Index rows naming a pack the index does not list are checked (and reported) the same way.
  let objects = 0;
  const reader = new LocalObjectReader(repo.objects);
  const none = new Uint8Array(0);
  /** Delta-coded chunks: their bases are reachable through them (step 3). */
  const deltas = new Set<string>();
  const verify = async (rows: ObjectLocation[]): Promise<void> => {
    objects += rows.length;
    const byHash = new Map(rows.map((l) => [l.hash, l]));
    for (const l of rows) if (l.codec === CODEC_DELTA) deltas.add(l.hash);
    const check = (hash: string): Uint8Array => {
      try {
        repo.objects.packs.get(hash);
      } catch (e) {
        const loc = byHash.get(hash)!;
        const name = packs.find((p) => p.id === loc.pack)?.name;
        problems.push({
          code: e instanceof StrataError ? e.code : 'ERROR',
          message: `object ${loc.hash} (${['chunk', 'file', 'segment', 'tree', 'commit'][loc.kind]}) in pack ${name}: ${(e as Error).message}`,
          object: loc.hash,
          ...(name ? { pack: name } : {}),
        });
      }
      return none;
    };
    for await (const read of reader.readWith(
      rows.map((l) => l.hash),
      check,
    ))
      void read; // verified, or its problem recorded
  };
  for (const p of packs) await verify(repo.db.objectsInPack(p.id));
  await verify(repo.db.objectsOutsidePacks());
  // 3. Connectivity: every ref reaches complete data.
  const reachable = new Set<string>();
  let remoteOnly = 0;
  const onRemote = repo.db.prep('SELECT 1 FROM remote_objects WHERE hash = ? LIMIT 1');
  const need = (h: string, from: string, chunk = false): boolean => {
    if (reachable.has(h)) return false;
    reachable.add(h);
    if (!repo.db.hasObject(h)) {
      // Clones fetch chunk data lazily: a chunk a remote is known to hold is not lost.
      if (chunk && onRemote.get(h)) {
        remoteOnly++;
        return false;
      }
      problems.push({
        code: 'MISSING_OBJECT',
        message: `object ${h} (referenced by ${from}) is missing`,
        object: h,
      });
      return false;
    }
    return true;
  };
  const safe = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      problems.push({
        code: e instanceof StrataError ? e.code : 'ERROR',
        message: `${what}: ${(e as Error).message}`,
      });
    }
  };
  // A delta-coded chunk (codec 2) needs its bases: they are reachable through it.
  const needChunk = (h: string, from: string): void => {
    if (!need(h, from, true) || !deltas.has(h)) return;
    safe(`delta chunk ${h}`, () => {
      for (const op of repo.objects.packs.deltaOps(h) ?? [])
        if (op.kind === 'ref') need(op.base, `delta chunk ${h}`, true);
    });
  };
  const walkManifest = (m: FileManifest, from: string): void => {
    for (const s of m.spans ?? []) needChunk(s[0], from);
    for (const seg of m.segments ?? []) {
      if (need(seg.hash, from)) {
        safe(`segment ${seg.hash}`, () => {
          for (const s of decodeSegment(repo.objects.getRaw(seg.hash, KIND.segment), seg.hash).spans)
            needChunk(s[0], `segment ${seg.hash}`);
        });
      }
    }
  };
  const walkTree = (t: Hash, depth = 0): void => {
    safe(`tree ${t}`, () => {
      if (depth > MAX_TREE_DEPTH)
        throw new StrataError('INTEGRITY', `tree ${t} is nested deeper than ${MAX_TREE_DEPTH} levels`, {
          hash: t,
        });
      for (const e of repo.objects.tree(t).entries) {
        if (!need(e.hash, `tree ${t}`)) continue;
        if (e.kind === 'tree') walkTree(e.hash, depth + 1);
        else safe(`file ${e.hash}`, () => walkManifest(repo.objects.manifest(e.hash), `file ${e.name}`));
      }
    });
  };
  const walkCommit = (c: Hash, from: string): void => {
    const stack: [Hash, string][] = [[c, from]];
    while (stack.length) {
      const [h, f] = stack.pop()!;
      if (!need(h, f)) continue;
      safe(`commit ${h}`, () => {
        const cm = repo.objects.commit(h);
        if (need(cm.tree, `commit ${h}`)) walkTree(cm.tree);
        for (const p of cm.parents) stack.push([p, `commit ${h}`]);
      });
    }
  };
  for (const r of repo.db.listRefs('refs/')) walkCommit(r.target as Hash, r.name);
  const head = repo.db.getRef('HEAD');
  if (head && !head.startsWith('ref: ')) walkCommit(head as Hash, 'HEAD');
  for (const e of repo.db.indexEntries()) {
    if (need(e.manifest, `index entry ${e.path}`))
      safe(`file ${e.path}`, () => walkManifest(repo.objects.manifest(e.manifest), e.path));
  }
  const known = new Set(packs.map((p) => `${p.name}.pack`));
  // Temp packs of interrupted writes, and sealed packs whose index rows never committed.
  const danglingFiles = readdirSync(packsDir).filter(
    (f) => f.startsWith('tmp-') || (f.endsWith('.pack') && !known.has(f)),
  );
  return { objects, packs: packs.length, reachable: reachable.size, remoteOnly, problems, danglingFiles };
}
