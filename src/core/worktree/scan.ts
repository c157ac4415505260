/**
 * Walks the working tree: regular files only, `.strataignore` applied, in sorted order. Symlinks and
 * special files are reported as skipped rather than followed.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { join, sep } from 'node:path';
import { StrataError } from '../../storage/errors.js';
import { loadIgnore } from './ignore.js';

/** A file name's bytes for a message: printable ASCII as is, every other byte as \xNN. */
const escapeName = (b: Buffer): string =>
  [...b]
    .map((x) =>
      x >= 0x20 && x < 0x7f && x !== 0x5c ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, '0')}`,
    )
    .join('');

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
      const names = readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare);
      for (const nb of names) {
        const n = nb.toString('utf8');
        const p = rel ? `${rel}/${n}` : n;
        // A name that is not UTF-8 cannot be stored (trees hold UTF-8 names) nor reached through its
        // lossy decoding: refused, never silently skipped, unless .strataignore excludes it.
        if (!Buffer.from(n, 'utf8').equals(nb)) {
          const isDir = lstatSync(Buffer.concat([Buffer.from(abs + sep), nb])).isDirectory();
          if (ignored(p, isDir)) continue;
          const shown = (rel ? `${rel}/` : '') + escapeName(nb);
          throw new StrataError(
            'UNSAFE_PATH',
            `the name ${shown} is not valid UTF-8; strata stores UTF-8 names only (rename it, or exclude it in .strataignore)`,
            { path: shown },
          );
        }
        visit(p);
      }
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
