/** Commit-graph helpers over the local object database shared by push and pull. */
import type { Hash } from '../../storage/hash.js';
import type { Repository } from '../repository.js';

/** True if `ancestor` is `descendant` or one of its ancestors (walks local commits only). */
export function isAncestor(repo: Repository, ancestor: string, descendant: string): boolean {
  if (ancestor === descendant) return true;
  if (!repo.objects.has(ancestor)) return false;
  const seen = new Set<string>([descendant]);
  const stack: string[] = [descendant];
  while (stack.length) {
    const h = stack.pop()!;
    if (!repo.objects.has(h)) continue;
    for (const p of repo.objects.commit(h).parents) {
      if (p === ancestor) return true;
      if (!seen.has(p)) {
        seen.add(p);
        stack.push(p);
      }
    }
  }
  return false;
}

/** Every tree, manifest and segment hash reachable from a commit's root tree (not its ancestors, not chunks). */
export function treeClosure(repo: Repository, commit: Hash, into = new Set<string>()): Set<string> {
  if (!repo.objects.has(commit)) return into;
  const stack: string[] = [repo.objects.commit(commit).tree];
  while (stack.length) {
    const t = stack.pop()!;
    if (into.has(t) || !repo.objects.has(t)) continue;
    into.add(t);
    for (const e of repo.objects.tree(t).entries) {
      if (e.kind === 'tree') stack.push(e.hash);
      else into.add(e.hash);
    }
  }
  return into;
}
