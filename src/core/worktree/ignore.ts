/**
 * `.strataignore` (gitignore syntax, via the `ignore` package) at the root of the working tree.
 * `.strata/` and `.git/` are always ignored, and so are `.strata-tmp-*` files: the temp files a checkout
 * writes beside their targets before renaming them into place, which a killed checkout leaves behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ignore, { type Ignore } from 'ignore';

export const IGNORE_FILE = '.strataignore';
const ALWAYS = ['.strata/', '.git/', '.strata-tmp-*'];

export function loadIgnore(root: string): (path: string, isDir: boolean) => boolean {
  const ig: Ignore = ignore().add(ALWAYS);
  try {
    ig.add(readFileSync(join(root, IGNORE_FILE), 'utf8'));
  } catch {
    /* no ignore file */
  }
  return (path, isDir) => ig.ignores(isDir ? path + '/' : path);
}
