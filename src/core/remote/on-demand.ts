/** Downloads the missing chunks of given files from the remotes that hold them (see core/partial.ts). */
import type { Repository } from '../repository.js';
import { downloadSynced } from './fetch.js';
import { CachedRemoteIndex } from './remote-index.js';
import { listRemotes, openRemoteStore } from './remotes.js';

export async function fetchMissingData(
  repo: Repository,
  manifests: Iterable<string | undefined>,
): Promise<void> {
  const want = new Set<string>();
  for (const m of new Set(manifests)) {
    if (m === undefined) continue;
    for (const [h] of repo.objects.spans(repo.objects.manifest(m))) if (!repo.objects.has(h)) want.add(h);
  }
  if (want.size === 0) return;
  // By the remote whose (cached) index holds each; what none holds as far as we know is asked of every
  // remote after its index is brought up to date (a remote repacked since we last listed it).
  const byRemote = new Map<string, string[]>();
  const unknown: string[] = [];
  for (const h of want) {
    const r = repo.db.remoteHolding(h);
    if (r === undefined) unknown.push(h);
    else (byRemote.get(r) ?? byRemote.set(r, []).get(r)!).push(h);
  }
  for (const info of listRemotes(repo)) {
    const name = info.name;
    const hashes = byRemote.get(name) ?? [];
    if (hashes.length === 0 && unknown.length === 0) continue;
    const store = openRemoteStore(info.url, info);
    const cache = new CachedRemoteIndex(repo, name);
    try {
      if (unknown.length) {
        await cache.sync(store);
        for (let i = unknown.length - 1; i >= 0; i--)
          if (cache.has(unknown[i]!)) hashes.push(...unknown.splice(i, 1));
      }
      if (hashes.length === 0) continue;
      const got = await repo.withLock(() => downloadSynced(repo, store, cache, hashes));
      repo.onDemand?.({ remote: name, objects: got.objects, bytes: got.bytes });
    } finally {
      await store.close?.();
    }
  }
}
