/**
 * Transforms with recorded provenance: `strata run` runs a command that reads committed inputs and writes
 * outputs, then commits the outputs with a record of the run in the commit's `meta.transform` (the command,
 * where it ran, each input's path and content hash at the commit it was read from, each output's hash); the
 * code repository's commit is recorded as for every commit (`meta.code`). `trace` follows those records back
 * from a file to the data it was made from. See docs/CLI.md ("Transforms and lineage").
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { StrataError } from '../storage/errors.js';
import type { Hash } from '../storage/hash.js';
import { commit as makeCommit } from './commit.js';
import { log, type LogEntry } from './history.js';
import type { Repository } from './repository.js';
import { readHead } from './refs.js';
import { lookupPath, resolveCommit } from './rev-parse.js';
import { add, fileState, lazyAttributes } from './stage.js';
import { stagedChanges } from './status.js';
import { buildTree, flattenTree } from './tree-builder.js';
import { isUnder, safeJoin } from './worktree/paths.js';
import { scanWorktree } from './worktree/scan.js';

/** One input or output of a run: a file (its manifest hash) or a directory (its tree hash). */
export interface TransformPath {
  path: string;
  kind: 'file' | 'tree';
  hash: Hash;
}

/** What a run commit records in `meta.transform`. */
export interface TransformRecord {
  /** The command and its arguments, as run (no shell). */
  command: string[];
  /** The directory it ran in, relative to the repository root ('' is the root). */
  cwd: string;
  /** The commit the inputs were read from (HEAD when the run started; also the run commit's parent). */
  base: Hash | null;
  inputs: TransformPath[];
  outputs: TransformPath[];
  /** Wall-clock seconds the command took. */
  seconds: number;
}

export interface RunOptions {
  /** The command and its arguments (run without a shell). */
  command: string[];
  /** Repository paths (files or directories) the command reads: committed and unmodified. */
  inputs: string[];
  /** Repository paths (files or directories) the command writes: committed after it succeeds. */
  outputs: string[];
  /** Repository path of the directory to run in ('' by default: the root). */
  cwd?: string;
  message?: string;
  /** Let the command replace outputs that have changes not committed (else DIRTY_WORKTREE). */
  force?: boolean;
  /** Where the command's input and output go (default: this process's). */
  stdio?: StdioOptions;
  signal?: AbortSignal;
}

export interface RunResult {
  /** The run commit, or null when the outputs came out as HEAD already has them (nothing to commit). */
  commit: Hash | null;
  branch: string | null;
  transform: TransformRecord;
}

/** Paths for a message: the first five, then "...". */
const listed = (paths: string[]): string => paths.slice(0, 5).join(', ') + (paths.length > 5 ? ', ...' : '');

/** The entry a path names in a commit's tree, as a TransformPath, or undefined. */
function entryAt(repo: Repository, commit: Hash | null, path: string): TransformPath | undefined {
  if (!commit) return undefined;
  const e = lookupPath(repo, repo.objects.commit(commit).tree, path);
  return e ? { path, kind: e.kind, hash: e.hash } : undefined;
}

/**
 * The files under `path` whose working-tree or index state differs from commit `head`'s (added, modified,
 * deleted, untracked): what makes an input not the committed one. Uses the stat cache; hashes (without
 * storing) only files whose stat changed.
 */
async function changesUnder(repo: Repository, head: Hash | null, path: string): Promise<string[]> {
  const e = head ? lookupPath(repo, repo.objects.commit(head).tree, path) : undefined;
  const committed =
    !e || !head
      ? new Map<string, { hash: Hash }>()
      : e.kind === 'file'
        ? new Map([[path, { hash: e.hash }]])
        : flattenTree(repo.objects, e.hash, path);
  const index = new Map(repo.db.indexEntries().map((x) => [x.path, x]));
  const attrs = lazyAttributes(repo.root);
  const changed = new Set<string>();
  for (const [p, c] of committed) {
    const ix = index.get(p);
    if (!ix || !repo.objects.sameContent(ix.manifest, c.hash)) {
      changed.add(p);
      continue;
    }
    const s = await fileState(repo, p, ix, { store: false, attrs });
    if (!s || !repo.objects.sameContent(s.manifest, c.hash)) changed.add(p);
  }
  for (const [p] of index) if (isUnder(p, path) && !committed.has(p)) changed.add(p);
  for (const f of scanWorktree(repo.root, path).files) if (!committed.has(f.path)) changed.add(f.path);
  return [...changed].sort();
}

function checkPaths(opts: RunOptions): void {
  if (opts.command.length === 0 || !opts.command[0])
    throw new StrataError('BAD_INPUT', 'run: no command given (strata run -o OUT -- COMMAND ARGS...)', {});
  if (opts.outputs.length === 0)
    throw new StrataError('BAD_INPUT', 'run: name at least one output (-o PATH)', {});
  for (const o of opts.outputs) {
    if (o === '') throw new StrataError('BAD_INPUT', 'run: the whole repository cannot be an output', {});
    for (const i of opts.inputs) {
      if (isUnder(i, o) || isUnder(o, i))
        throw new StrataError('BAD_INPUT', `run: output ${o} overlaps input ${i || '.'}`, {
          input: i,
          output: o,
        });
    }
    for (const o2 of opts.outputs)
      if (o2 !== o && isUnder(o2, o))
        throw new StrataError('BAD_INPUT', `run: output ${o2} is inside output ${o}`, { output: o2 });
  }
}

/** Nothing staged outside the outputs: the run commit holds the outputs and nothing else. */
function checkNothingStaged(repo: Repository, head: Hash | null, outputs: string[]): void {
  const staged = stagedChanges(repo, head)
    .map((c) => c.path)
    .filter((p) => !outputs.some((o) => isUnder(p, o)));
  if (staged.length)
    throw new StrataError(
      'DIRTY_WORKTREE',
      `run: changes are staged outside the outputs (commit them, or "strata restore --staged" them): ${listed(staged)}`,
      { paths: staged },
    );
}

async function checkInputs(
  repo: Repository,
  head: Hash | null,
  inputs: string[],
  when: string,
): Promise<void> {
  for (const i of inputs) {
    if (!entryAt(repo, head, i))
      throw new StrataError(
        'NOT_FOUND',
        `run: input ${i || '.'} is not in the last commit: commit it first (a run records committed inputs only)`,
        { path: i },
      );
    const changed = await changesUnder(repo, head, i);
    if (changed.length)
      throw new StrataError('DIRTY_WORKTREE', `run: input ${i || '.'} ${when}: ${listed(changed)}`, {
        path: i,
        paths: changed,
      });
  }
}

/** Runs the command; resolves with its wall-clock seconds, or fails with COMMAND_FAILED. */
function runCommand(
  command: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  opts: RunOptions,
): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd,
      env,
      stdio: opts.stdio ?? 'inherit',
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(new StrataError('ABORTED', 'run: interrupted', {}));
      else
        reject(
          new StrataError('COMMAND_FAILED', `run: cannot start ${command[0]}: ${e.message}`, {
            command,
            errno: e.code,
          }),
        );
    });
    child.on('exit', (code, sig) => {
      if (code === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e9);
      else
        reject(
          new StrataError(
            'COMMAND_FAILED',
            `run: ${command.join(' ')} ${sig ? `was killed by ${sig}` : `exited with status ${code}`}: nothing committed`,
            { command, status: code, signal: sig },
          ),
        );
    });
  });
}

/**
 * Runs a transform: checks that the inputs are committed and unmodified and that nothing but the outputs is
 * staged; runs the command (without the repository lock: it may take hours; STRATA_RUN_BASE names the commit
 * its inputs are read from); checks that the outputs exist and the inputs are still unmodified; then stages
 * the outputs (additions, changes and deletions under them) and commits them with the run's record on top of
 * the base (CONFLICT if HEAD moved meanwhile: the outputs stay in the working tree). A failed command commits
 * nothing and leaves what it wrote where it is.
 */
export async function runTransform(repo: Repository, opts: RunOptions): Promise<RunResult> {
  checkPaths(opts);
  const cwd = opts.cwd ?? '';
  const cwdAbs = cwd === '' ? repo.root : safeJoin(repo.root, cwd);
  const head = readHead(repo);
  const base = head.commit ?? null;
  checkNothingStaged(repo, base, opts.outputs);
  await checkInputs(repo, base, opts.inputs, 'has changes that are not committed (commit them first)');
  const inputs = opts.inputs.map((i) => entryAt(repo, base, i)!);
  if (!opts.force) {
    // What the command would overwrite that no commit holds would be lost (and untracked files under an
    // output directory would slip into the run commit).
    for (const o of opts.outputs) {
      const changed = await changesUnder(repo, base, o);
      if (changed.length)
        throw new StrataError(
          'DIRTY_WORKTREE',
          `run: output ${o} has changes that are not committed, which the command would replace (commit or restore them, or use --force): ${listed(changed)}`,
          { path: o, paths: changed },
        );
    }
  }

  const env = { ...process.env, STRATA_RUN_BASE: base ?? '', STRATA_ROOT: repo.root };
  const seconds = await runCommand(opts.command, cwdAbs, env, opts);

  for (const o of opts.outputs) {
    if (scanWorktree(repo.root, o).files.length === 0)
      throw new StrataError('NOT_FOUND', `run: the command did not write output ${o}: nothing committed`, {
        path: o,
      });
  }
  await checkInputs(repo, base, opts.inputs, 'was changed by the command (nothing committed)');
  if (readHead(repo).commit !== head.commit)
    throw new StrataError(
      'CONFLICT',
      'run: HEAD moved while the command ran: nothing committed (the outputs are in the working tree)',
      { base },
    );
  checkNothingStaged(repo, base, opts.outputs);

  await add(repo, opts.outputs);
  // Each output as the run commit's tree will hold it (built here as commit builds it).
  const tree = buildTree(
    repo.objects,
    repo.db.indexEntries().map((e) => [e.path, { hash: e.manifest as Hash, size: e.size }]),
  ).hash;
  const outputs = opts.outputs.map((o): TransformPath => {
    const e = lookupPath(repo, tree, o);
    if (!e)
      throw new StrataError('NOT_FOUND', `run: output ${o} has no file strata tracks (all ignored?)`, {
        path: o,
      });
    return { path: o, kind: e.kind, hash: e.hash };
  });
  const record: TransformRecord = {
    command: opts.command,
    cwd,
    base,
    inputs,
    outputs,
    seconds: Math.round(seconds * 1000) / 1000,
  };
  const message = opts.message ?? `run: ${opts.command.join(' ')}`;
  // Outputs that come out as HEAD has them: a commit of its own only when it says something new, that is
  // when the run that last made them (madeBy) had another command or other inputs: else `trace` would keep
  // naming that run, and call the outputs stale once their inputs changed, though they were made again.
  const unchanged = base !== null && repo.objects.commit(base).tree === tree;
  if (unchanged && outputs.every((o) => sameRun(repo, madeBy(repo, base, o.path).transform, record)))
    return { commit: null, branch: head.kind === 'branch' ? head.branch : null, transform: record };
  const result = await makeCommit(repo, {
    message: unchanged ? `${message} (outputs unchanged)` : message,
    parents: base ? [base] : [],
    allowEmpty: unchanged,
    meta: { command: ['strata', 'run', ...opts.command].join(' '), transform: record },
  });
  return { commit: result.commit, branch: result.branch, transform: record };
}

/** Whether a recorded run is this one again: the same command, directory and inputs (by content). */
function sameRun(repo: Repository, a: TransformRecord | null, b: TransformRecord): boolean {
  if (!a || a.cwd !== b.cwd || JSON.stringify(a.command) !== JSON.stringify(b.command)) return false;
  if (a.inputs.length !== b.inputs.length) return false;
  return a.inputs.every((x, i) => x.path === b.inputs[i]!.path && sameEntry(repo, x, b.inputs[i]!));
}

/**
 * The commit that made `path` as it is at `commit`: the newest run (walking back from `commit`) whose outputs
 * hold the path with this content, found before the last commit that changed the path; else that commit
 * (null when none has the path).
 */
function madeBy(
  repo: Repository,
  commit: Hash,
  path: string,
): { commit: LogEntry | null; transform: TransformRecord | null } {
  const here = entryAt(repo, commit, path);
  const last = log(repo, commit, { paths: [path], limit: 1 }).next().value ?? null;
  if (!here) return { commit: null, transform: null };
  for (const c of log(repo, commit)) {
    const t = c.meta.transform as TransformRecord | undefined;
    const o = Array.isArray(t?.outputs) ? t.outputs.find((x) => isUnder(path, x.path)) : undefined;
    if (o && t) {
      const then = entryAt(repo, c.hash, path);
      if (then && sameEntry(repo, then, here)) return { commit: c, transform: t };
    }
    if (last && c.hash === last.hash) break;
  }
  return { commit: last, transform: null };
}

/**
 * The recorded outputs of run `run` (its commit) that `head` has as another commit made them since (edited by
 * hand, or made by another run): running it again would replace them. An output deleted since is not listed
 * (running again makes it again).
 */
function replacedOutputs(
  repo: Repository,
  head: Hash,
  run: Hash,
  t: TransformRecord,
  /** Outputs already known to be as the run made them. */
  known: readonly string[] = [],
): RunState['replaced'] {
  const out: RunState['replaced'] = [];
  for (const o of t.outputs) {
    if (known.includes(o.path) || !entryAt(repo, head, o.path)) continue;
    const by = madeBy(repo, head, o.path).commit;
    if (by?.hash !== run) out.push({ path: o.path, by: by?.hash ?? null });
  }
  return out;
}

/**
 * Runs a recorded run (commit `run`) again: its command, directory, input and output paths, through
 * runTransform. Without `force`, CONFLICT when HEAD has one of its outputs as a later commit made it (an edit by
 * hand would be silently replaced).
 */
function runRecorded(
  repo: Repository,
  run: Hash,
  t: TransformRecord,
  opts: Pick<RunOptions, 'message' | 'stdio' | 'signal' | 'force'>,
): Promise<RunResult> {
  const head = readHead(repo).commit;
  if (!opts.force && head) {
    const replaced = replacedOutputs(repo, head, run, t);
    if (replaced.length)
      throw new StrataError(
        'CONFLICT',
        `running ${run.slice(0, 12)} again would replace ${replaced
          .map((r) => `${r.path} (changed since by ${r.by ? r.by.slice(0, 12) : 'another commit'})`)
          .join(', ')}: commit those changes elsewhere, or use --force to replace them`,
        { run, replaced },
      );
  }
  return runTransform(repo, {
    command: t.command,
    inputs: t.inputs.map((i) => i.path),
    outputs: t.outputs.map((o) => o.path),
    cwd: t.cwd,
    ...opts,
  });
}

/**
 * Runs again the run that made `path` as HEAD has it (madeBy): the same command, in the same directory, with
 * the same input and output paths, reading the inputs as HEAD has them now (`strata rerun`). NOT_FOUND when
 * no run made it (a source, or a file changed by hand since its run).
 */
export async function rerun(
  repo: Repository,
  path: string,
  opts: Pick<RunOptions, 'message' | 'stdio' | 'signal' | 'force'> = {},
): Promise<RunResult & { rerun: Hash }> {
  const head = readHead(repo).commit;
  if (!head || !entryAt(repo, head, path))
    throw new StrataError('NOT_FOUND', `${path || '.'} is not in HEAD`, { path });
  const made = madeBy(repo, head, path);
  if (!made.transform || !made.commit)
    throw new StrataError(
      'NOT_FOUND',
      `${path} was not made by strata run as HEAD has it${made.commit ? ` (last changed by ${made.commit.hash.slice(0, 12)}, not a run)` : ''}`,
      { path },
    );
  const r = await runRecorded(repo, made.commit.hash, made.transform, opts);
  return { ...r, rerun: made.commit.hash };
}

/** A run that made files of HEAD, and what of it is out of date. */
export interface RunState {
  /** The run commit. */
  commit: Hash;
  message: string;
  transform: TransformRecord;
  /** Its outputs that HEAD has as the run made them (others were changed since: no longer its). */
  outputs: string[];
  /** Inputs whose content at HEAD differs from what the run read (each with its hash at HEAD; null: gone). */
  staleInputs: Array<{ path: string; was: Hash; now: Hash | null }>;
  /** Stale itself, or reads an output of a run that will run again (`upstream`: those runs' commits). */
  upstream: Hash[];
  /** Its recorded outputs that a later commit changed (`by`): running it again replaces them (needs force). */
  replaced: Array<{ path: string; by: Hash | null }>;
}

/** The inputs of run `t` whose content at `commit` differs from what it read (with their hash there; null: gone). */
function staleInputs(repo: Repository, commit: Hash, t: TransformRecord): RunState['staleInputs'] {
  const out: RunState['staleInputs'] = [];
  for (const i of t.inputs) {
    const now = entryAt(repo, commit, i.path);
    if (!now || !sameEntry(repo, now, i)) out.push({ path: i.path, was: i.hash, now: now?.hash ?? null });
  }
  return out;
}

/** Whether one path is the other or under it (a directory input holds the file another run writes). */
const overlap = (a: string, b: string): boolean => isUnder(a, b) || isUnder(b, a);

/**
 * The runs whose outputs HEAD holds as they made them (madeBy, per output path any run recorded), with their
 * stale inputs, and those that must run again to bring HEAD up to date: the stale ones and, transitively, the
 * runs reading their outputs; upstream runs first (a run comes after the runs whose outputs it reads; a cycle,
 * which no single run can make, is broken by age, oldest first).
 */
export function runStates(repo: Repository): { runs: RunState[]; toRerun: RunState[] } {
  const head = readHead(repo).commit;
  if (!head) return { runs: [], toRerun: [] };
  const paths = new Set<string>();
  for (const c of log(repo, head)) {
    const t = c.meta.transform as TransformRecord | undefined;
    if (Array.isArray(t?.outputs)) for (const o of t.outputs) paths.add(o.path);
  }
  const byCommit = new Map<Hash, RunState>();
  const age = new Map<Hash, number>();
  for (const p of [...paths].sort()) {
    if (!entryAt(repo, head, p)) continue;
    const made = madeBy(repo, head, p);
    if (!made.transform || !made.commit) continue;
    let st = byCommit.get(made.commit.hash);
    if (!st) {
      const t = made.transform;
      st = {
        commit: made.commit.hash,
        message: made.commit.message,
        transform: t,
        outputs: [],
        staleInputs: staleInputs(repo, head, t),
        upstream: [],
        replaced: [],
      };
      byCommit.set(st.commit, st);
      age.set(st.commit, made.commit.time);
    }
    st.outputs.push(p);
  }
  for (const st of byCommit.values())
    st.replaced = replacedOutputs(repo, head, st.commit, st.transform, st.outputs);
  const runs = [...byCommit.values()].sort((a, b) => age.get(a.commit)! - age.get(b.commit)!);
  const reads = (r: RunState, w: RunState): boolean =>
    r !== w && r.transform.inputs.some((i) => w.outputs.some((o) => overlap(i.path, o)));
  // Affected: stale, or reading an affected run's output.
  const affected = new Set(runs.filter((r) => r.staleInputs.length > 0));
  for (let grew = true; grew;) {
    grew = false;
    for (const r of runs)
      if (!affected.has(r) && [...affected].some((w) => reads(r, w))) {
        affected.add(r);
        grew = true;
      }
  }
  for (const r of affected) r.upstream = [...affected].filter((w) => reads(r, w)).map((w) => w.commit);
  // Upstream first (Kahn's order over the affected runs, oldest first among the ready ones).
  const toRerun: RunState[] = [];
  const left = runs.filter((r) => affected.has(r));
  while (left.length > 0) {
    const k = left.findIndex((r) => !left.some((w) => reads(r, w)));
    toRerun.push(...left.splice(k < 0 ? 0 : k, 1));
  }
  return { runs, toRerun };
}

/**
 * Brings HEAD's run outputs up to date: runs again, upstream first, every run `runStates` lists as needing it
 * (`strata rerun --stale`). A downstream run whose inputs came out the same after the runs before it is
 * skipped. `onRun` is told before each run starts. Stops at the first run that fails (its error), after
 * committing the runs before it.
 */
export async function rerunStale(
  repo: Repository,
  opts: Pick<RunOptions, 'stdio' | 'signal' | 'force'> & {
    onRun?: (r: RunState) => void;
    onResult?: (r: RunState, result: RunResult) => void;
  } = {},
): Promise<Array<{ run: RunState; result: RunResult | null }>> {
  const done: Array<{ run: RunState; result: RunResult | null }> = [];
  for (const planned of runStates(repo).toRerun) {
    // Stale now? (Its upstream runs may have made its inputs again the same.)
    const now = runStates(repo).runs.find((r) => r.commit === planned.commit);
    if (!now || now.staleInputs.length === 0) {
      done.push({ run: planned, result: null });
      continue;
    }
    opts.onRun?.(now);
    const { onRun: _r, onResult: _s, ...run } = opts;
    const result = await runRecorded(repo, now.commit, now.transform, run);
    opts.onResult?.(now, result);
    done.push({ run: now, result });
  }
  return done;
}

/** One step of a file's lineage. */
export interface LineageNode {
  path: string;
  kind: 'file' | 'tree';
  hash: Hash;
  /**
   * The commit that made the path as it is: the newest run whose outputs hold it with this content (a run
   * that made it again the same, too), else the commit that last changed it; null if nothing has it.
   */
  commit: Hash | null;
  message: string | null;
  /** How that commit made it: a run (its record), else null (committed by hand: a source). */
  transform: TransformRecord | null;
  code: { commit?: string | null; dirty?: boolean } | null;
  /**
   * For a run's output traced at a later revision: the inputs whose content there differs from what the run
   * read (the output is stale); each with its hash at the traced revision (null: gone).
   */
  staleInputs: Array<{ path: string; was: Hash; now: Hash | null }>;
  /** The lineage of each input of the run, as it was at the run's base. */
  inputs: LineageNode[];
}

const MAX_TRACE_DEPTH = 64;

/**
 * The lineage of `path` as of revision `rev`: the commit that last changed it and, when that commit is a run
 * whose outputs hold the path, the lineage of each of the run's inputs at the run's base, recursively.
 */
export function trace(repo: Repository, path: string, rev = 'HEAD'): LineageNode {
  const start = resolveCommit(repo, rev);
  const here = entryAt(repo, start, path);
  if (!here) throw new StrataError('NOT_FOUND', `${path || '.'} is not in ${rev}`, { path, rev });
  const memo = new Map<string, LineageNode>();
  const walk = (commit: Hash, p: string, depth: number): LineageNode => {
    const k = `${commit}\0${p}`;
    const hit = memo.get(k);
    if (hit) return hit;
    const e = entryAt(repo, commit, p)!;
    const node: LineageNode = {
      path: p,
      kind: e.kind,
      hash: e.hash,
      commit: null,
      message: null,
      transform: null,
      code: null,
      staleInputs: [],
      inputs: [],
    };
    memo.set(k, node);
    const { commit: last, transform: t } = madeBy(repo, commit, p);
    if (!last) return node;
    node.commit = last.hash;
    node.message = last.message;
    node.code = (last.meta.code as LineageNode['code']) ?? null;
    if (!t) return node;
    node.transform = t;
    if (commit !== last.hash) {
      // Traced at a later revision: an input changed since the run makes this output stale.
      node.staleInputs = staleInputs(repo, commit, t);
    }
    if (depth < MAX_TRACE_DEPTH && t.base) {
      for (const i of t.inputs)
        if (entryAt(repo, t.base, i.path)) node.inputs.push(walk(t.base, i.path, depth + 1));
    }
    return node;
  };
  return walk(start, path, 0);
}

/** Whether two entries hold the same content (a tree: the same files with the same content each). */
function sameEntry(repo: Repository, a: TransformPath, b: TransformPath): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'file') return repo.objects.sameContent(a.hash, b.hash);
  if (a.hash === b.hash) return true;
  const fa = flattenTree(repo.objects, a.hash);
  const fb = flattenTree(repo.objects, b.hash);
  if (fa.size !== fb.size) return false;
  for (const [p, e] of fa) if (!repo.objects.sameContent(e.hash, fb.get(p)?.hash)) return false;
  return true;
}
