/**
 * Code provenance: when the dataset lives inside a git working tree, every commit records the code
 * repository's HEAD commit and whether tracked code files were modified (isomorphic-git, no git binary).
 */
import * as fs from 'node:fs';
import { relative } from 'node:path';

export interface CodeProvenance {
  commit: string | null;
  branch: string | null;
  dirty: boolean;
  /** The dataset's directory relative to the code repository's root. */
  path: string;
}

export async function codeProvenance(datasetRoot: string): Promise<CodeProvenance | undefined> {
  if (process.env.STRATA_NO_PROVENANCE) return undefined;
  const { default: git } = await import('isomorphic-git'); // ~0.3 s to load: only when committing
  let dir: string;
  try {
    dir = await git.findRoot({ fs, filepath: datasetRoot });
  } catch {
    return undefined;
  }
  let commit: string | null = null;
  try {
    commit = await git.resolveRef({ fs, dir, ref: 'HEAD' });
  } catch {
    /* unborn branch */
  }
  const branch = (await git.currentBranch({ fs, dir, fullname: false }).catch(() => undefined)) ?? null;
  const rel = relative(dir, datasetRoot).split('\\').join('/');
  let dirty = false;
  try {
    const rows = await git.statusMatrix({
      fs,
      dir,
      filter: (f) => !f.startsWith('.strata/') && !f.includes('/.strata/'),
    });
    // [file, head, workdir, stage]: anything but unmodified (1,1,1) or untracked (0,2,0) is a change.
    dirty = rows.some(([, h, w, s]) => !(h === 1 && w === 1 && s === 1) && !(h === 0 && w === 2 && s === 0));
  } catch {
    dirty = true;
  }
  return { commit, branch, dirty, path: rel || '.' };
}
