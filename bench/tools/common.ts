import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dataFile, type Truth, type VersionName } from '../generate.js';
import { runTimed, type CommandResult } from '../lib/exec.js';
import type { Step, ToolName } from '../lib/results.js';
import { sha256File } from '../lib/util.js';

export interface BenchContext {
  /** Scratch directory of this run (wiped at the start). */
  work: string;
  /** Where the generated versions are (v0.jsonl ...). */
  dataDir: string;
  truth: Truth;
  /** Environment for every measured command: HOME, XDG dirs and git identity isolated under `work`. */
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  log: (line: string) => void;
}

/** A tool measured on the same versions: strata and each competitor. */
export interface Contender {
  readonly name: ToolName;
  init(): Promise<Step>;
  /** Put version `v` of the data set in place (not timed) and record it (timed). */
  commit(v: VersionName): Promise<Step>;
  /** Repository size in bytes. */
  storedBytes(): Promise<number>;
  /** Record again with nothing changed (and status, where the tool has one). */
  noop(): Promise<Step[]>;
  /** Materialise version `v` of the file and check its bytes. */
  restore(v: VersionName): Promise<Step>;
}

/** The path of the data file inside every working directory. */
export const DATA_PATH = 'data/train.jsonl';

export function versionFile(
  ctx: BenchContext,
  v: VersionName,
  format: 'jsonl' | 'csv' | 'parquet' = 'jsonl',
): string {
  return join(ctx.dataDir, dataFile(v, format));
}

export function versionSha(
  ctx: BenchContext,
  v: VersionName,
  format: 'jsonl' | 'csv' | 'parquet' = 'jsonl',
): string {
  const info = ctx.truth.versions.find((x) => x.name === v)?.files[format];
  if (!info) throw new Error(`no ${format} file for ${v}`);
  return info.sha256;
}

/**
 * Copies a generated file into a working directory (a real copy: tools may rewrite files in place), and
 * flushes it to disk before any tool is timed on it: otherwise the kernel writes the fresh GiB back while
 * the tool runs, and its own durable writes queue behind that (every tool is staged the same way).
 */
export async function stage(src: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(src, dest);
  const f = await open(dest, 'r+');
  try {
    await f.sync();
  } finally {
    await f.close();
  }
  // Everything the tool before this one wrote is on disk too (`sync`, untimed): otherwise the kernel writes it
  // back during this tool's timed commit, and a tool that fsyncs its own files (strata does) waits behind it.
  // strata's 1% edit commit took 3.9 s in one run and 5.0-5.1 s in the next two, right after git's commit of
  // v0 (~400 MB written, not synced), while 3.6-4.1 s by hand.
  try {
    execFileSync('sync', { stdio: 'ignore' });
  } catch {
    /* no sync(1): the page cache as it is */
  }
}

export async function verify(path: string, sha: string): Promise<boolean> {
  try {
    return (await sha256File(path)) === sha;
  } catch {
    return false;
  }
}

export function runner(ctx: BenchContext, cwd: string, extraEnv: Record<string, string> = {}) {
  return (
    cmd: string,
    args: string[],
    okCodes?: number[],
    more: { maxStdout?: number } = {},
  ): Promise<CommandResult> =>
    runTimed(cmd, args, {
      cwd,
      env: { ...ctx.env, ...extraEnv },
      timeoutMs: ctx.timeoutMs,
      ...(okCodes ? { okCodes } : {}),
      ...more,
    });
}

/** Runs commands in order and stops at the first failure. */
export async function sequence(steps: (() => Promise<CommandResult>)[]): Promise<CommandResult[]> {
  const out: CommandResult[] = [];
  for (const s of steps) {
    const r = await s();
    out.push(r);
    if (!r.ok) break;
  }
  return out;
}

/** How often a no-op (status, nothing to commit) is run: one start-up is too noisy on a shared machine. */
export const NOOP_RUNS = 5;

/**
 * Runs a command sequence `n` times and returns the run with the median total wall time (all runs'
 * seconds in `seconds`); a failed run is returned at once, so that the step reports the failure.
 */
export async function medianRun(
  n: number,
  run: () => Promise<CommandResult[]>,
): Promise<{ cmds: CommandResult[]; seconds: number[] }> {
  const runs: { cmds: CommandResult[]; total: number }[] = [];
  for (let i = 0; i < n; i++) {
    const cmds = await run();
    if (!cmds.every((c) => c.ok)) return { cmds, seconds: runs.map((r) => r.total) };
    runs.push({ cmds, total: cmds.reduce((a, c) => a + c.seconds, 0) });
  }
  const sorted = [...runs].sort((a, b) => a.total - b.total);
  return {
    cmds: (sorted[(sorted.length - 1) >> 1] as (typeof runs)[number]).cmds,
    seconds: runs.map((r) => r.total),
  };
}
