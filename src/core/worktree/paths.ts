/**
 * Working-tree paths: repository-relative, '/'-separated, validated component by component so nothing
 * strata writes can land outside the working tree (no '..', no absolute paths, no writes through symlinks).
 */
import { lstatSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { StrataError } from '../../storage/errors.js';
import { checkName } from '../objects/objects.js';

/** Whether repository path `path` is `dir` or inside it ('' is the root: everything is). */
export const isUnder = (path: string, dir: string): boolean =>
  dir === '' || path === dir || path.startsWith(dir + '/');

/** Turns a user-supplied path (relative to cwd) into a repository path; '' is the root. */
export function toRepoPath(root: string, cwd: string, p: string): string {
  const abs = resolve(cwd, p);
  const rel = relative(root, abs);
  if (rel === '') return '';
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new StrataError('UNSAFE_PATH', `${p} is outside the repository`, { path: p });
  }
  return rel.split(sep).join('/');
}

/** Checks every component of a repository path; UNSAFE_PATH naming the whole path otherwise. */
export function checkRepoPath(path: string): void {
  for (const c of path.split('/')) {
    try {
      checkName(c);
    } catch (e) {
      throw new StrataError(
        'UNSAFE_PATH',
        `refusing path ${JSON.stringify(path)}: ${(e as Error).message}${c.toLowerCase() === '.strata' ? ' (the name of the repository directory, reserved at any depth)' : ''}`,
        { path, name: c },
      );
    }
  }
}

/** The absolute path for a repository path, refusing to traverse a symlinked directory. */
/** Linux limits: bytes of one name (NAME_MAX) and of a whole path (PATH_MAX, with its NUL). */
const NAME_MAX = 255;
const PATH_MAX = 4095;

export function safeJoin(root: string, path: string): string {
  checkRepoPath(path);
  const parts = path.split('/');
  if (
    Buffer.byteLength(root) + 1 + Buffer.byteLength(path) > PATH_MAX ||
    parts.some((p) => Buffer.byteLength(p) > NAME_MAX)
  )
    throw new StrataError(
      'UNSAFE_PATH',
      `path ${JSON.stringify(path.length > 200 ? path.slice(0, 200) + '…' : path)} is too long for the file system (names up to ${NAME_MAX} bytes, paths up to ${PATH_MAX})`,
      { path: path.slice(0, 1024) },
    );
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i]!);
    try {
      if (lstatSync(cur).isSymbolicLink()) {
        throw new StrataError('UNSAFE_PATH', `refusing to write through symlink ${relative(root, cur)}`, {
          path,
        });
      }
    } catch (e) {
      if (e instanceof StrataError) throw e;
      break; // does not exist yet: nothing below can be a symlink
    }
  }
  return join(root, ...parts);
}
