/**
 * What a command loads (issue 6): a no-op `status` or `commit` must not pay for the diff, pin, remote, S3,
 * Parquet/CSV or compression code it never runs. Not a timing test: the built CLI runs with a module-load
 * hook (ES modules through module.register, CommonJS through require.cache at exit) that lists every module
 * the process loaded, and the tests assert on that list.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, strata, tempDir, type CliResult } from '../core/helpers.js';
import { git as gitIn } from '../pin/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SRC_CLI = join(ROOT, 'src', 'cli');
/** The `strata` bin as `npm run build` makes it (scripts/build-cli.mjs). */
const BIN_DIR = join(ROOT, 'dist', 'bin');

/** Never loaded by a no-op status or commit: the package or dist path, and why it would be there. */
const NEVER_FOR_NO_OP: [RegExp, string][] = [
  [/\/dist\/core\/diff\/(?!detect\.js$)/, 'the diff engine'],
  [/\/dist\/core\/pin\/(?!lock-file\.js$)/, 'pins'],
  [/\/dist\/core\/remote\//, 'remotes'],
  [/\/dist\/core\/(merge|fsck|checkout|history)\.js$/, 'commands other than status/commit'],
  [/\/dist\/cli\/diff-output\.js$/, 'diff rendering'],
  [/\/dist\/storage\/(s3-store|open-store|local-store|retry-store|limit-store)\.js$/, 'remote stores'],
  [/\/node_modules\/@aws-sdk\//, 'the S3 SDK'],
  [/\/node_modules\/isomorphic-git\//, 'isomorphic-git'],
  [/\/node_modules\/hyparquet\//, 'the Parquet reader'],
  [/\/node_modules\/csv-parse\//, 'the CSV parser'],
  [/\/node_modules\/diff\//, 'the line-diff library'],
  [/\/node_modules\/cli-progress\//, 'progress bars (no TTY here)'],
  [/\/node_modules\/picomatch\//, 'attribute globs (only a file to hash needs its format)'],
  [/\/node_modules\/bindings\//, "better-sqlite3's addon search (index-db.ts names the addon)"],
  [/\/node_modules\/ignore\//, 'the ignore package (no .strataignore here: the built-in rules need none)'],
  [/\/dist\/cli\/commands\/(?!worktree\.js$)/, 'the command files of other commands'],
  [/^node:crypto$/, "node:crypto (the lock's nonce needs none, hashing is BLAKE3's)"],
  [/^node:tty$/, 'node:tty (output to a pipe is not a terminal: output.ts isTerminal)'],
];

/** Not loaded by the plain forms of status and commit (src/cli/fast-path.ts). */
const COMMANDER: [RegExp, string][] = [
  [/\/node_modules\/commander\//, 'commander'],
  [/\/dist\/cli\/registry\.js$/, 'the command registry'],
];

/** Only a cache miss (a file to hash) needs these. */
const HASHING: [RegExp, string][] = [
  [/\/dist\/core\/worktree\/(ingest|chunk-sink|delta-encoder|formats)\.js$/, 'ingest'],
  [/\/dist\/storage\/compress-pool\.js$/, 'the compression pool'],
];

let hookDir: string;
let repo: string;

/** Runs the CLI with the load hook; returns its result and the list of loaded module paths. */
function traced(cwd: string, args: string[]): CliResult & { loaded: string[] } {
  const log = join(hookDir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(log, '');
  const r = strata(cwd, args, {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(hookDir, 'preload.mjs')}`.trim(),
    STRATA_LOAD_LOG: log,
  });
  const loaded = [
    ...new Set(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((u) => (u.startsWith('file://') ? new URL(u).pathname : u)),
    ),
  ];
  return { ...r, loaded };
}

const offenders = (loaded: string[], rules: [RegExp, string][]): string[] =>
  loaded.flatMap((p) => rules.filter(([re]) => re.test(p)).map(([, why]) => `${p} (${why})`));

beforeAll(() => {
  hookDir = tempDir('strata-load-hook-');
  writeFileSync(
    join(hookDir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function load(url, context, next) {
  if (log) appendFileSync(log, url + '\\n');
  return next(url, context);
}
`,
  );
  writeFileSync(
    join(hookDir, 'preload.mjs'),
    `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const log = process.env.STRATA_LOAD_LOG;
if (log) {
  register('./hooks.mjs', import.meta.url, { data: { log } });
  const require = createRequire(import.meta.url);
  const builtins = () => process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => 'node:' + m.slice(13));
  process.on('exit', () => appendFileSync(log, [...Object.keys(require.cache), ...builtins()].join('\\n') + '\\n'));
}
`,
  );
  repo = tempDir('strata-startup-');
  writeFileSync(join(repo, 'train.jsonl'), '{"id":1,"text":"a"}\n{"id":2,"text":"b"}\n');
  writeFileSync(join(repo, 'table.csv'), 'id,text\n1,a\n2,b\n');
  // Attributes as the bench sets them: a no-op must not compile their globs either.
  writeFileSync(join(repo, '.strataattributes'), '*.jsonl format=jsonl key=id\n*.csv format=csv key=id\n');
  ok(repo, ['init']);
  ok(repo, ['add', '.']);
  ok(repo, ['commit', '-m', 'v0']);
  ok(repo, ['status']); // settles the stat cache (files written in the same clock tick are re-hashed once)
});

afterAll(() => {
  rmSync(hookDir, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

describe('modules a command loads', () => {
  it('the hook sees both ES modules and CommonJS packages (the other tests are not vacuous)', () => {
    const r = traced(repo, ['status']);
    expect(r.code).toBe(0);
    expect(r.loaded.some((p) => p.endsWith('/dist/cli/main.js'))).toBe(true);
    expect(r.loaded.some((p) => p.endsWith('/dist/core/status.js'))).toBe(true);
    expect(r.loaded.some((p) => /\/node_modules\/better-sqlite3\//.test(p))).toBe(true);
    expect(r.loaded).toContain('node:fs'); // and Node's own modules
    const log = traced(repo, ['log']);
    expect(log.code).toBe(0);
    expect(log.loaded.some((p) => /\/node_modules\/commander\//.test(p))).toBe(true);
  });

  it('a no-op status loads no diff, pin, remote, S3, Parquet/CSV or hashing code', () => {
    const r = traced(repo, ['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to commit, working tree clean');
    expect(offenders(r.loaded, [...NEVER_FOR_NO_OP, ...HASHING, ...COMMANDER])).toEqual([]);
  });

  it('a no-op status --json and -C from elsewhere load the same little', () => {
    const r = traced(hookDir, ['-C', repo, 'status', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { staged: unknown[]; unstaged: unknown[]; branch: string };
    expect(s).toMatchObject({ branch: 'main', staged: [], unstaged: [] });
    expect(offenders(r.loaded, [...NEVER_FOR_NO_OP, ...HASHING, ...COMMANDER])).toEqual([]);
  });

  it('a no-op commit -a exits 1 (nothing to commit) without loading them either', () => {
    const r = traced(repo, ['commit', '-a', '-m', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[NOTHING_TO_COMMIT]');
    expect(offenders(r.loaded, [...NEVER_FOR_NO_OP, ...HASHING, ...COMMANDER])).toEqual([]);
  });

  it('other spellings go through commander, with the same answers and errors', () => {
    // `--` and `-am` are commander's: the fast path leaves them to it.
    const fast = traced(repo, ['status', '--json']);
    const slow = traced(repo, ['status', '--json', '--']);
    expect(slow.code).toBe(0);
    expect(slow.stdout).toBe(fast.stdout);
    expect(offenders(slow.loaded, COMMANDER).length).toBeGreaterThan(0);
    expect(offenders(slow.loaded, [...NEVER_FOR_NO_OP, ...HASHING])).toEqual([]);
    const am = traced(repo, ['commit', '-am', 'x']);
    expect(am.code).toBe(1);
    expect(am.stderr).toContain('[NOTHING_TO_COMMIT]');
    expect(offenders(am.loaded, COMMANDER).length).toBeGreaterThan(0);
    const extra = traced(repo, ['status', 'extra']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("too many arguments for 'status'");
    const noMessage = traced(repo, ['commit', '-a']);
    expect(noMessage.code).toBe(2);
    expect(noMessage.stderr).toContain("required option '-m, --message <msg>' not specified");
  });

  it('a command loads only the command file it is in', () => {
    const r = traced(repo, ['log']);
    expect(r.code).toBe(0);
    expect(
      r.loaded.filter((p) => /\/dist\/cli\/commands\//.test(p)).map((p) => p.replace(/.*\//, '')),
    ).toEqual(['history.js']);
  });

  it('a modified file is hashed (ingest loads on demand) and reported, still without diff/pin/remote', () => {
    const dir = tempDir('strata-startup-mod-');
    try {
      writeFileSync(join(dir, 'a.jsonl'), '{"id":1}\n');
      ok(dir, ['init']);
      ok(dir, ['add', '.']);
      ok(dir, ['commit', '-m', 'v0']);
      writeFileSync(join(dir, 'a.jsonl'), '{"id":2}\n'); // same size: only hashing can tell
      const r = traced(dir, ['status', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ unstaged: [{ path: 'a.jsonl', kind: 'modified' }] });
      expect(offenders(r.loaded, HASHING).length).toBeGreaterThan(0);
      expect(offenders(r.loaded, NEVER_FOR_NO_OP)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a command that needs them still gets them (diff loads the diff engine)', () => {
    const r = traced(repo, ['diff', '--stat', 'HEAD']);
    expect(r.code).toBe(0);
    expect(r.loaded.some((p) => /\/dist\/core\/diff\/diff-revisions\.js$/.test(p))).toBe(true);
  });

  it('every command is still registered (help lists them without loading core)', () => {
    const r = traced(repo, ['--help']);
    expect(r.code).toBe(0);
    for (const c of ['init', 'add', 'commit', 'status', 'log', 'fsck', 'branch', 'switch', 'diff', 'merge']) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
    }
    for (const c of ['pin', 'export', 'verify', 'lock', 'remote', 'push', 'fetch', 'pull', 'clone']) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
    }
    expect(
      r.loaded.filter((p) => /\/dist\/(core|storage)\/(repository|index-db|status)\.js$/.test(p)),
    ).toEqual([]);
  });
});

describe('command files', () => {
  /** Value imports a command file may make at its top: the error type and constants shown in help. */
  const ALLOWED_CORE = new Set(['../../core/errors.js', '../../core/pin/lock-file.js']);

  it('import core only inside their actions (import type at the top)', () => {
    const dir = join(SRC_CLI, 'commands');
    const bad: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) {
        const spec = m[1]!;
        if ((spec.includes('/core/') || spec.includes('/storage/')) && !ALLOWED_CORE.has(spec))
          bad.push(`${f}: import … from '${spec}'`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the CLI never imports the core barrel (it loads every module of the library)', () => {
    const files = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : [],
      );
    const bad = files(SRC_CLI).filter((f) =>
      /from\s+'[./]+core\/index\.js'|import\(\s*'[./]+core\/index\.js'\s*\)/.test(readFileSync(f, 'utf8')),
    );
    expect(bad).toEqual([]);
  });
});

describe('the bin (dist/bin/strata.cjs: the bundled CLI, with a code cache)', () => {
  /** A copy of dist/bin inside dist/ (node_modules is found from there), with a code cache of its own. */
  let bin: string;
  let binDir: string;

  beforeAll(() => {
    binDir = mkdtempSync(join(ROOT, 'dist', 'bin-test-'));
    for (const f of readdirSync(BIN_DIR).filter((n) => n !== '.cache'))
      copyFileSync(join(BIN_DIR, f), join(binDir, f));
    bin = join(binDir, 'strata.cjs');
  });

  afterAll(() => rmSync(binDir, { recursive: true, force: true }));

  const run = (cwd: string, args: string[], env: Record<string, string> = {}, exe = bin): CliResult => {
    const r = spawnSync(process.execPath, [exe, ...args], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      env: { ...process.env, STRATA_AUTHOR: 'Test <test@example.com>', STRATA_NO_PROVENANCE: '1', ...env },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const cacheFiles = (): string[] =>
    existsSync(join(binDir, '.cache')) ? readdirSync(join(binDir, '.cache')).sort() : [];

  it('answers as dist/cli/main.js does, from any directory, and run through a symlink as npm links it', () => {
    for (const args of [
      ['status', '--json'],
      ['status', '-s'],
      ['log', '--oneline'],
      ['commit', '-a', '-m', 'x'],
    ]) {
      const want = strata(repo, args);
      expect(run(repo, args)).toEqual(want);
      expect(run(hookDir, ['-C', repo, ...args])).toEqual(want);
    }
    expect(run(hookDir, ['status'])).toMatchObject({
      code: 3,
      stderr: expect.stringContaining('[NOT_A_REPOSITORY]'),
    });
    expect(run(repo, ['--version']).stdout).toBe(strata(repo, ['--version']).stdout);
    const link = join(hookDir, 'strata');
    symlinkSync(bin, link);
    const r = spawnSync(link, ['status'], {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('nothing to commit, working tree clean');
  });

  it('the fast path writes to its descriptors itself: a reader gone (EPIPE) ends status quietly with 0', () => {
    // A pipe whose read end is closed before strata starts: its first write fails with EPIPE. (python3: Node
    // cannot hand a child a raw pipe; it is on every machine that runs the S3 suite.)
    const py = [
      'import os, subprocess, sys',
      'r, w = os.pipe(); os.close(r)',
      'p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)',
      'sys.stdout.write(str(p.returncode) + "\\n" + p.stderr.decode())',
    ].join('\n');
    for (const args of [['status'], ['status', '--json'], ['commit', '-a', '-m', 'x', '--json']]) {
      const r = spawnSync('python3', ['-c', py, process.execPath, bin, ...args], {
        cwd: repo,
        encoding: 'utf8',
        env: { ...process.env, STRATA_AUTHOR: 'Test <test@example.com>', STRATA_NO_PROVENANCE: '1' },
      });
      const [code, ...stderr] = r.stdout.split('\n');
      // commit -a on a clean tree: exit 1, NOTHING_TO_COMMIT, whose JSON error line meets the closed pipe.
      expect({ args, code }).toEqual({ args, code: args[0] === 'commit' ? '1' : '0' });
      expect(stderr.join('\n')).not.toContain('internal error');
    }
  });

  it('a no-op status loads no package it does not need, and of better-sqlite3 only its native addon', () => {
    const r = traced(repo, ['status']);
    const viaBin = ((): string[] => {
      const log = join(hookDir, 'bin-loaded.txt');
      writeFileSync(log, '');
      const b = run(repo, ['status'], {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${join(hookDir, 'preload.mjs')}`.trim(),
        STRATA_LOAD_LOG: log,
      });
      expect(b.stdout).toBe(r.stdout);
      return readFileSync(log, 'utf8').split('\n').filter(Boolean);
    })();
    expect(viaBin).toContain(bin); // (the bundle it runs is compiled by vm, not require()d)
    expect(offenders(viaBin, [...NEVER_FOR_NO_OP, ...COMMANDER])).toEqual([]);
    const sqlite = viaBin.filter((p) => p.includes('/node_modules/better-sqlite3/'));
    expect(sqlite.length).toBeGreaterThan(0);
    expect(sqlite.every((p) => p.endsWith('.node'))).toBe(true);
    expect(viaBin.some((p) => /\/dist\/(core|storage|cli)\//.test(p))).toBe(false); // nothing from tsc's dist
  });

  it('starts compression workers from its own directory (a worker file for every new URL(..., import.meta.url))', () => {
    const workers = [
      ...readFileSync(join(ROOT, 'src/storage/compress-pool.ts'), 'utf8').matchAll(
        /new URL\('\.\/([\w-]+\.js)'/g,
      ),
    ];
    expect(workers.map((m) => m[1])).toEqual(['compress-worker.js']);
    expect(existsSync(join(binDir, 'compress-worker.js'))).toBe(true);
    const dir = tempDir('strata-bin-worker-');
    try {
      let text = '';
      for (let i = 0; i < 20000; i++)
        text += `{"id":${i},"text":"${(i * 2654435761) % 4294967296} ${'x'.repeat(i % 97)}"}\n`;
      writeFileSync(join(dir, 'a.jsonl'), text);
      const log = join(dir, 'workers.txt');
      const preload = join(dir, 'workers.cjs');
      writeFileSync(
        preload,
        `process.on('worker', () => require('node:fs').appendFileSync(${JSON.stringify(log)}, 'worker\\n'));\n`,
      );
      expect(run(dir, ['init']).code).toBe(0);
      const add = run(dir, ['add', 'a.jsonl'], { NODE_OPTIONS: `--require ${preload}` });
      expect(add).toMatchObject({ code: 0, stdout: 'add a.jsonl\n' });
      expect(readFileSync(log, 'utf8')).toContain('worker');
      expect(run(dir, ['commit', '-m', 'v0']).code).toBe(0);
      expect(run(dir, ['cat', 'HEAD:a.jsonl']).stdout).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('commits record code provenance (isomorphic-git, loaded by require) with and without a cache', () => {
    const code = tempDir('strata-bin-git-');
    try {
      const git = (args: string[]): string => gitIn(code, args);
      git(['init', '-q', '-b', 'main']);
      writeFileSync(join(code, '.gitignore'), 'data/\n');
      git(['add', '.']);
      git(['commit', '-q', '-m', 'code']);
      const data = join(code, 'data');
      mkdirSync(data);
      const env = { STRATA_NO_PROVENANCE: '' };
      expect(run(data, ['init'], env).code).toBe(0);
      rmSync(join(binDir, '.cache'), { recursive: true, force: true });
      for (const v of ['1', '2']) {
        // The first commit writes the cache, the second runs from it.
        writeFileSync(join(data, 'a.jsonl'), `{"id":${v}}\n`);
        expect(run(data, ['add', 'a.jsonl'], env).code).toBe(0);
        expect(run(data, ['commit', '-m', v], env)).toMatchObject({ code: 0, stderr: '' });
        const show = JSON.parse(run(data, ['show', 'HEAD', '--json'], env).stdout) as {
          meta: { code: unknown };
        };
        expect(show.meta.code).toMatchObject({ commit: git(['rev-parse', 'HEAD']), dirty: false });
      }
      expect(cacheFiles().some((f) => f.endsWith('-commit.v8'))).toBe(true);
    } finally {
      rmSync(code, { recursive: true, force: true });
    }
  });

  it('the bundle is pure ASCII (the launcher reads it as latin1) and keeps non-ASCII text as escapes', () => {
    const bytes = readFileSync(join(BIN_DIR, 'strata-main.cjs'));
    expect(bytes.findIndex((b) => b > 0x7f)).toBe(-1);
    // src/ has non-ASCII characters (comments, and strings such as the diff's arrow): they are escaped.
    expect(readFileSync(join(ROOT, 'src', 'cli', 'diff-output.ts'), 'utf8')).toMatch(/[\u0080-\uffff]/);
    expect(bytes.toString('latin1')).toMatch(/\\u(2192|00b5|00d7|2014)/);
  });

  it('code cache: written by the first run of a command, used as it is by the next, rewritten when refused', () => {
    rmSync(join(binDir, '.cache'), { recursive: true, force: true });
    // A cache of another build or Node is dropped when a cache is written.
    const stale = join(binDir, '.cache', 'v0.0.0-x64-1-1-status.v8');
    ok(hookDir, ['-C', repo, 'status']); // (dist/cli/main.js: writes nothing in binDir)
    run(repo, ['status'], { STRATA_COMPILE_CACHE: '0' });
    expect(cacheFiles()).toEqual([]);
    run(repo, ['--version']);
    writeFileSync(stale, 'old');
    expect(run(repo, ['status']).stdout).toContain('nothing to commit');
    const files = cacheFiles();
    expect(files).toHaveLength(2);
    // --version: no command word, the whole CLI's bundle; status: the fast path's bundle (strata-fast.cjs).
    expect(files.some((f) => f.startsWith('main-') && f.endsWith('--.v8'))).toBe(true);
    expect(files.some((f) => f.startsWith('fast-') && f.endsWith('-status.v8'))).toBe(true);
    const status = join(
      binDir,
      '.cache',
      files.find((f) => f.endsWith('-status.v8'))!,
    );
    expect(existsSync(stale)).toBe(false);
    const first = readFileSync(status);
    const mtime = statSync(status).mtimeMs;
    expect(run(repo, ['-C', repo, 'status']).stdout).toContain('nothing to commit');
    expect(statSync(status).mtimeMs).toBe(mtime); // accepted: not written again
    expect(readFileSync(status).equals(first)).toBe(true);
    // Damaged: V8 refuses it, the command runs all the same, and the cache is written anew.
    writeFileSync(status, Buffer.alloc(first.length, 7));
    expect(run(repo, ['status', '--json'])).toMatchObject({
      code: 0,
      stdout: strata(repo, ['status', '--json']).stdout,
    });
    expect(readFileSync(status).equals(Buffer.alloc(first.length, 7))).toBe(false);
    expect(cacheFiles()).toHaveLength(2);
    // A cache written for one bundle leaves the other's alone (they are different builds of nothing).
    const before = readFileSync(status);
    expect(run(repo, ['log', '--oneline']).code).toBe(0);
    expect(cacheFiles()).toHaveLength(3);
    expect(readFileSync(status).equals(before)).toBe(true);
    // `diff` changes a V8 setting (engine-tuning.ts): its cache is still made under the start-up flags, so the
    // next diff accepts it (a cache made under others was refused and written again by every diff).
    expect(run(repo, ['diff', 'HEAD', 'HEAD', '--stat']).code).toBe(0);
    const diff = join(
      binDir,
      '.cache',
      cacheFiles().find((f) => f.endsWith('-diff.v8'))!,
    );
    const written = statSync(diff).mtimeMs;
    const bytes = readFileSync(diff);
    expect(run(repo, ['diff', 'HEAD', 'HEAD', '--stat']).code).toBe(0);
    expect(statSync(diff).mtimeMs).toBe(written);
    expect(readFileSync(diff).equals(bytes)).toBe(true);
    // Nor does a run that exposed V8's gc for the memory limit (memory-limit.ts) leave a cache made under it.
    const dir = tempDir('strata-cache-gc-');
    try {
      writeFileSync(join(dir, 'a.jsonl'), '{"id":1}\n');
      expect(run(dir, ['init']).code).toBe(0);
      expect(run(dir, ['add', '.']).code).toBe(0);
      expect(run(dir, ['commit', '-m', 'v0']).code).toBe(0);
      writeFileSync(join(dir, 'a.jsonl'), '{"id":2}\n');
      rmSync(diff);
      // 1 MiB: every memory check collects, through the gc it exposes.
      expect(run(dir, ['diff', '--stat'], { STRATA_MEMORY_LIMIT: '1' }).stdout).toContain('a.jsonl');
      const madeUnderGc = statSync(diff).mtimeMs;
      expect(run(dir, ['diff', '--stat']).code).toBe(0);
      expect(statSync(diff).mtimeMs).toBe(madeUnderGc);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the small bundle for the fast path only, with the same answers and exit codes as the whole CLI', () => {
    // Which bundle ran: the one whose code cache the run wrote (`main-...` or `fast-...`, bin.ts).
    const bundles = (args: string[], cwd = repo): string[] => {
      rmSync(join(binDir, '.cache'), { recursive: true, force: true });
      run(cwd, args);
      return cacheFiles().map((f) => `strata-${f.split('-')[0]}.cjs`);
    };
    expect(bundles(['status'])).toEqual(['strata-fast.cjs']);
    expect(bundles(['commit', '-a', '-m', 'x', '--json'])).toEqual(['strata-fast.cjs']);
    expect(bundles(['status', '-v'])).toEqual(['strata-main.cjs']); // not the fast path's: commander's error
    expect(bundles(['log'])).toEqual(['strata-main.cjs']);
    for (const [cwd, args] of [
      [hookDir, ['status']],
      [hookDir, ['status', '--json']],
      [repo, ['commit', '-a', '-m', 'x']],
      [repo, ['commit', '-a', '-m', 'x', '--json']],
    ] as const)
      expect(run(cwd, [...args])).toEqual(strata(cwd, [...args]));
  });
});
