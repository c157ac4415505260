/**
 * Pins: `LOCATION@<64-hex commit>` names one dataset state forever. LOCATION is `s3://bucket/prefix`,
 * `file:///path` or a local repository path (absolute, or relative to a base directory such as the lock
 * file's). `PIN:PATH` names one file of it. `openReader(location)` is the one place that turns a location
 * into an ObjectReader (local repository now; remotes through src/core/remote/ when it is present).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../../storage/errors.js';
import type { Hash } from '../../storage/hash.js';
import { LocalObjectReader, type ObjectReader } from '../object-reader.js';
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
export type LocationKind = 's3' | 'file' | 'local';

export function locationKind(location: string): LocationKind {
  if (/^s3:\/\//i.test(location)) return 's3';
  if (/^file:\/\//i.test(location)) return 'file';
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
}

/** A remote reader factory from src/core/remote/, loaded on first use so pins work without it. */
type RemoteOpener = (url: string) => Promise<{ reader: ObjectReader; close?: () => unknown }>;
let remoteOpener: RemoteOpener | undefined;

/** Lets the remote layer (or a test) supply the reader for s3:// and non-repository file:// URLs. */
export function setRemoteReaderFactory(f: RemoteOpener | undefined): void {
  remoteOpener = f;
}

async function loadRemoteOpener(): Promise<RemoteOpener | undefined> {
  if (remoteOpener) return remoteOpener;
  try {
    // Resolved at run time so this module builds before src/core/remote/ exists.
    const spec = '../remote/index.js';
    const mod = (await import(spec)) as Record<string, unknown>;
    const f = mod.openRemoteReader;
    if (typeof f === 'function') return f as RemoteOpener;
  } catch {
    /* remote reading not built yet */
  }
  return undefined;
}

const isRepoDir = (dir: string): boolean => existsSync(join(dir, REPO_DIR, 'strata.json'));

/**
 * Opens whatever a pin location names for reading objects. The single hook between pins and remotes:
 * a local repository path (or a file:// URL of one) gives a LocalObjectReader; s3:// and file:// remote
 * directories go to the remote engineer's `openRemoteReader(url)`.
 */
export async function openReader(location: string, opts: OpenReaderOptions = {}): Promise<OpenedReader> {
  const kind = locationKind(location);
  if (kind === 'local' || (kind === 'file' && isRepoDir(fileURLToPath(location)))) {
    const dir =
      kind === 'file'
        ? fileURLToPath(location)
        : isAbsolute(location)
          ? location
          : resolve(opts.cwd ?? process.cwd(), location);
    if (!isRepoDir(dir)) {
      throw new StrataError('NOT_A_REPOSITORY', `pin location ${dir} is not a strata repository root`, {
        location,
        path: dir,
      });
    }
    const repo = Repository.open(dir);
    return {
      reader: new LocalObjectReader(repo.objects),
      kind: 'local',
      where: repo.root,
      repo,
      close: async () => repo.close(),
    };
  }
  const open = await loadRemoteOpener();
  if (!open) {
    throw new StrataError(
      'NOT_FOUND',
      `cannot read ${location}: remote reading (src/core/remote) is not available in this build`,
      { location },
    );
  }
  const r = await open(location);
  return {
    reader: r.reader,
    kind: 'remote',
    where: location,
    close: async () => {
      await r.close?.();
    },
  };
}
