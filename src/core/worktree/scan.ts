/**
 * Walks the working tree: regular files only, `.strataignore` applied, in sorted order. Symlinks and
 * special files are reported as skipped rather than followed.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { loadIgnore } from './ignore.js';

export interface ScannedFile {
  path: string;
  stat: BigIntStats;
}

export interface ScanResult {
  files: ScannedFile[];
  skipped: string[];
}

/** Scans `under` (a repository path; '' for everything). A path naming a file yields that file. */
export function scanWorktree(root: string, under = ''): ScanResult {
  const ignored = loadIgnore(root);
  const files: ScannedFile[] = [];
  const skipped: string[] = [];
  const visit = (rel: string): void => {
    const abs = rel ? join(root, rel) : root;
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch {
      return;
    }
    if (st.isDirectory()) {
      if (rel && ignored(rel, true)) return;
      const names = readdirSync(abs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const n of names) visit(rel ? `${rel}/${n}` : n);
    } else if (st.isFile()) {
      if (!ignored(rel, false)) files.push({ path: rel, stat: st });
    } else if (rel && !ignored(rel, false)) {
      skipped.push(rel);
    }
  };
  visit(under);
  return { files, skipped };
}

/** Stats one path without following symlinks; undefined if missing or not a regular file. */
export function statFile(abs: string): BigIntStats | undefined {
  try {
    const st = lstatSync(abs, { bigint: true });
    return st.isFile() ? st : undefined;
  } catch {
    return undefined;
  }
}
