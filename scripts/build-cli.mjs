#!/usr/bin/env node
// The `strata` bin (npm run build, after tsc): src/cli/main.ts bundled by esbuild into one CommonJS file,
// dist/bin/strata-main.cjs, and src/cli/fast-main.ts (plain status and commit) into dist/bin/strata-fast.cjs,
// run by the launcher dist/bin/strata.cjs (src/cli/bin.ts, a V8 code cache).
// One file instead of ~50 ES modules: no module resolution, no ESM loader, and a lazily imported module
// stays lazy (esbuild initialises it at its first import()). Usage: node scripts/build-cli.mjs [OUT_DIR]
//
// - Packages stay in node_modules (require()d when first used), except ES-module-only ones (p-limit,
//   hyparquet, ...): a CommonJS file cannot require() them on every Node 20, so they are bundled.
// - import.meta.url is the bundle's own URL, so `new URL('./x.js', import.meta.url)` (a worker file)
//   names dist/bin/x.js: each such file of src/ is bundled there too, as an ES module.
import { build } from 'esbuild';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const out = resolve(process.argv[2] ?? join(root, 'dist', 'bin'));
const require = createRequire(join(root, 'package.json'));

/** Whether require() of this package (as a CommonJS file would) gets an ES module. */
function esmOnly(name) {
  let file;
  try {
    file = require.resolve(name);
  } catch {
    return false; // not resolvable as CommonJS (a platform or optional package): left to Node
  }
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let d = dirname(file); d !== dirname(d); d = dirname(d)) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) return JSON.parse(readFileSync(pj, 'utf8')).type === 'module';
  }
  return false;
}

const dependencies = new Set(
  Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies),
);
const packageName = (spec) =>
  spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/');
/**
 * CommonJS dependencies bundled all the same: every command opens the index, and better-sqlite3's dozen
 * small files cost a no-op status more than its native addon (which stays in node_modules: index-db.ts
 * names it by path).
 */
const INLINE = new Set(['better-sqlite3']);
/**
 * And in the whole CLI's bundle, the packages most of its commands load: commander (every command; its 7
 * files were ~18 ms of a start: resolution, reads, compiles the code cache does not cover), picomatch
 * (attributes), diff and csv-parse (`strata diff`, ~20 ms). The fast path's bundle stays without them.
 */
const INLINE_MAIN = new Set([...INLINE, 'commander', 'picomatch', 'diff', 'csv-parse']);

/**
 * Bare imports and require()s: Node's modules, our CommonJS dependencies and packages that are not ours
 * (the native @napi-rs platform packages) stay external; ES-module-only packages and INLINE are bundled,
 * with what they import.
 */
const packagesInlining = (inline) => ({
  name: 'strata-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (isBuiltin(args.path)) return { path: args.path, external: true };
      const name = packageName(args.path);
      const fromPackage = args.importer.includes(`${sep}node_modules${sep}`);
      const bundled = fromPackage || inline.has(name) || (dependencies.has(name) && esmOnly(args.path));
      return bundled ? undefined : { path: args.path, external: true };
    });
  },
});
const packages = packagesInlining(INLINE);

/**
 * `createRequire(import.meta.url)` is a CommonJS module's own `require`: spelled so, esbuild sees what
 * src/ requires (and bundles INLINE). `const require = createRequire(import.meta.url);` goes: the
 * module's `require` is the same function.
 * `import('pkg')` becomes a require() with the namespace Node gives a CommonJS package (`default` is
 * module.exports): the launcher compiles the bundle with vm and a code cache, where import() has no loader
 * (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING). The build fails if an import() is left (noDynamicImport).
 */
const ownRequire = {
  name: 'strata-own-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => ({
      loader: 'ts',
      contents: readFileSync(args.path, 'utf8')
        .replace(/^const require = createRequire\(import\.meta\.url\);$/m, '')
        .replaceAll('createRequire(import.meta.url)(', 'require(')
        .replace(
          /(?<!typeof\s*)\bimport\((\s*'[^'.][^']*'\s*)\)/g,
          'Promise.resolve().then(() => __strataNamespace(require($1)))',
        ),
    }));
  },
};

/** Fails on an import() esbuild left in a CommonJS output (see ownRequire). */
function noDynamicImport(result) {
  for (const [file, o] of Object.entries(result.metafile.outputs)) {
    const left = o.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
    if (left.length) throw new Error(`${file}: import() of ${left.join(', ')} left in the bundle`);
  }
}

/** src files that another file starts as `new URL('./NAME.js', import.meta.url)` (worker threads). */
function urlEntries() {
  const walk = (d) =>
    readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  const entries = new Map();
  for (const f of walk(join(root, 'src')).filter((p) => p.endsWith('.ts'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(
      /new URL\(\s*'\.\/([\w-]+)\.js',\s*import\.meta\.url\s*\)/g,
    )) {
      const src = join(dirname(f), `${m[1]}.ts`);
      if (!existsSync(src)) throw new Error(`${relative(root, f)}: ${m[1]}.ts does not exist`);
      const prev = entries.get(m[1]);
      if (prev && prev !== src) throw new Error(`two files named ${m[1]}.js would share ${out}`);
      entries.set(m[1], src);
    }
  }
  return entries;
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  plugins: [packages],
  logLevel: 'warning',
  legalComments: 'none',
  // Whitespace and syntax only (names stay, so stacks still read): every command reads, hashes and
  // deserializes the whole bundle before it runs, and 784 KB → 536 KB took ~6 ms off a no-op status.
  minifyWhitespace: true,
  minifySyntax: true,
};
const cjs = {
  ...common,
  plugins: [packages, ownRequire],
  format: 'cjs',
  define: {
    'import.meta.url': '__strataModuleUrl',
    'import.meta.dirname': '__dirname',
    'import.meta.filename': '__filename',
  },
  metafile: true,
  banner: {
    js: [
      "var __strataModuleUrl = require('node:url').pathToFileURL(__filename).href;",
      'var __strataNamespace = (m) => ({ ...m, default: m });',
    ].join('\n'),
  },
};

/**
 * Rewrites the bundle as pure ASCII, for the launcher to read as latin1: a JavaScript source with any other
 * character is a two-byte string for V8, slower to read, decode and hash (~5-8 ms of every command here,
 * against ~2-3). esbuild already escapes non-ASCII characters in code (charset 'ascii'), so what is left is
 * in comments (JSDoc it keeps); those are escaped as \uXXXX, and anything else fails the build.
 */
function asciiOnly(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const bad = /[\u0080-\uffff]/;
  lines.forEach((l, i) => {
    if (bad.test(l) && !/^\s*(\/\*|\*|\/\/)/.test(l))
      throw new Error(`${file}:${i + 1}: a non-ASCII character outside a comment line`);
  });
  const text = lines
    .join('\n')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  writeFileSync(file, text);
}

rmSync(out, { recursive: true, force: true });
for (const [entry, file] of [
  ['src/cli/main.ts', 'strata-main.cjs'],
  ['src/cli/fast-main.ts', 'strata-fast.cjs'],
  ['src/cli/bin.ts', 'strata.cjs'],
]) {
  const plugins = [packagesInlining(file === 'strata-main.cjs' ? INLINE_MAIN : INLINE), ownRequire];
  noDynamicImport(
    await build({ ...cjs, plugins, entryPoints: [join(root, entry)], outfile: join(out, file) }),
  );
  asciiOnly(join(out, file));
}
for (const [name, src] of urlEntries())
  await build({ ...common, format: 'esm', entryPoints: [src], outfile: join(out, `${name}.js`) });
chmodSync(join(out, 'strata.cjs'), 0o755);
console.log(`bundled the CLI into ${relative(process.cwd(), out) || '.'}`);
