/**
 * Builds directory remotes holding arbitrary objects, byte for byte: packs and .idx files in the format of
 * src/storage/pack-format.ts (docs/FORMAT.md "Packs", docs/REMOTES.md "Layout"), named by their BLAKE3,
 * with refs pointing wherever the test likes. Nothing is validated: that is the point.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { hashBytes } from '../../src/storage/hash.js';
import {
  KIND,
  encodePackIndex,
  entryHeader,
  packHeader,
  type KindName,
  type PackEntry,
} from '../../src/storage/pack-format.js';

export interface RawObject {
  kind: KindName;
  /** The object's raw (uncompressed) bytes. */
  bytes: Buffer;
  /** Its name: the BLAKE3 of `bytes`. */
  hash: string;
}

/** An object from a JSON value (serialized with JSON.stringify, as given: no sorting, no checks) or raw bytes. */
export function raw(kind: KindName, value: unknown): RawObject {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value), 'utf8');
  return { kind, bytes, hash: hashBytes(bytes) };
}

export const chunk = (data: string | Buffer): RawObject =>
  raw('chunk', Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'));

export interface EntrySpec {
  name: string;
  kind?: 'file' | 'tree';
  hash: string;
  size?: number;
}

/** A tree/v1 with the entries exactly in the order given. */
export const tree = (entries: EntrySpec[]): RawObject =>
  raw('tree', {
    entries: entries.map((e) => ({ hash: e.hash, kind: e.kind ?? 'file', name: e.name, size: e.size ?? 0 })),
    type: 'tree/v1',
  });

/** A file/v1 manifest of whole chunks (override any field with `over`). */
export function manifest(chunks: RawObject[], over: Record<string, unknown> = {}): RawObject {
  const spans = chunks.map((c) => [c.hash, 0, c.bytes.length]);
  const size = chunks.reduce((a, c) => a + c.bytes.length, 0);
  return raw('file', { format: 'text', size, spans, type: 'file/v1', ...over });
}

export const commit = (treeHash: string, over: Record<string, unknown> = {}): RawObject =>
  raw('commit', {
    author: { email: 'mallory@example.com', name: 'Mallory' },
    message: 'hostile',
    meta: {},
    parents: [],
    time: 1795600000,
    tree: treeHash,
    type: 'commit/v1',
    tz: 0,
    ...over,
  });

/** A pack (codec 0, entries in the order given) and its index; returns the pack's name. */
export function writePack(remoteDir: string, objects: RawObject[]): string {
  const parts: Buffer[] = [packHeader()];
  const entries: PackEntry[] = [];
  let at = parts[0]!.length;
  for (const o of objects) {
    const h = entryHeader(o.hash, KIND[o.kind], 0, o.bytes.length, o.bytes.length);
    parts.push(h, o.bytes);
    entries.push({
      hash: o.hash,
      kind: KIND[o.kind],
      codec: 0,
      offset: at + h.length,
      length: o.bytes.length,
      rawLength: o.bytes.length,
    });
    at += h.length + o.bytes.length;
  }
  const pack = Buffer.concat(parts);
  const name = hashBytes(pack);
  mkdirSync(join(remoteDir, 'packs'), { recursive: true });
  writeFileSync(join(remoteDir, 'packs', `${name}.pack`), pack);
  writeFileSync(join(remoteDir, 'packs', `${name}.idx`), encodePackIndex(entries));
  return name;
}

/** A complete directory remote: strata.json, one pack of `objects`, and `refs` (ref name → commit hash). */
export function writeRemote(remoteDir: string, objects: RawObject[], refs: Record<string, string>): void {
  mkdirSync(remoteDir, { recursive: true });
  writeFileSync(
    join(remoteDir, 'strata.json'),
    JSON.stringify({ format: 1, chunking: { min: 4096, avg: 16384, max: 65536 } }) + '\n',
  );
  if (objects.length) writePack(remoteDir, objects);
  for (const [ref, c] of Object.entries(refs)) {
    mkdirSync(join(remoteDir, ref, '..'), { recursive: true });
    writeFileSync(join(remoteDir, ref), JSON.stringify({ commit: c, writer: 'hostile' }) + '\n');
  }
}

/** Every path under `dir` (symlinks not followed) → 'dir', 'symlink -> target', or the SHA-256 of a file. */
export function fingerprint(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out.set(rel, `symlink -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, 'dir');
        walk(p);
      } else if (st.isFile()) out.set(rel, createHash('sha256').update(readFileSync(p)).digest('hex'));
      else out.set(rel, 'other');
    }
  };
  walk(dir);
  return out;
}
