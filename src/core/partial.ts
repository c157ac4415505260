/**
 * Data on demand. A clone or fetch made without `--all` brings every commit, tree and manifest but only the
 * chunk data of what it checks out, and marks the repository partial (config `core.partial`). Before a
 * command reads files of another revision (switch, checkout, restore, reset, merge, diff, cat, export,
 * verify), it asks for them here: in a partial repository the chunks of those files that are not here are
 * downloaded from the remotes that hold them, as git's partial clone does from its promisor remote. In a
 * complete repository this is one config lookup.
 */
import type { Repository } from './repository.js';

export const PARTIAL_KEY = 'core.partial';

export const isPartial = (repo: Repository): boolean => repo.db.getConfig(PARTIAL_KEY) === '1';

/** Marks the repository partial (a fetch without --all) or complete (a fetch --all of every remote). */
export function markPartial(repo: Repository, partial: boolean): void {
  if (isPartial(repo) !== partial) repo.db.setConfig(PARTIAL_KEY, partial ? '1' : undefined);
}

/** What was downloaded on demand, for a command that tells its user (Repository.onDemand). */
export interface OnDemandEvent {
  remote: string;
  objects: number;
  bytes: number;
}

/**
 * Makes the chunk data of these files (manifest hashes; undefined entries skipped) local, downloading what
 * is missing from the remotes that hold it. What no remote holds is left for the read to report (NOT_FOUND).
 */
export async function ensureFileData(
  repo: Repository,
  manifests: Iterable<string | undefined>,
): Promise<void> {
  if (!isPartial(repo)) return;
  const { fetchMissingData } = await import('./remote/on-demand.js');
  await fetchMissingData(repo, manifests);
}
