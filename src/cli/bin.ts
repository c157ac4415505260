#!/usr/bin/env node
/**
 * The `strata` executable (package.json `bin`): scripts/build-cli.mjs bundles it into dist/bin/strata.cjs,
 * next to dist/bin/strata-main.cjs, the whole CLI (main.ts) in one CommonJS file, and
 * dist/bin/strata-fast.cjs, the plain `status` and `commit` alone (fast-main.ts), which it runs for what the
 * fast path takes (fast-args.ts): every start reads, hashes and deserializes its bundle, and the small one
 * took ~10 ms off a no-op status. It runs the bundle with a V8 code cache: compiling the functions a command
 * runs costs more than the command itself on a no-op `status` (issue 6), and a cache made by an earlier run
 * of the same command skips it. Node 20 has no compile cache of its own (module.enableCompileCache is Node 22).
 *
 * The cache is one file per bundle and command word in dist/bin/.cache/, named after the bundle, the Node
 * version and the bundle's size and mtime (a rebuild or another Node makes new ones; V8 also refuses a cache
 * of other flags or source). It is written, atomically, when it was missing or refused; a directory that
 * cannot be written just means no cache. STRATA_COMPILE_CACHE=0 turns it off.
 *
 * The bundle has no import(): a vm script has no module loader for it (the build turns import('pkg') into a
 * require and fails on any other). Not run from dist/cli/bin.js (tsc's copy): there is no bundle next to it.
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { restoreV8Flags } from '../storage/v8-flags.js';
import { parseFastPath } from './fast-args.js';

/** The bundles, by the tag their cache files start with. */
const BUNDLES = { main: 'strata-main.cjs', fast: 'strata-fast.cjs' } as const;
const CACHE_DIR = '.cache';
/** Cache files kept at most (one per command word: typos must not fill the directory). */
const MAX_CACHE_FILES = 64;

/** The command word of `args` (after `-C DIR`), as the cache's name knows it: a plain lowercase word. */
function cacheWord(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-C') i++;
    else if (a.startsWith('-C') && a.length > 2) continue;
    else return /^[a-z][a-z-]{0,23}$/.test(a) ? a : '-';
  }
  return '-';
}

/** Runs the bundle at `file` (the CommonJS module wrapper, as require() would) with a code cache. */
function runCached(tag: keyof typeof BUNDLES, file: string, args: readonly string[]): void {
  const require = createRequire(file);
  if (process.env.STRATA_COMPILE_CACHE === '0') {
    require(file);
    return;
  }
  // latin1: the build writes the bundle as pure ASCII (scripts/build-cli.mjs asciiOnly), a one-byte string.
  let source = readFileSync(file, 'latin1');
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  const st = statSync(file);
  const dir = join(dirname(file), CACHE_DIR);
  const prefix = `${tag}-${process.version}-${process.arch}-${st.size}-${Math.trunc(st.mtimeMs)}-`;
  const cacheFile = join(dir, `${prefix}${cacheWord(args)}.v8`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    /* no cache yet */
  }
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) { ${source}\n})`,
    { filename: file, cachedData },
  );
  if (!cachedData || script.cachedDataRejected)
    process.once('exit', () => saveCache(script, dir, cacheFile, tag, prefix));
  const module = { exports: {} };
  (script.runInThisContext() as (...a: unknown[]) => void).call(
    module.exports,
    module.exports,
    require,
    module,
    file,
    dirname(file),
  );
}

/** Writes the cache of what this run compiled (tmp + rename: a concurrent run reads all or nothing). */
function saveCache(script: vm.Script, dir: string, cacheFile: string, tag: string, prefix: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    const names = readdirSync(dir);
    // Caches of this bundle's other builds, another Node, or no bundle are dead: drop them (not the other
    // bundle's); and keep the directory bounded.
    const ofSome = (n: string): boolean => Object.keys(BUNDLES).some((t) => n.startsWith(`${t}-`));
    for (const n of names)
      if ((n.startsWith(`${tag}-`) && !n.startsWith(prefix)) || !ofSome(n)) unlinkSync(join(dir, n));
    if (names.filter((n) => n.startsWith(prefix)).length >= MAX_CACHE_FILES) return;
    // Made under the flags this process started with, which the next start has: flags a command changed
    // (storage/v8-flags.ts: the diff's tuning, `--expose-gc` for the memory limit) are put back first.
    restoreV8Flags();
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile);
  } catch {
    /* read-only install, full disk, a concurrent cleanup: run without a cache */
  }
}

const args = process.argv.slice(2);
const tag = parseFastPath(args) ? 'fast' : 'main';
runCached(tag, join(dirname(fileURLToPath(import.meta.url)), BUNDLES[tag]), args);
