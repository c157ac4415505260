/**
 * Crash harness: SIGKILLs a strata CLI child at many seeded pseudo-random moments of one operation and
 * checks, after every kill, what the repository promises (docs/reliability/crash-and-concurrency.md):
 *
 * - `fsck` finds no problem (dangling temp/pack files, which fsck documents as harmless, are allowed);
 * - every revision recorded before the operation reads back byte-identical;
 * - HEAD is in the state before or after the operation, never in between;
 * - every working-tree file has its old or its new content (leftover `.strata-tmp-*` files aside, which
 *   are ignored and counted), and a file `status` reports clean really has its HEAD/index bytes;
 * - the operation's own extra checks (e.g. a remote ref names a complete commit);
 * - re-running the operation (in process, through the library) succeeds and ends in the expected state.
 *
 * Adding an operation is one `CrashOp` table entry: how to build its pristine template, the CLI
 * arguments, how to re-run it through the library, and optional extra checks. Each kill starts from a
 * copy of the template. Kill moments are spread over the measured duration of an unkilled run: a tenth in
 * the process start-up, most over the working part, a few around the very end.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { fsck, readHead, Repository, status } from '../../src/core/index.js';
import {
  LocalObjectReader,
  manifestSpans,
  readCommit,
  readManifest,
  readTree,
  type ObjectReader,
} from '../../src/core/object-reader.js';
import { CLI } from '../core/helpers.js';
import { rng } from '../helpers/prng.js';

export const CHILD_ENV: Record<string, string> = {
  STRATA_AUTHOR: 'Crash Test <crash@example.com>',
  STRATA_NO_PROVENANCE: '1',
  STRATA_NO_PROGRESS: '1',
  NO_COLOR: '1',
};

/** Runs the CLI to completion (for building templates); throws on a non-zero exit. */
export function cli(cwd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...CHILD_ENV, ...env },
  });
  if (r.status !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/**
 * cli without blocking this process: a lane's re-run must not hold up the other lanes' kill timers and
 * /proc polls (with spawnSync they fired late, and kills were counted as before the open).
 */
export function cliAsync(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, encoding: 'utf8', env: { ...process.env, ...CHILD_ENV, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`strata ${args.join(' ')} failed (${String(err.code)}): ${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Working-tree files (not .strata/) → SHA-256; `.strata-tmp-*` leftovers are returned apart. */
export function worktreeSnapshot(dir: string): { files: Map<string, string>; leftovers: string[] } {
  const files = new Map<string, string>();
  const leftovers: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      if (n === '.strata' && d === dir) continue;
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.startsWith('.strata-tmp-')) leftovers.push(relative(dir, p));
      else files.set(relative(dir, p), sha256(readFileSync(p)));
    }
  };
  walk(dir);
  return { files, leftovers };
}

/** SHA-256 of a file's bytes as a manifest describes them (any span sub-range), through any reader. */
export async function contentSha(r: ObjectReader, manifest: string): Promise<string> {
  const h = createHash('sha256');
  const m = await readManifest(r, manifest);
  for await (const [chunk, offset, length] of manifestSpans(r, m)) {
    const bytes = await r.get(chunk);
    h.update(bytes.subarray(offset, offset + length));
  }
  return h.digest('hex');
}

/** path → manifest hash of every file of a tree. */
export async function treeFiles(r: ObjectReader, tree: string, pre = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of (await readTree(r, tree)).entries) {
    const p = pre ? `${pre}/${e.name}` : e.name;
    if (e.kind === 'tree') for (const [k, v] of await treeFiles(r, e.hash, p)) out.set(k, v);
    else out.set(p, e.hash);
  }
  return out;
}

/** path → SHA-256 of the bytes of every file of a commit, read through `r` (re-hashing every object). */
export async function revisionContent(
  r: ObjectReader,
  commit: string,
  cache?: Map<string, string>,
): Promise<Map<string, string>> {
  const c = await readCommit(r, commit);
  const out = new Map<string, string>();
  for (const [p, m] of await treeFiles(r, c.tree)) out.set(p, await cachedContentSha(r, m, cache));
  return out;
}

/**
 * contentSha through a cache keyed by manifest hash. Sound once fsck has re-hashed every object: a
 * manifest's hash then fixes the chunks it names, hence the bytes.
 */
export async function cachedContentSha(
  r: ObjectReader,
  manifest: string,
  cache?: Map<string, string>,
): Promise<string> {
  const hit = cache?.get(manifest);
  if (hit) return hit;
  const sha = await contentSha(r, manifest);
  cache?.set(manifest, sha);
  return sha;
}

/** What a repository looks like from outside: HEAD (symbolic or not), its tree, the working tree. */
export interface RepoState {
  head: string;
  tree: string | null;
  files: Map<string, string>;
}

export function repoState(dir: string): RepoState {
  const repo = Repository.open(dir);
  try {
    const head = repo.db.getRef('HEAD')!;
    const c = readHead(repo).commit;
    return { head, tree: c ? repo.objects.commit(c).tree : null, files: worktreeSnapshot(dir).files };
  } finally {
    repo.close();
  }
}

/** Every commit reachable from any ref, with the content of its files. */
export async function recordRevisions(dir: string): Promise<Map<string, Map<string, string>>> {
  const repo = Repository.open(dir);
  try {
    const r = new LocalObjectReader(repo.objects);
    const out = new Map<string, Map<string, string>>();
    const stack = repo.db.listRefs('refs/').map((x) => x.target);
    while (stack.length) {
      const c = stack.pop()!;
      if (out.has(c)) continue;
      out.set(c, await revisionContent(r, c));
      stack.push(...repo.objects.commit(c).parents);
    }
    return out;
  } finally {
    repo.close();
  }
}

export interface Template {
  /** Holds `repo/` and, for remote operations, `remote/` (or whatever the op builds). */
  dir: string;
  before: RepoState;
  after: RepoState;
  revisions: Map<string, Map<string, string>>;
  /** Wall time of an unkilled run of the CLI (ms). */
  durationMs: number;
  /** When that run opened the repository's index (ms after the spawn): the end of its start-up. */
  openMs: number;
  /** When it took `.strata/lock`, if it did (ms after the spawn). */
  lockMs: number | null;
  /** Free-form data the op keeps for its checks (e.g. the expected remote commit). */
  data: Record<string, unknown>;
  /** manifest hash → SHA-256 of the file's bytes (see cachedContentSha). */
  contentCache: Map<string, string>;
}

export interface Lane {
  id: number;
  /** Directory of this lane: `repo/` (+ `remote/` ...) are reset from the template before every run. */
  dir: string;
  repo: string;
  /** A counter of runs in this lane (used for fresh S3 prefixes). */
  run: number;
}

export interface CrashOp {
  name: string;
  args: string[];
  /** Builds the pristine state in `dir` (at least `dir/repo`); may stash data for checks. */
  build(dir: string, data: Record<string, unknown>): Promise<void>;
  /** Resets a lane from the template; default: copy `repo/` (and `remote/` when the template has one). */
  reset?(lane: Lane, tpl: Template): Promise<void>;
  /** Re-runs the operation in process after a kill. */
  rerun(repo: Repository, lane: Lane, tpl: Template): Promise<void>;
  /** Extra checks; `phase` is 'killed' (state may be old or new) or 'rerun' (must be new). */
  check?(lane: Lane, tpl: Template, phase: 'killed' | 'rerun'): Promise<void>;
  /** Extra environment for the child. */
  env?: (lane: Lane) => Record<string, string>;
}

export interface CrashReport {
  op: string;
  attempts: number;
  kills: number;
  completedBeforeKill: number;
  earliestKillMs: number;
  latestKillMs: number;
  durationMs: number;
  startupMs: number;
  /** Baseline: when the index was opened, and the lock taken (ms after the spawn). */
  openMs: number;
  lockMs: number | null;
  /** Kills that landed after the child had opened the index / while it held the lock. */
  killsAfterOpen: number;
  killsWhileLocked: number;
  leftoverTempFiles: number;
  danglingPackFiles: number;
  /** Kills after which `.strata/lock` was left behind (broken by the next command). */
  killedWithLockHeld: number;
  elapsedMs: number;
}

/** Copies a directory tree (the template) over a fresh destination. */
export function copyFresh(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}

/** A kill moment: `ms` after the spawn, or after the child opened the repository's index. */
export interface KillPoint {
  anchor: 'spawn' | 'open';
  ms: number;
}

/** Whether process `pid` has `file` open (Linux /proc); false when it cannot be told. */
function hasOpen(pid: number, file: string): boolean {
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === file) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* gone, or no /proc */
  }
  return false;
}

interface RunResult {
  code: number | null;
  ms: number;
  /** When the child was seen holding the repository index open (its real work starts). */
  openMs: number | null;
  /** When `.strata/lock` was first seen. */
  lockMs: number | null;
  /** When the SIGKILL went out (ms after the spawn), if the child was killed. */
  killedAtMs: number | null;
  stderr: string;
}

/**
 * Starts the CLI in `repo` and SIGKILLs it at `kill` (null: never). Start-up time varies by hundreds of
 * milliseconds on a loaded machine, more than many operations' real work, so kill moments are measured
 * from when the child is seen (polling /proc every 2 ms) holding the repository's index open. The kill is
 * sent from this process, which reaps the child: a killer that exits first, like `timeout -s KILL`, leaves
 * a zombie that still looks alive.
 */
function runKilled(
  repo: string,
  args: string[],
  kill: KillPoint | null,
  env: Record<string, string>,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const indexFile = join(repo, '.strata', 'index.sqlite');
    const lockFile = join(repo, '.strata', 'lock');
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: repo,
      env: { ...process.env, ...CHILD_ENV, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let openMs: number | null = null;
    let lockMs: number | null = null;
    let killedAtMs: number | null = null;
    let timer: NodeJS.Timeout | undefined;
    // Whether the child has the index open or holds the lock is looked at once more just before the kill:
    // this process's event loop can be held up (another lane's synchronous re-run), and the kill timer can
    // then fire before the poll has had a turn to see an open that happened long before.
    const look = (now: number): void => {
      if (lockMs === null && existsSync(lockFile)) lockMs = now;
      if (openMs === null && child.pid !== undefined && hasOpen(child.pid, indexFile)) {
        openMs = now;
        if (kill?.anchor === 'open') arm(kill.ms);
      }
    };
    const arm = (ms: number): void => {
      timer = setTimeout(() => {
        killedAtMs = performance.now() - t0;
        if (kill?.anchor === 'spawn') look(killedAtMs);
        child.kill('SIGKILL');
      }, ms);
    };
    if (kill?.anchor === 'spawn') arm(kill.ms);
    const poll = setInterval(() => {
      look(performance.now() - t0);
      if (openMs !== null && (lockMs !== null || kill === null || killedAtMs !== null)) {
        if (kill !== null) clearInterval(poll);
      }
    }, 2);
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({
        code: sig === 'SIGKILL' ? 137 : code,
        ms: performance.now() - t0,
        openMs,
        lockMs,
        killedAtMs: sig === 'SIGKILL' ? killedAtMs : null,
        stderr,
      });
    });
  });
}

/** Start-up time of the CLI on this machine right now (`strata --version`, best of 2). */
export async function measureStartup(): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 2; i++)
    best = Math.min(best, (await runKilled(process.cwd(), ['--version'], null, {})).ms);
  return best;
}

/** A planned kill: `ms` after the spawn, or `frac` × the (current estimate of the) working time after open. */
export type PlannedKill = { anchor: 'spawn'; ms: number } | { anchor: 'open'; frac: number };

/**
 * `count` kill moments: 10% uniformly over the start-up (from the spawn, up to the measured moment the
 * index is opened), 85% stratified from the opening of the index to 1.2 × the working time (a loaded
 * machine stretches it), 5% around and past the end (1.1–1.4 ×).
 */
export function killPlan(seed: number, count: number, startupMs: number): PlannedKill[] {
  const r = rng(seed);
  const early = Math.max(2, Math.round(count * 0.1));
  const late = Math.max(2, Math.round(count * 0.05));
  const mid = count - early - late;
  const out: PlannedKill[] = [];
  for (let i = 0; i < early; i++) out.push({ anchor: 'spawn', ms: r() * startupMs });
  for (let i = 0; i < mid; i++) out.push({ anchor: 'open', frac: ((i + r()) / mid) * 1.2 });
  for (let i = 0; i < late; i++) out.push({ anchor: 'open', frac: 1.1 + 0.3 * r() });
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function defaultReset(lane: Lane, tpl: Template): Promise<void> {
  copyFresh(join(tpl.dir, 'repo'), lane.repo);
  if (existsSync(join(tpl.dir, 'remote'))) copyFresh(join(tpl.dir, 'remote'), join(lane.dir, 'remote'));
}

/** Builds the template: the op's build, then baseline runs to record the after-state and the duration. */
export async function buildTemplate(op: CrashOp, root: string): Promise<Template> {
  const dir = join(root, 'template');
  mkdirSync(dir, { recursive: true });
  const data: Record<string, unknown> = {};
  await op.build(dir, data);
  const before = repoState(join(dir, 'repo'));
  const revisions = await recordRevisions(join(dir, 'repo'));
  const tpl: Template = {
    dir,
    before,
    after: before,
    revisions,
    durationMs: 0,
    openMs: 0,
    lockMs: null,
    data,
    contentCache: new Map(),
  };
  const lane: Lane = { id: 99, dir: join(root, 'baseline'), repo: join(root, 'baseline', 'repo'), run: 0 };
  mkdirSync(lane.dir, { recursive: true });
  lane.run++;
  await (op.reset ?? defaultReset)(lane, tpl);
  const r = await runKilled(lane.repo, op.args, null, op.env?.(lane) ?? {});
  if (r.code !== 0) throw new Error(`baseline ${op.name} exited ${r.code}: ${r.stderr}`);
  if (r.openMs === null) throw new Error(`baseline ${op.name}: never saw the child open the index`);
  tpl.durationMs = r.ms;
  tpl.openMs = r.openMs;
  tpl.lockMs = r.lockMs;
  tpl.after = repoState(lane.repo);
  await op.check?.(lane, tpl, 'rerun');
  return tpl;
}

const sameState = (a: RepoState, b: RepoState): boolean => a.head === b.head && a.tree === b.tree;

/**
 * The checks after a kill (phase 'killed'): fsck, every earlier revision re-read byte for byte, HEAD and
 * every working-tree file old or new, and status honest about every file it calls clean. After the
 * re-run (phase 'rerun'), cheaper and stricter: HEAD, index and working tree exactly the expected new
 * state (fsck on every fourth run).
 */
async function verify(
  op: CrashOp,
  lane: Lane,
  tpl: Template,
  phase: 'killed' | 'rerun',
  report: CrashReport,
  what: string,
): Promise<void> {
  const repo = Repository.open(lane.repo);
  try {
    if (phase === 'killed' || lane.run % 4 === 0) {
      const f = await fsck(repo);
      expect(f.problems, `${what}: fsck`).toEqual([]);
      if (phase === 'killed') report.danglingPackFiles += f.danglingFiles.length;
    }
    const reader = new LocalObjectReader(repo.objects);
    const head = repo.db.getRef('HEAD')!;
    const hc = readHead(repo).commit;
    const snap = worktreeSnapshot(lane.repo);
    const now: RepoState = { head, tree: hc ? repo.objects.commit(hc).tree : null, files: snap.files };
    const headFiles = hc ? await treeFiles(reader, repo.objects.commit(hc).tree) : new Map<string, string>();
    if (phase === 'rerun') {
      expect(sameState(now, tpl.after), `${what}: HEAD after re-run`).toBe(true);
      expect(snap.files, `${what}: working tree after re-run`).toEqual(tpl.after.files);
      const index = new Map(repo.db.indexEntries().map((e) => [e.path, e.manifest]));
      expect(index, `${what}: index after re-run`).toEqual(headFiles);
      for (const [c, files] of tpl.revisions)
        expect(await revisionContent(reader, c, tpl.contentCache), `${what}: revision ${c}`).toEqual(files);
      return;
    }
    // Every earlier revision, byte for byte, re-read in full.
    for (const [c, files] of tpl.revisions)
      expect(await revisionContent(reader, c), `${what}: revision ${c}`).toEqual(files);
    report.leftoverTempFiles += snap.leftovers.length;
    expect(
      sameState(now, tpl.before) || sameState(now, tpl.after),
      `${what}: HEAD ${now.head} tree ${now.tree} is neither the old nor the new state`,
    ).toBe(true);
    for (const [p, h] of snap.files) {
      expect(
        tpl.before.files.get(p) === h || tpl.after.files.get(p) === h,
        `${what}: working-tree file ${p} is neither its old nor its new content`,
      ).toBe(true);
    }
    // A file status calls clean must really hold the bytes of its index entry, and those of HEAD
    // unless status reports the path staged.
    const st = await status(repo);
    expect(
      st.untracked.filter((p) => p.includes('.strata-tmp-')),
      `${what}: temp files`,
    ).toEqual([]);
    const unstaged = new Set(st.unstaged.map((u) => u.path));
    const staged = new Set(st.staged.map((u) => u.path));
    for (const e of repo.db.indexEntries()) {
      if (unstaged.has(e.path)) continue;
      const want = await cachedContentSha(reader, e.manifest, tpl.contentCache);
      expect(snap.files.get(e.path), `${what}: ${e.path} reported clean against the index`).toBe(want);
      const hm = headFiles.get(e.path);
      if (!staged.has(e.path)) expect(hm, `${what}: ${e.path} index vs HEAD`).toBe(e.manifest);
    }
  } finally {
    repo.close();
  }
  await op.check?.(lane, tpl, phase);
}

/** A lock file left by the killed child (it is broken by the next command, since its owner is dead). */
const lockHeld = (repo: string): boolean => existsSync(join(repo, '.strata', 'lock'));

export interface RunOptions {
  seed: number;
  /** Kills that must land while the child is alive (default 50). */
  kills?: number;
  /** Parallel lanes (default 3). */
  lanes?: number;
  startupMs: number;
  log?: (line: string) => void;
}

/** Runs one operation's kill campaign; returns its figures. Assertions fail the calling test. */
export async function crashCampaign(op: CrashOp, root: string, opts: RunOptions): Promise<CrashReport> {
  const t0 = performance.now();
  const target = opts.kills ?? 50;
  const tpl = await buildTemplate(op, root);
  // Twice the kills the plan needs, over and over if runs keep completing before their kill (capped).
  const plan = killPlan(opts.seed, target * 2, tpl.openMs);
  const maxAttempts = target * 4;
  // The working time (after the index is opened), from the baseline; a run that completes before a kill
  // planned inside that time shows the work is shorter now, and the estimate follows it down.
  let workMs = Math.max(20, tpl.durationMs - tpl.openMs);
  const report: CrashReport = {
    op: op.name,
    attempts: 0,
    kills: 0,
    completedBeforeKill: 0,
    earliestKillMs: Infinity,
    latestKillMs: 0,
    durationMs: Math.round(tpl.durationMs),
    startupMs: Math.round(opts.startupMs),
    openMs: Math.round(tpl.openMs),
    lockMs: tpl.lockMs === null ? null : Math.round(tpl.lockMs),
    killsAfterOpen: 0,
    killsWhileLocked: 0,
    leftoverTempFiles: 0,
    danglingPackFiles: 0,
    killedWithLockHeld: 0,
    elapsedMs: 0,
  };
  let next = 0;
  let failed = false;
  const lane = async (id: number): Promise<void> => {
    const l: Lane = { id, dir: join(root, `lane-${id}`), repo: join(root, `lane-${id}`, 'repo'), run: 0 };
    mkdirSync(l.dir, { recursive: true });
    while (!failed && report.kills < target && next < maxAttempts) {
      const p = plan[next++ % plan.length]!;
      const at: KillPoint = p.anchor === 'spawn' ? p : { anchor: 'open', ms: p.frac * workMs };
      l.run++;
      await (op.reset ?? defaultReset)(l, tpl);
      const r = await runKilled(l.repo, op.args, at, op.env?.(l) ?? {});
      report.attempts++;
      if (r.code === 0 && at.anchor === 'open' && p.anchor === 'open' && p.frac <= 1 && r.openMs !== null)
        workMs = Math.max(20, Math.min(workMs, r.ms - r.openMs));
      const what = `${op.name} killed at ${r.killedAtMs === null ? `(none: completed)` : `${r.killedAtMs.toFixed(0)} ms`} (plan ${at.anchor}+${at.ms.toFixed(0)} ms) (lane ${id}, run ${l.run})`;
      if (r.code === 137) {
        report.kills++;
        report.earliestKillMs = Math.min(report.earliestKillMs, r.killedAtMs!);
        report.latestKillMs = Math.max(report.latestKillMs, r.killedAtMs!);
        if (r.openMs !== null) report.killsAfterOpen++;
        if (r.lockMs !== null) report.killsWhileLocked++;
        if (lockHeld(l.repo)) report.killedWithLockHeld++;
      } else {
        expect(r.code, `${what}: the unkilled run failed: ${r.stderr}`).toBe(0);
        report.completedBeforeKill++;
      }
      await verify(op, l, tpl, 'killed', report, what);
      const repo = Repository.open(l.repo);
      try {
        await op.rerun(repo, l, tpl);
      } finally {
        repo.close();
      }
      await verify(op, l, tpl, 'rerun', report, `${what}, re-run`);
    }
  };
  // On a failure the other lanes stop after their current run; the first error is reported.
  const results = await Promise.allSettled(
    Array.from({ length: opts.lanes ?? 3 }, (_, i) =>
      lane(i).catch((e: unknown) => {
        failed = true;
        throw e;
      }),
    ),
  );
  const bad = results.find((x) => x.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
  report.elapsedMs = Math.round(performance.now() - t0);
  report.earliestKillMs = Math.round(report.earliestKillMs);
  report.latestKillMs = Math.round(report.latestKillMs);
  opts.log?.(`crash ${op.name}: ${JSON.stringify(report)}`);
  return report;
}
