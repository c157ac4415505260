/**
 * The remote layout (docs/REMOTES.md), the same on S3 and in a plain directory:
 *
 *   strata.json              {"format": 1, "chunking": {min, avg, max}, "id": "<random id of this remote>"}
 *   packs/<hash>.pack        objects back to back, byte format of src/storage/pack-format.ts
 *   packs/<hash>.idx         the pack's index (written after the pack)
 *   refs/heads/<branch>      {"commit": "<hash>", "writer": "<random id of one push attempt>"}
 *   refs/tags/<tag>
 */
import { randomBytes } from 'node:crypto';
import { StrataError, isStrataError } from '../../storage/errors.js';
import { isHash, type Hash } from '../../storage/hash.js';
import type { ETag, ObjectStore } from '../../storage/object-store.js';
import type { ChunkParams } from '../chunking/index.js';
import { chunkParamsFrom } from '../chunking/params.js';

export const REMOTE_FORMAT_VERSION = 1;
export const REMOTE_CONFIG_KEY = 'strata.json';
export const PACKS_PREFIX = 'packs/';
export const REFS_PREFIX = 'refs/';

export interface RemoteConfigFile {
  format: number;
  chunking: ChunkParams;
  /**
   * A random id given to the remote when its strata.json is created: a remote deleted and created again at
   * the same URL is another remote, and a clone forgets what it remembered about the old one. Absent on
   * remotes created before ids existed.
   */
  id?: string;
}

export const packKey = (name: string): string => `${PACKS_PREFIX}${name}.pack`;
export const idxKey = (name: string): string => `${PACKS_PREFIX}${name}.idx`;

/** A full ref name (refs/heads/main, refs/tags/v1) as a store key; ref names are checked to be key-safe. */
export function refKey(ref: string): string {
  if (
    !/^refs\/(heads|tags)\/[A-Za-z0-9._/-]+$/.test(ref) ||
    ref.split('/').some((c) => c === '.' || c === '..')
  )
    throw new StrataError(
      'BAD_INPUT',
      `ref ${JSON.stringify(ref)} cannot be stored on a remote (names there use [A-Za-z0-9._-] and '/')`,
      { ref },
    );
  return ref;
}

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v) + '\n', 'utf8');
const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');

export const newWriterId = (): string => randomBytes(12).toString('hex');

/** Parses a stored remote ref ({"commit", "writer"}); anything else is INTEGRITY. */
export function decodeRemoteRef(data: Uint8Array, where: string): { commit: Hash; writer: string } {
  let v: unknown;
  try {
    v = JSON.parse(text(data));
  } catch {
    v = undefined;
  }
  const o = v as { commit?: unknown; writer?: unknown } | undefined;
  if (!o || typeof o.commit !== 'string' || !isHash(o.commit) || typeof o.writer !== 'string')
    throw new StrataError('INTEGRITY', `remote ref ${where} is malformed`, { where });
  return { commit: o.commit, writer: o.writer };
}

export const encodeRemoteRef = (commit: string, writer: string): Uint8Array => enc({ commit, writer });

/** Reads a remote ref with its etag; undefined when it does not exist. */
export async function readRemoteRef(
  store: ObjectStore,
  ref: string,
): Promise<{ commit: Hash; writer: string; etag: ETag } | undefined> {
  try {
    const r = await store.getWithEtag(refKey(ref));
    return { ...decodeRemoteRef(r.data, `${ref} in ${store.location}`), etag: r.etag };
  } catch (e) {
    if (isStrataError(e, 'NOT_FOUND')) return undefined;
    throw e;
  }
}

function parseConfig(data: Uint8Array, location: string): RemoteConfigFile {
  let v: unknown;
  try {
    v = JSON.parse(text(data));
  } catch {
    throw new StrataError('INTEGRITY', `${location}/strata.json is not JSON`, { location });
  }
  const o = v as Partial<RemoteConfigFile> | null;
  if (!o || typeof o !== 'object' || typeof o.format !== 'number')
    throw new StrataError('INTEGRITY', `${location}/strata.json has no format version`, { location });
  if (o.format !== REMOTE_FORMAT_VERSION)
    throw new StrataError(
      'UNSUPPORTED_VERSION',
      `remote ${location} has format ${o.format}; this strata understands format ${REMOTE_FORMAT_VERSION} (upgrade strata)`,
      { location, format: o.format, supported: REMOTE_FORMAT_VERSION },
    );
  const chunking = chunkParamsFrom(o.chunking);
  if (!chunking)
    throw new StrataError('INTEGRITY', `${location}/strata.json has no chunking parameters`, { location });
  return { format: o.format, chunking, ...(typeof o.id === 'string' && o.id ? { id: o.id } : {}) };
}

/** Reads and checks the remote's strata.json; undefined when the remote is empty (never pushed to). */
export async function readRemoteConfig(store: ObjectStore): Promise<RemoteConfigFile | undefined> {
  let data: Uint8Array;
  try {
    data = await store.get(REMOTE_CONFIG_KEY);
  } catch (e) {
    if (isStrataError(e, 'NOT_FOUND')) return undefined;
    throw e;
  }
  return parseConfig(data, store.location);
}

/** Reads strata.json, or NOT_FOUND naming the remote when there is none (nothing was ever pushed there). */
export async function requireRemoteConfig(store: ObjectStore): Promise<RemoteConfigFile> {
  const c = await readRemoteConfig(store);
  if (!c)
    throw new StrataError('NOT_FOUND', `${store.location} is not a strata remote (no strata.json)`, {
      location: store.location,
    });
  return c;
}

export const sameChunking = (a: ChunkParams, b: ChunkParams): boolean =>
  a.min === b.min && a.avg === b.avg && a.max === b.max;

/** Creates strata.json on an empty remote (compare-and-swap: whoever comes second reads the winner's). */
export async function createRemoteConfig(
  store: ObjectStore,
  chunking: ChunkParams,
): Promise<RemoteConfigFile> {
  const cfg: RemoteConfigFile = {
    format: REMOTE_FORMAT_VERSION,
    chunking: { min: chunking.min, avg: chunking.avg, max: chunking.max },
    id: newWriterId(),
  };
  try {
    await store.putIfMatch(REMOTE_CONFIG_KEY, enc(cfg), null);
    return cfg;
  } catch (e) {
    if (!isStrataError(e, 'CONFLICT')) throw e;
    return requireRemoteConfig(store);
  }
}
