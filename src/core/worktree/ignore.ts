/**
 * `.strataignore` (gitignore syntax, via the `ignore` package) at the root of the working tree.
 * `.strata/` and `.git/` are always ignored, and so are `.strata-tmp-*` files: the temp files a checkout
 * writes beside their targets before renaming them into place, which a killed checkout leaves behind.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Ignore } from 'ignore';

// require(), not import: an ES import of this CommonJS package costs a parse of its source on every run.
const ignore = createRequire(import.meta.url)('ignore') as typeof import('ignore');

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
