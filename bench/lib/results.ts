import type { CommandRecord, CommandResult } from './exec.js';
import { record } from './exec.js';
import type { Machine } from './machine.js';
import type { RawThroughput, RequestCounts } from './moto.js';
import type { Truth, VersionName } from '../generate.js';

export type ToolName = 'strata' | 'git-lfs' | 'restic' | 'borg' | 'git';

export interface Step {
  tool: ToolName;
  /** init, commit, status-noop, commit-noop, diff, switch, checkout, restore, fsck, push, clone, ... */
  step: string;
  /** What exactly: a version (v1), a pair (v0..v1), a branch... */
  label: string;
  version?: VersionName;
  ok: boolean;
  /** Set when the step was deliberately not run (tool missing, prerequisite failed, hook not wired). */
  skipped?: string;
  /** Wall time of the step's commands, summed. */
  seconds: number | null;
  /** Largest peak RSS of the step's commands, KiB. */
  maxRssKiB: number | null;
  /** Repository size after the step (bytes under .strata/, .git/, the restic/borg repository). */
  storedBytes?: number;
  error?: string;
  /** The error without the command line (for grouping: the same cause across many steps). */
  cause?: string;
  commands: CommandRecord[];
  extra?: Record<string, unknown>;
}

export interface Counts {
  added: number;
  removed: number;
  modified: number;
}

export interface DiffCheck {
  scenario: string;
  from: VersionName;
  to: VersionName;
  path: string;
  expected: Counts;
  found: Counts | null;
  /** true: counts equal the ground truth; false: they differ (a MISMATCH); null: no counts (diff failed). */
  match: boolean | null;
  seconds: number | null;
  maxRssKiB: number | null;
  error?: string;
  /** The naive baseline on the same two version files (JSONL pairs; bench/tools/linediff.ts). */
  lineDiffs?: LineDiff[];
}

/** A line-by-line diff of two version files: lines, not examples (no keys, no fields). */
export interface LineDiff {
  /** GNU `diff` or `git diff --no-index --numstat`. */
  tool: 'diff' | 'git';
  seconds: number | null;
  maxRssKiB: number | null;
  userSeconds: number | null;
  /** Lines added (only in the second file) and removed (only in the first); null when it failed. */
  lines: { added: number; removed: number } | null;
  error?: string;
}

export interface ToolInfo {
  available: boolean;
  version: string | null;
  installed?: boolean;
  installError?: string;
}

export interface PushClone {
  remote: string;
  push?: { seconds: number; bytes: number; objects: number; requests: RequestCounts; MBps: number };
  clone?: { seconds: number; requests: RequestCounts; MBps: number; verified: boolean | null };
  raw?: RawThroughput;
  error?: string;
}

export interface Results {
  schema: 1;
  startedAt: string;
  finishedAt?: string;
  quick: boolean;
  requestedSize: number;
  seed: number;
  argv: string[];
  machine: Machine;
  tools: Partial<Record<ToolName, ToolInfo>>;
  data?: Omit<Truth, 'pairs'> & { pairs: Truth['pairs'] };
  steps: Step[];
  diffs: DiffCheck[];
  pushClone?: PushClone;
  mismatches: string[];
  /** Failures outside steps (set-up, build, a phase that threw); failed steps are in `steps`. */
  errors: string[];
  notes: string[];
}

/** A command line for messages: the CLI path and full hashes shortened. */
export function shortCommand(command: string): string {
  return command
    .replace(/^node \S*dist\/cli\/main\.js/, 'strata')
    .replace(/\b([0-9a-f]{12})[0-9a-f]{28,52}\b/g, '$1');
}

export function stepOf(
  tool: ToolName,
  step: string,
  label: string,
  cmds: CommandResult[],
  more: Partial<Step> = {},
): Step {
  const ok = cmds.length > 0 && cmds.every((c) => c.ok);
  const rss = cmds.map((c) => c.maxRssKiB).filter((x): x is number => x !== null);
  const firstErr = cmds.find((c) => !c.ok);
  return {
    tool,
    step,
    label,
    ok,
    seconds: cmds.length ? cmds.reduce((a, c) => a + c.seconds, 0) : null,
    maxRssKiB: rss.length ? Math.max(...rss) : null,
    ...(firstErr?.error !== undefined
      ? { error: `${shortCommand(firstErr.command)}: ${firstErr.error}`, cause: firstErr.error }
      : {}),
    commands: cmds.map(record),
    ...more,
  };
}

export function skippedStep(tool: ToolName, step: string, label: string, why: string): Step {
  return { tool, step, label, ok: false, skipped: why, seconds: null, maxRssKiB: null, commands: [] };
}

export function failedStep(tool: ToolName, step: string, label: string, error: unknown): Step {
  const msg = error instanceof Error ? error.message : String(error);
  return { tool, step, label, ok: false, seconds: null, maxRssKiB: null, error: msg, commands: [] };
}
