/**
 * Pins: `LOCATION@<64-hex commit>` names one dataset state forever. LOCATION is `s3://bucket/prefix`,
 * `file:///path` or a local repository path (absolute, or relative to a base directory such as the lock
 * file's). `PIN:PATH` names one file of it. `openReader(location)` is the one place that turns a location
 * into an ObjectReader: a LocalObjectReader over a local repository, or src/core/remote's
 * RemoteObjectReader (coalesced ranged GETs, bounded read-ahead) for s3://, file:// remote directories
 * and memory:// stores.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../../storage/errors.js';
import type { Hash } from '../../storage/hash.js';
import { LocalObjectReader, type ObjectReader } from '../object-reader.js';
import { RemoteObjectReader, type RemoteReaderOptions } from '../remote/reader.js';
import type { RemoteSettings } from '../remote/remotes.js';
import { REPO_DIR, Repository } from '../repository.js';

export interface Pin {
  /** `s3://bucket/prefix`, `file:///path`, or a local repository path exactly as written. */
  location: string;
  /** Full 64-hex commit hash. */
  commit: Hash;
}

const PIN_RE = /^(.+)@([0-9a-f]{64})$/;
const PIN_PATH_RE = /^(.+)@([0-9a-f]{64}):(.*)$/;

/** True if `s` has the shape of a pin (`LOCATION@<64 hex>`), with or without `:PATH`. */
export const looksLikePin = (s: string): boolean => PIN_RE.test(s) || PIN_PATH_RE.test(s);

/** Parses `LOCATION@<commit>`; BAD_INPUT unless the commit is a full 64-hex hash. */
export function parsePin(pin: string): Pin {
  const m = PIN_RE.exec(pin);
  if (!m) {
    throw new StrataError(
      'BAD_INPUT',
      `not a pin: '${pin}' (expected LOCATION@<64-hex commit>, e.g. s3://bucket/prefix@<hash>)`,
      { pin },
    );
  }
  return { location: m[1]!, commit: m[2]! as Hash };
}

/** Parses `LOCATION@<commit>:PATH`. */
export function parsePinPath(spec: string): Pin & { path: string } {
  const m = PIN_PATH_RE.exec(spec);
  if (!m) throw new StrataError('BAD_INPUT', `expected PIN:PATH, got '${spec}'`, { spec });
  return { location: m[1]!, commit: m[2]! as Hash, path: m[3]! };
}

export const formatPin = (p: Pin): string => `${p.location}@${p.commit}`;

/** Where a location points, without opening it. */
export type LocationKind = 's3' | 'file' | 'memory' | 'local';

export function locationKind(location: string): LocationKind {
  if (/^s3:\/\//i.test(location)) return 's3';
  if (/^file:\/\//i.test(location)) return 'file';
  if (/^memory:\/\//i.test(location)) return 'memory';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location))
    throw new StrataError('BAD_INPUT', `unsupported pin location scheme: ${location}`, { location });
  return 'local';
}

export interface OpenedReader {
  reader: ObjectReader;
  kind: 'local' | 'remote';
  /** A description for messages: the repository root or the remote URL. */
  where: string;
  /** The local repository, when the location is one. */
  repo?: Repository;
  close(): Promise<void>;
}

export interface OpenReaderOptions {
  /** Base directory for relative local paths (default: process.cwd()). */
  cwd?: string;
  /**
   * Settings for remote locations: S3 endpoint/region/checksums (default: the AWS environment, e.g.
   * AWS_ENDPOINT_URL), read-ahead bytes, concurrency.
   */
  remote?: RemoteSettings & RemoteReaderOptions;
}

/** Opens a remote URL for reading; replaceable (tests wrap the reader, e.g. to count requests). */
export type RemoteOpener = (
  url: string,
  opts: OpenReaderOptions,
) => Promise<{ reader: ObjectReader; close?: () => unknown }>;

const defaultRemoteOpener: RemoteOpener = async (url, opts) => {
  const reader = await RemoteObjectReader.open(url, { ...opts.remote, settings: opts.remote });
  return { reader, close: () => reader.store.close?.() };
};
let remoteOpener: RemoteOpener = defaultRemoteOpener;

/** Replaces how s3://, file:// (remote directories) and memory:// locations are opened; undefined restores. */
export function setRemoteReaderFactory(f: RemoteOpener | undefined): void {
  remoteOpener = f ?? defaultRemoteOpener;
}

function fileUrlPath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (e) {
    throw new StrataError('BAD_INPUT', `invalid file URL ${url}`, { location: url }, { cause: e });
  }
}

const isRepoDir = (dir: string): boolean => existsSync(join(dir, REPO_DIR, 'strata.json'));

/**
 * Opens whatever a pin location names for reading objects. The single hook between pins and remotes:
 * a local repository path (or a file:// URL of one) gives a LocalObjectReader; s3://, memory:// and
 * file:// (or plain path) remote directories give a RemoteObjectReader.
 */
export async function openReader(location: string, opts: OpenReaderOptions = {}): Promise<OpenedReader> {
  const kind = locationKind(location);
  const localDir =
    kind === 'file'
      ? fileUrlPath(location)
      : kind === 'local'
        ? isAbsolute(location)
          ? location
          : resolve(opts.cwd ?? process.cwd(), location)
        : undefined;
  if (localDir !== undefined && isRepoDir(localDir)) {
    const repo = Repository.open(localDir);
    return {
      reader: new LocalObjectReader(repo.objects),
      kind: 'local',
      where: repo.root,
      repo,
      close: async () => repo.close(),
    };
  }
  if (localDir !== undefined) {
    // Otherwise it must be a plain directory holding a remote's layout (strata.json, packs/, refs/).
    if (!existsSync(join(localDir, 'strata.json')))
      throw new StrataError(
        'NOT_A_REPOSITORY',
        `pin location ${localDir} is not a strata repository or remote`,
        {
          location,
          path: localDir,
        },
      );
    if (kind === 'local') location = localDir;
  }
  const r = await remoteOpener(location, opts);
  return {
    reader: r.reader,
    kind: 'remote',
    where: location,
    close: async () => {
      await r.close?.();
    },
  };
}
