/** `strata pin REV [--remote NAME]`: the pin for a local revision, at this repository or at a remote. */
import { StrataError } from '../../storage/errors.js';
import type { Hash } from '../../storage/hash.js';
import { getRemote } from '../remote/remotes.js';
import type { Repository } from '../repository.js';
import { resolveCommit } from '../rev-parse.js';
import { formatPin, openReader } from './pin.js';

export interface PinForResult {
  pin: string;
  commit: Hash;
  location: string;
  remote?: string;
  /**
   * Whether the location holds the commit: true/false when it could be checked, undefined when the
   * remote could not be read (remote reading unavailable, or `check: false`).
   */
  present?: boolean;
  /** Why presence is unknown. */
  unknownReason?: string;
}

/** The URL of a configured remote (the `remotes(name, url)` table); NOT_FOUND if there is none. */
export function remoteUrl(repo: Repository, name: string): string {
  const row = repo.db.db.prepare('SELECT url FROM remotes WHERE name = ?').get(name) as
    { url: string } | undefined;
  if (!row) throw new StrataError('NOT_FOUND', `no remote named '${name}'`, { remote: name });
  return row.url;
}

/** Resolves REV locally to a full hash and names it at this repository (its root) or at a remote. */
export async function pinFor(
  repo: Repository,
  rev: string,
  opts: { remote?: string; check?: boolean } = {},
): Promise<PinForResult> {
  const commit = resolveCommit(repo, rev);
  if (!opts.remote)
    return { pin: formatPin({ location: repo.root, commit }), commit, location: repo.root, present: true };
  const remote = getRemote(repo, opts.remote);
  const location = remote.url;
  const res: PinForResult = { pin: formatPin({ location, commit }), commit, location, remote: opts.remote };
  if (opts.check === false) return { ...res, unknownReason: 'not checked' };
  let opened;
  try {
    opened = await openReader(location, { remote });
  } catch (e) {
    // An empty or never-pushed-to remote holds nothing; anything else (network, credentials) is unknown.
    if (e instanceof StrataError && (e.code === 'NOT_FOUND' || e.code === 'NOT_A_REPOSITORY'))
      return { ...res, present: false };
    if (e instanceof StrataError) return { ...res, unknownReason: e.message };
    throw e;
  }
  try {
    await opened.reader.get(commit);
    return { ...res, present: true };
  } catch (e) {
    if (e instanceof StrataError && e.code === 'NOT_FOUND') return { ...res, present: false };
    throw e;
  } finally {
    await opened.close();
  }
}
