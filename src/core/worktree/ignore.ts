/**
 * `.strataignore` (gitignore syntax, via the `ignore` package) at the root of the working tree.
 * `.strata/` and `.git/` are always ignored, and so are `.strata-tmp-*` files: the temp files a checkout
 * writes beside their targets before renaming them into place, which a killed checkout leaves behind.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Ignore } from 'ignore';

export const IGNORE_FILE = '.strataignore';
export const ALWAYS = ['.strata/', '.git/', '.strata-tmp-*'];

/**
 * What `ignore` answers for ALWAYS alone, without loading it (most working trees have no .strataignore,
 * and a no-op status should not pay for the package and its rule compilation): a `.strata` or `.git`
 * directory at any depth, and any file or directory named `.strata-tmp-*`, with everything under them.
 */
export function alwaysIgnored(path: string, isDir: boolean): boolean {
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i] as string;
    if (name.startsWith('.strata-tmp-')) return true;
    if ((name === '.strata' || name === '.git') && (isDir || i < parts.length - 1)) return true;
  }
  return false;
}

export function loadIgnore(root: string): (path: string, isDir: boolean) => boolean {
  let text: string;
  try {
    text = readFileSync(join(root, IGNORE_FILE), 'utf8');
  } catch {
    return alwaysIgnored; // no ignore file
  }
  // require(), not import: an ES import of this CommonJS package costs a parse of its source on every run.
  const ignore = createRequire(import.meta.url)('ignore') as typeof import('ignore');
  const ig: Ignore = ignore().add(ALWAYS).add(text);
  return (path, isDir) => ig.ignores(isDir ? path + '/' : path);
}
