/**
 * What a command loads (issue 6): a no-op `status` or `commit` must not pay for the diff, pin, remote, S3,
 * Parquet/CSV or compression code it never runs. Not a timing test: the built CLI runs with a module-load
 * hook (ES modules through module.register, CommonJS through require.cache at exit) that lists every module
 * the process loaded, and the tests assert on that list.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, strata, tempDir, type CliResult } from '../core/helpers.js';

const SRC_CLI = join(import.meta.dirname, '..', '..', 'src', 'cli');

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
  process.on('exit', () => appendFileSync(log, Object.keys(require.cache).join('\\n') + '\\n'));
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
