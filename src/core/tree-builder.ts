/**
 * Converts between flat path maps (the staging index) and nested tree objects.
 */
import type { Hash } from '../storage/hash.js';
import { StrataError } from '../storage/errors.js';
import { MAX_TREE_DEPTH, sortEntries, type TreeEntry } from './objects/objects.js';
import type { ObjectDb } from './object-db.js';

export interface FlatEntry {
  hash: Hash;
  size: number;
}

interface Dir {
  files: Map<string, FlatEntry>;
  dirs: Map<string, Dir>;
}

/** Builds and stores the trees for a flat map of files; returns the root tree's hash and size. */
export function buildTree(
  objects: ObjectDb,
  files: Iterable<[string, FlatEntry]>,
): { hash: Hash; size: number } {
  const root: Dir = { files: new Map(), dirs: new Map() };
  for (const [path, e] of files) {
    const parts = path.split('/');
    let d = root;
    for (const p of parts.slice(0, -1)) {
      let next = d.dirs.get(p);
      if (!next) d.dirs.set(p, (next = { files: new Map(), dirs: new Map() }));
      d = next;
    }
    d.files.set(parts[parts.length - 1]!, e);
  }
  const write = (d: Dir): { hash: Hash; size: number } => {
    const entries: TreeEntry[] = [];
    let size = 0;
    for (const [name, sub] of d.dirs) {
      const t = write(sub);
      entries.push({ name, kind: 'tree', hash: t.hash, size: t.size });
      size += t.size;
    }
    for (const [name, f] of d.files) {
      entries.push({ name, kind: 'file', hash: f.hash, size: f.size });
      size += f.size;
    }
    return { hash: objects.put({ type: 'tree/v1', entries: sortEntries(entries) }), size };
  };
  return write(root);
}

/** Every file under a tree, as repository path → entry, in tree order. */
export function flattenTree(objects: ObjectDb, tree: Hash | undefined, prefix = ''): Map<string, FlatEntry> {
  const out = new Map<string, FlatEntry>();
  if (!tree) return out;
  const walk = (h: Hash, pre: string, depth: number): void => {
    if (depth > MAX_TREE_DEPTH)
      throw new StrataError(
        'UNSAFE_PATH',
        `tree ${h} is nested ${depth} levels deep under ${tree}: no file system path can hold that (at most ${MAX_TREE_DEPTH})`,
        { hash: h, root: tree, depth },
      );
    for (const e of objects.tree(h).entries) {
      const p = pre ? `${pre}/${e.name}` : e.name;
      if (e.kind === 'tree') walk(e.hash, p, depth + 1);
      else out.set(p, { hash: e.hash, size: e.size });
    }
  };
  walk(tree, prefix, 0);
  return out;
}
