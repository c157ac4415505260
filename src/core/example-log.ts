/**
 * The history of one example (`strata log --example KEY -- PATH`): the commits that added, removed or changed
 * the example whose key is KEY in the file PATH, newest first, each with what changed inside it (its fields,
 * its conversation turns) - for a reviewer asking when an example got its label, and by which run. Each commit
 * that touched the file (history.ts `log` with the path) is compared with its first parent (a root commit with
 * nothing) by the keyed example-level diff, which reads only the changed regions of the file (diff/). PATH may
 * be a directory: the example is then looked for in each file under it.
 */
import { StrataError } from '../storage/errors.js';
import { canonicalJson } from './diff/canonical.js';
import { diffRevisions } from './diff/diff-revisions.js';
import type { ChangeEvent } from './diff/types.js';
import { log, type LogEntry } from './history.js';
import type { Repository } from './repository.js';
import { lookupPath, resolveCommit } from './rev-parse.js';
import { loadAttributes } from './worktree/attributes.js';

export interface ExampleLogEntry {
  commit: LogEntry;
  /** What the commit did to the example (kind added, removed or modified; before, after, fields). */
  change: ChangeEvent;
}

/**
 * Whether a diff's key (a value, or an array of values for a composite key) is the key asked for: `key` is
 * the JSON of the value(s) (`17`, `"q-17"`, `[3,"en"]`), or, when not JSON, a string. A bare word also matches
 * a number or string key that prints as it (`--example 17` finds `"id": "17"` too).
 */
export function keyMatcher(key: string): (k: unknown) => boolean {
  let parsed: unknown = key;
  try {
    parsed = JSON.parse(key);
  } catch {
    /* a plain string */
  }
  const want = canonicalJson(parsed);
  return (k) =>
    canonicalJson(k) === want || ((typeof k === 'string' || typeof k === 'number') && String(k) === key);
}

export async function* exampleLog(
  repo: Repository,
  rev: string,
  path: string,
  key: string,
  opts: { keyFields?: string[]; limit?: number; exclude?: readonly string[]; signal?: AbortSignal } = {},
): AsyncGenerator<ExampleLogEntry> {
  const attr = loadAttributes(repo.root).lookup(path).key;
  // Without --key: the file's key= attribute; under a directory, each file's own (diffRevisions looks them up).
  const keyFields = opts.keyFields ?? (attr ? attr.split(',') : undefined);
  const named = lookupPath(repo, repo.objects.commit(resolveCommit(repo, rev)).tree, path);
  if (!keyFields?.length && named?.kind !== 'tree')
    throw new StrataError(
      'BAD_INPUT',
      `${path} has no key: declare one (key= in .strataattributes) or name the key field(s) with --key`,
      { path },
    );
  const matches = keyMatcher(key);
  let n = 0;
  for (const c of log(repo, rev, { paths: [path], ...(opts.exclude ? { exclude: opts.exclude } : {}) })) {
    if (opts.limit !== undefined && n >= opts.limit) return;
    const parent = c.parents[0];
    const events = diffRevisions(repo, parent ?? c.hash, c.hash, {
      paths: [path],
      ...(keyFields ? { key: keyFields } : {}),
      ...(parent ? {} : { emptyBefore: true }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    // A key may occur more than once (the diff reports duplicates): every change of it is listed.
    for await (const ev of events) {
      if (ev.type !== 'change' || ev.key === undefined || !matches(ev.key)) continue;
      yield { commit: c, change: ev };
      n++;
    }
  }
}
