/**
 * A pinned revision opened for reading: its files, a file's bytes as a stream, and its examples sharded
 * across workers - all through an ObjectReader, so the same code serves a local repository and a remote.
 */
import { Readable } from 'node:stream';
import { StrataError } from '../../storage/errors.js';
import type { Hash } from '../../storage/hash.js';
import {
  decodeManifest,
  MAX_TREE_DEPTH,
  type Commit,
  type FileManifest,
  type Tree,
  type TreeEntry,
} from '../objects/objects.js';
import { LocalObjectReader, readCommit, readTree, type ObjectReader } from '../object-reader.js';
import type { Repository } from '../repository.js';
import { resolveCommit } from '../rev-parse.js';
import { JsonArrayScanner } from '../formats/json-array.js';
import { gunzip, gzipContentFormat } from '../formats/gzip.js';
import { RECORD_FORMATS, shardExamples, type Example, type ShardOptions } from './examples.js';
import { fileBytes } from './bytes.js';
import {
  formatPin,
  openReader,
  parsePin,
  type OpenedReader,
  type OpenReaderOptions,
  type Pin,
} from './pin.js';

/** One file of a pinned revision. */
export interface PinnedFile {
  /** '/'-separated path from the revision's root. */
  path: string;
  size: number;
  /** jsonl, csv, tsv, text, parquet, json, binary ... */
  format: string;
  /** Number of examples, where the format has them and it was counted at commit time. */
  examples?: number;
  /** Format options recorded in the manifest (key field, CSV dialect ...). */
  options?: Record<string, string>;
  /** The file manifest's hash: equal hashes mean equal bytes. */
  manifest: Hash;
}

export interface ReadOptions {
  /** First byte (default 0). */
  start?: number;
  /** One past the last byte (default: the file's size). */
  end?: number;
  signal?: AbortSignal;
}

/** Which files `examples()` reads: one path, several, a directory, or (undefined) every record file. */
export type ExampleSource = string | string[] | undefined;

/** Normalises a user path: no leading '/', no '.' components, '..' refused. */
export function normalizePath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new StrataError('UNSAFE_PATH', `path '${path}' may not contain '..'`, { path });
  return parts.join('/');
}

export class PinnedRevision {
  private readonly trees = new Map<string, Promise<Tree>>();
  private readonly manifests = new Map<string, Promise<FileManifest>>();
  private closed = false;

  private constructor(
    /** The pin string (`LOCATION@COMMIT`). */
    readonly pin: string,
    /** The location part of the pin. */
    readonly location: string,
    /** The full commit hash. */
    readonly commit: Hash,
    /** The commit object: tree, parents, author, message, meta (meta.code: code provenance). */
    readonly info: Commit,
    /** The object reader everything goes through. */
    readonly reader: ObjectReader,
    private readonly onClose: () => Promise<void>,
  ) {}

  /** Opens a pin; NOT_FOUND if the location does not hold the commit. */
  static async open(pin: string | Pin, opts: OpenReaderOptions = {}): Promise<PinnedRevision> {
    const p = typeof pin === 'string' ? parsePin(pin) : pin;
    const opened: OpenedReader = await openReader(p.location, opts);
    try {
      return await PinnedRevision.fromReader(opened.reader, p.commit, formatPin(p), p.location, () =>
        opened.close(),
      );
    } catch (e) {
      await opened.close();
      throw e;
    }
  }

  /** Over an already open repository (which the caller keeps owning), at any revision it resolves. */
  static async fromRepository(repo: Repository, rev: string): Promise<PinnedRevision> {
    const commit = resolveCommit(repo, rev);
    return PinnedRevision.fromReader(
      new LocalObjectReader(repo.objects),
      commit,
      `${repo.root}@${commit}`,
      repo.root,
      async () => {},
    );
  }

  /** Over any ObjectReader (the caller keeps owning it). */
  static async fromReader(
    reader: ObjectReader,
    commit: Hash,
    pin: string,
    location: string,
    onClose: () => Promise<void> = async () => {},
  ): Promise<PinnedRevision> {
    let info: Commit;
    try {
      info = await readCommit(reader, commit);
    } catch (e) {
      if (e instanceof StrataError && e.code === 'NOT_FOUND')
        throw new StrataError('NOT_FOUND', `${location} does not hold commit ${commit}`, {
          location,
          commit,
        });
      throw e;
    }
    return new PinnedRevision(pin, location, commit, info, reader, onClose);
  }

  private tree(hash: string): Promise<Tree> {
    let t = this.trees.get(hash);
    if (!t) {
      t = readTree(this.reader, hash);
      this.trees.set(hash, t);
    }
    return t;
  }

  /** The manifest of a file by its manifest hash (cached). */
  private manifestByHash(hash: string): Promise<FileManifest> {
    let m = this.manifests.get(hash);
    if (!m) {
      m = this.reader.get(hash).then((b) => decodeManifest(b, hash));
      this.manifests.set(hash, m);
    }
    return m;
  }

  /** The tree entry at a path ('' is the root tree), or undefined. */
  async entry(path: string): Promise<TreeEntry | undefined> {
    this.checkOpen();
    const parts = normalizePath(path).split('/').filter(Boolean);
    let e: TreeEntry = { name: '', kind: 'tree', hash: this.info.tree, size: 0 };
    for (const part of parts) {
      if (e.kind !== 'tree') return undefined;
      const next = (await this.tree(e.hash)).entries.find((x) => x.name === part);
      if (!next) return undefined;
      e = next;
    }
    return e;
  }

  /** The file at `path`; NOT_FOUND if absent, BAD_INPUT if it is a directory. */
  async file(path: string): Promise<PinnedFile> {
    const p = normalizePath(path);
    const e = await this.entry(p);
    if (!e)
      throw new StrataError('NOT_FOUND', `'${p}' does not exist in ${this.pin}`, { path: p, pin: this.pin });
    if (e.kind !== 'file') throw new StrataError('BAD_INPUT', `'${p}' is a directory`, { path: p });
    return toFile(p, e.hash, await this.manifestByHash(e.hash));
  }

  /** The manifest (size, format, spans or segments) of the file at `path`. */
  async manifest(path: string): Promise<FileManifest> {
    const f = await this.file(path);
    return this.manifestByHash(f.manifest);
  }

  /** Every file (optionally under a directory), in tree order (UTF-8 byte order of path components). */
  async files(under = ''): Promise<PinnedFile[]> {
    this.checkOpen();
    const root = normalizePath(under);
    const e = await this.entry(root);
    if (!e) throw new StrataError('NOT_FOUND', `'${root}' does not exist in ${this.pin}`, { path: root });
    const found: { path: string; hash: Hash }[] = [];
    const walk = async (hash: Hash, prefix: string, depth: number): Promise<void> => {
      if (depth > MAX_TREE_DEPTH)
        throw new StrataError('UNSAFE_PATH', `tree ${hash} is nested deeper than ${MAX_TREE_DEPTH} levels`, {
          hash,
        });
      for (const x of (await this.tree(hash)).entries) {
        const p = prefix ? `${prefix}/${x.name}` : x.name;
        if (x.kind === 'tree') await walk(x.hash, p, depth + 1);
        else found.push({ path: p, hash: x.hash });
      }
    };
    if (e.kind === 'file') found.push({ path: root, hash: e.hash });
    else await walk(e.hash, root, root ? root.split('/').length : 0);
    // Fetch the manifests we do not have in one batch (a remote reader coalesces them).
    const missing = [...new Set(found.map((f) => f.hash).filter((h) => !this.manifests.has(h)))];
    for await (const { hash, data } of this.reader.getMany(missing))
      this.manifests.set(hash, Promise.resolve(decodeManifest(data, hash)));
    return Promise.all(found.map(async (f) => toFile(f.path, f.hash, await this.manifestByHash(f.hash))));
  }

  /** A file's bytes (or a range of them) as verified chunk pieces; memory is bounded by the reader's read-ahead. */
  async *bytes(path: string, opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const m = await this.manifest(path);
    yield* fileBytes(this.reader, m, opts.start ?? 0, opts.end ?? m.size, { signal: opts.signal });
  }

  /** A file's bytes as a Node Readable (also an async iterable of Buffers). */
  read(path: string, opts: ReadOptions = {}): Readable {
    return Readable.from(this.bytes(path, opts), { objectMode: false, highWaterMark: 1 << 20 });
  }

  /**
   * Parsed examples of JSONL (JSON values), CSV/TSV (row objects keyed by the header) and text (lines)
   * files: `source` is a file, a list of files, a directory (its record-format files) or undefined (all
   * record-format files). With `{shard, numShards}` N workers together see every example exactly once;
   * each example's `cursor` can be passed back as `startAfter` to resume. See docs/API.md, "Sharding".
   */
  async *examples<T = unknown>(source: ExampleSource, opts: ShardOptions = {}): AsyncGenerator<Example<T>> {
    const files = await this.exampleFiles(source);
    yield* shardExamples<T>(this.reader, files, opts);
  }

  /** The files `examples(source)` reads, in order (a file named alone is listed whatever its format). */
  async exampleFileList(source: ExampleSource): Promise<PinnedFile[]> {
    if (Array.isArray(source)) return Promise.all(source.map((p) => this.file(p)));
    const e = source === undefined ? undefined : await this.entry(source);
    if (source !== undefined && !e)
      throw new StrataError('NOT_FOUND', `'${source}' does not exist in ${this.pin}`, { path: source });
    if (e?.kind === 'file') return [await this.file(source!)];
    const out: PinnedFile[] = [];
    for (const f of await this.files(source ?? '')) {
      // A gzip file's content format first, as examples() reads it (a `.json.gz` declared format=json too).
      const gz = gzipContentFormat(f.path, f.format);
      const fmt = gz ?? (RECORD_FORMATS.has(f.format) ? f.format : undefined);
      if (fmt && (fmt !== 'json' || (await this.isJsonArray(f.path, !!gz)))) out.push(f);
    }
    return out;
  }

  /**
   * Whether a JSON file's top level is an array (its first byte other than a BOM and white space is `[`):
   * a directory's JSON arrays hold examples, its other JSON files are configuration (dataset_info.json), read
   * as examples only when named.
   */
  private async isJsonArray(path: string, gzipped = false): Promise<boolean> {
    // The scanner's own reading of the document's start (BOM, white space, `[`).
    const scanner = new JsonArrayScanner(() => {});
    const bytes = this.bytes(path, { start: 0, end: 4096 });
    try {
      for await (const piece of gzipped ? gunzip(bytes, path) : bytes) {
        scanner.push(piece);
        if (scanner.kind !== 'unknown' || scanner.error) break;
      }
    } catch (e) {
      // Not readable gzip: not an array of examples (reading it as one names what is wrong).
      if (!(gzipped && e instanceof StrataError && e.code === 'BAD_INPUT')) throw e;
    }
    return scanner.kind === 'array';
  }

  private async exampleFiles(source: ExampleSource): Promise<{ path: string; manifest: FileManifest }[]> {
    const list = await this.exampleFileList(source);
    return Promise.all(
      list.map(async (f) => ({ path: f.path, manifest: await this.manifestByHash(f.manifest) })),
    );
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('BAD_INPUT', `pinned revision ${this.pin} is closed`, {});
  }

  /** Releases the reader (closes the repository or remote connection it opened). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.onClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function toFile(path: string, hash: Hash, m: FileManifest): PinnedFile {
  return {
    path,
    size: m.size,
    format: m.format,
    ...(m.examples !== undefined ? { examples: m.examples } : {}),
    ...(m.options ? { options: m.options } : {}),
    manifest: hash,
  };
}

/** Opens a pin (`s3://bucket/prefix@<commit>`, `file:///path@<commit>`, `/local/repo@<commit>`). */
export const open = (pin: string | Pin, opts?: OpenReaderOptions): Promise<PinnedRevision> =>
  PinnedRevision.open(pin, opts);
