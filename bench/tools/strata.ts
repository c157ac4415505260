/**
 * strata through its CLI (node dist/cli/main.js, cwd = the working directory), one command per measured
 * process so that every command gets its own wall time and peak RSS. Any command that fails - including one
 * that is not implemented yet - becomes a failed step in the results; nothing here throws for that.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION_NAMES, truthFor, type Format, type VersionName } from '../generate.js';
import type { CommandResult } from '../lib/exec.js';
import type { Moto } from '../lib/moto.js';
import { rawThroughput } from '../lib/moto.js';
import {
  failedStep,
  skippedStep,
  stepOf,
  type Counts,
  type DiffCheck,
  type PushClone,
  type Step,
} from '../lib/results.js';
import { dirBytes } from '../lib/util.js';
import {
  DATA_PATH,
  medianRun,
  NOOP_RUNS,
  runner,
  sequence,
  stage,
  verify,
  versionFile,
  versionSha,
  type BenchContext,
  type Contender,
} from './common.js';

/** Local byte reads of v0 and v3 in the library-streaming step: the median of this many is reported. */
const STREAM_RUNS = 3;

export const ATTRIBUTES = [
  'data/*.jsonl format=jsonl key=id',
  'data/*.csv format=csv key=id',
  'data/*.parquet format=parquet key=id',
  '',
].join('\n');

/** Pulls {"commit": "<hash>"} out of `commit --json` output (any line, any position). */
export function parseCommitHash(stdout: string): string | undefined {
  for (const line of stdout.split('\n').reverse()) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const j = JSON.parse(t) as { commit?: unknown; hash?: unknown };
      const h = typeof j.commit === 'string' ? j.commit : typeof j.hash === 'string' ? j.hash : undefined;
      if (h && /^[0-9a-f]{7,64}$/.test(h)) return h;
    } catch {
      // not JSON
    }
  }
  return /\b([0-9a-f]{64})\b/.exec(stdout)?.[1];
}

/** Sums the {"type":"summary"} lines of `diff --stat --json` for one path (or the only path-less summary). */
export function parseDiffSummary(stdout: string, path: string): Counts | null {
  const forPath: Counts[] = [];
  const pathless: Counts[] = [];
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let j: { type?: unknown; path?: unknown; counts?: Partial<Counts> } & Partial<Counts>;
    try {
      j = JSON.parse(t) as typeof j;
    } catch {
      continue;
    }
    if (j.type !== 'summary') continue;
    const c = j.counts ?? j;
    const counts = {
      added: Number(c.added ?? 0),
      removed: Number(c.removed ?? 0),
      modified: Number(c.modified ?? 0),
    };
    if (j.path === path) forPath.push(counts);
    else if (j.path === undefined || j.path === null) pathless.push(counts);
  }
  const list = forPath.length ? forPath : pathless.length === 1 ? pathless : [];
  if (!list.length) return null;
  return list.reduce((a, c) => ({
    added: a.added + c.added,
    removed: a.removed + c.removed,
    modified: a.modified + c.modified,
  }));
}

/** A branch name from `status --json` ({branch} or {head: {branch}}) or from "On branch X". */
export function parseBranch(stdout: string): string | undefined {
  try {
    const j = JSON.parse(stdout.trim().split('\n')[0] ?? '') as Record<string, unknown>;
    for (const k of ['branch', 'currentBranch', 'head']) {
      const v = j[k];
      if (typeof v === 'string' && v && !/^[0-9a-f]{40,64}$/.test(v)) return v.replace(/^refs\/heads\//, '');
      if (v && typeof v === 'object' && typeof (v as { branch?: unknown }).branch === 'string') {
        return (v as { branch: string }).branch;
      }
    }
  } catch {
    // not JSON
  }
  return /On branch (\S+)/.exec(stdout)?.[1];
}

/** `status --json` with every change list empty (staged, unstaged, untracked...); null when unreadable. */
export function isClean(stdout: string): boolean | null {
  try {
    const j = JSON.parse(stdout.trim()) as Record<string, unknown>;
    const lists = Object.entries(j).filter(([k, v]) => Array.isArray(v) && k !== 'skipped');
    if (!lists.length) return null;
    return lists.every(([, v]) => (v as unknown[]).length === 0);
  } catch {
    return null;
  }
}

/**
 * Why a no-op commit was not one: exit 0 means a commit was made (the tree was not clean); exit 1 must be
 * NOTHING_TO_COMMIT (another code-1 error, VERIFY_FAILED, would be a different answer). Undefined: a no-op.
 */
export function noopCommitWarning(
  r: Pick<CommandResult, 'ok' | 'exitCode' | 'stdout' | 'stderr'>,
): string | undefined {
  if (!r.ok) return undefined;
  if (r.exitCode === 0) return 'commit exited 0: a new commit was made, so this was not a no-op';
  if (!/NOTHING_TO_COMMIT/.test(r.stdout + r.stderr))
    return `commit exited ${r.exitCode} without NOTHING_TO_COMMIT`;
  return undefined;
}

export class Strata implements Contender {
  readonly name = 'strata' as const;
  readonly wd: string;
  private readonly run;
  readonly commits = new Map<VersionName, string>();
  branch = 'main';

  constructor(
    private readonly ctx: BenchContext,
    readonly cli: string,
  ) {
    this.wd = join(ctx.work, 'strata', 'wd');
    this.run = this.runIn(this.wd);
  }

  private runIn(cwd: string, extraEnv: Record<string, string> = {}) {
    const r = runner(this.ctx, cwd, extraEnv);
    return (args: string[], okCodes?: number[], more?: { maxStdout?: number }): Promise<CommandResult> =>
      r('node', [this.cli, ...args], okCodes, more);
  }

  static available(cli: string): boolean {
    return existsSync(cli);
  }

  async init(): Promise<Step> {
    await mkdir(join(this.wd, 'data'), { recursive: true });
    await writeFile(join(this.wd, '.strataattributes'), ATTRIBUTES);
    return stepOf('strata', 'init', 'init', [await this.run(['init'])]);
  }

  /** `strata --version`: Node start-up plus loading the CLI - the floor under every command's time. */
  async startup(): Promise<Step> {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await this.run(['--version']));
    const best = runs.reduce((a, r) => (r.ok && r.seconds < a.seconds ? r : a));
    return stepOf('strata', 'startup', '--version (best of 3)', [best]);
  }

  async commit(v: VersionName): Promise<Step> {
    await stage(versionFile(this.ctx, v), join(this.wd, DATA_PATH));
    return this.commitIn(this.run, v, v, async () => dirBytes(join(this.wd, '.strata')));
  }

  private async commitIn(
    run: (args: string[], okCodes?: number[]) => Promise<CommandResult>,
    v: VersionName,
    label: string,
    size: () => Promise<number>,
    hashes: Map<VersionName, string> = this.commits,
  ): Promise<Step> {
    const cmds = await sequence([() => run(['add', '.']), () => run(['commit', '-m', v, '--json'])]);
    const hash = cmds.length === 2 ? parseCommitHash(cmds[1]?.stdout ?? '') : undefined;
    if (hash) hashes.set(v, hash);
    const step = stepOf('strata', 'commit', label, cmds, { version: v, storedBytes: await size() });
    if (step.ok && !hash) {
      step.extra = { warning: 'commit --json printed no {"commit": hash}; diffs fall back to HEAD~N' };
    }
    return step;
  }

  storedBytes(): Promise<number> {
    return dirBytes(join(this.wd, '.strata'));
  }

  /** After v0: learn the current branch, make branch `base` there, come back. */
  async branchAtBase(): Promise<Step[]> {
    const status = await this.run(['status', '--json']);
    this.branch = parseBranch(status.stdout) ?? this.branch;
    const create = await this.run(['switch', '-c', 'base']);
    const back = await this.run(['switch', this.branch]);
    return [
      stepOf('strata', 'switch', 'switch -c base (at v0)', [create]),
      stepOf('strata', 'switch', `switch ${this.branch} (same commit)`, [back]),
    ];
  }

  private rev(v: VersionName, hashes: Map<VersionName, string>, last: VersionName): string {
    const h = hashes.get(v);
    if (h) return h;
    const back = VERSION_NAMES.indexOf(last) - VERSION_NAMES.indexOf(v);
    return back === 0 ? 'HEAD' : `HEAD~${back}`;
  }

  /** diff --stat --json for each pair; counts checked against the generator's ground truth. */
  async diffs(
    pairs: [VersionName, VersionName][],
    opts: {
      cwd?: string;
      path?: string;
      hashes?: Map<VersionName, string>;
      scenario?: string;
      onStep?: (s: Step) => void;
    } = {},
  ): Promise<{ steps: Step[]; checks: DiffCheck[] }> {
    const run = opts.cwd ? this.runIn(opts.cwd) : this.run;
    const path = opts.path ?? DATA_PATH;
    const hashes = opts.hashes ?? this.commits;
    const steps: Step[] = [];
    const checks: DiffCheck[] = [];
    for (const [a, b] of pairs) {
      const truth = truthFor(this.ctx.truth, a, b);
      if (!truth) continue;
      const r = await run(['diff', this.rev(a, hashes, 'v4'), this.rev(b, hashes, 'v4'), '--stat', '--json']);
      const found = r.ok ? parseDiffSummary(r.stdout, path) : null;
      const expected = { added: truth.added, removed: truth.removed, modified: truth.modified };
      const match = found
        ? found.added === expected.added &&
          found.removed === expected.removed &&
          found.modified === expected.modified
        : null;
      const check: DiffCheck = {
        scenario: opts.scenario ?? 'jsonl',
        from: a,
        to: b,
        path,
        expected,
        found,
        match: r.ok && !found ? false : match,
        seconds: r.seconds,
        maxRssKiB: r.maxRssKiB,
        ...(r.error !== undefined
          ? { error: r.error }
          : !found
            ? { error: `no {"type":"summary"} line for ${path} in the diff output` }
            : {}),
      };
      checks.push(check);
      const step = stepOf('strata', 'diff', `${a}..${b} ${path}`, [r], {
        extra: { expected, found, match: check.match },
      });
      steps.push(step);
      opts.onStep?.(step);
    }
    return { steps, checks };
  }

  /**
   * No-op status, then the no-op commit a user types: `commit -a -m msg` on an unchanged tree, one process,
   * which exits 1 with NOTHING_TO_COMMIT (src/cli/exit-codes.ts). The two-process form the version commits
   * use (`add .` then `commit`) is kept as a second row.
   */
  async noop(): Promise<Step[]> {
    const first = await this.run(['status', '--json']);
    const warm = await medianRun(NOOP_RUNS, async () => [await this.run(['status', '--json'])]);
    const commitAll = await medianRun(NOOP_RUNS, async () => [
      await this.run(['commit', '-a', '-m', 'noop', '--json'], [0, 1]),
    ]);
    const addCommit = await medianRun(NOOP_RUNS, () =>
      sequence([() => this.run(['add', '.']), () => this.run(['commit', '-m', 'noop', '--json'], [0, 1])]),
    );
    const median = `median of ${NOOP_RUNS}`;
    const steps = [
      stepOf('strata', 'status-noop', 'status (first after commit)', [first]),
      stepOf('strata', 'status-noop', `status (${median})`, warm.cmds, { extra: { runs: warm.seconds } }),
      stepOf('strata', 'commit-noop', `commit -a (${median})`, commitAll.cmds, {
        extra: { runs: commitAll.seconds },
      }),
      stepOf('strata', 'commit-noop-add', `add . + commit (${median})`, addCommit.cmds, {
        extra: { runs: addCommit.seconds },
      }),
    ];
    const status = warm.cmds[0];
    if (status?.ok) {
      const extra = (steps[1] as Step).extra ?? {};
      (steps[1] as Step).extra = {
        ...extra,
        clean: isClean(status.stdout),
        output: status.stdout.slice(0, 300),
      };
    }
    for (const [i, r] of [
      [2, commitAll.cmds.at(-1)],
      [3, addCommit.cmds.at(-1)],
    ] as const) {
      const warning = r && noopCommitWarning(r);
      if (warning) (steps[i] as Step).extra = { ...(steps[i] as Step).extra, warning };
    }
    // What Node itself costs here, next to the no-ops: `node -e 0`, and (where the environment sets it) the
    // same and the no-op status with NODE_EXTRA_CA_CERTS unset - Node loads those certificates at start-up.
    // Reported apart (step 'node-baseline'): the goal rows use the no-op status as measured above.
    const nodeRun = runner(this.ctx, this.wd);
    const node0 = await medianRun(NOOP_RUNS, async () => [await nodeRun('node', ['-e', '0'])]);
    steps.push(stepOf('strata', 'node-baseline', `node -e 0 (${median})`, node0.cmds));
    if (process.env.NODE_EXTRA_CA_CERTS) {
      const noCa = runner(this.ctx, this.wd, { NODE_EXTRA_CA_CERTS: '' });
      const bare = await medianRun(NOOP_RUNS, async () => [await noCa('node', ['-e', '0'])]);
      const st = await medianRun(NOOP_RUNS, async () => [await noCa('node', [this.cli, 'status', '--json'])]);
      steps.push(
        stepOf('strata', 'node-baseline', `node -e 0, NODE_EXTRA_CA_CERTS unset (${median})`, bare.cmds),
        stepOf('strata', 'node-baseline', `status, NODE_EXTRA_CA_CERTS unset (${median})`, st.cmds),
      );
    }
    return steps;
  }

  /** checkout v -- data/train.jsonl, verified, then HEAD's version back (also measured). */
  async restore(v: VersionName): Promise<Step> {
    const rev = this.commits.get(v);
    if (!rev) return failedStep('strata', 'checkout', v, `no commit hash recorded for ${v}`);
    const r = await this.run(['checkout', rev, '--', DATA_PATH]);
    const verified = r.ok ? await verify(join(this.wd, DATA_PATH), versionSha(this.ctx, v)) : null;
    return stepOf('strata', 'checkout', `checkout ${v} -- ${DATA_PATH}`, [r], {
      version: v,
      extra: { verified },
    });
  }

  /** The working tree back to HEAD (v4) via checkout, and both directions of switch. */
  async switches(): Promise<Step[]> {
    const steps: Step[] = [];
    const back = await this.run(['checkout', 'HEAD', '--', DATA_PATH]);
    steps.push(
      stepOf('strata', 'checkout', `checkout HEAD -- ${DATA_PATH}`, [back], {
        version: 'v4',
        extra: {
          verified: back.ok ? await verify(join(this.wd, DATA_PATH), versionSha(this.ctx, 'v4')) : null,
        },
      }),
    );
    for (const [branch, v] of [
      ['base', 'v0'],
      [this.branch, 'v4'],
    ] as const) {
      const r = await this.run(['switch', branch]);
      const verified = r.ok ? await verify(join(this.wd, DATA_PATH), versionSha(this.ctx, v)) : null;
      steps.push(
        stepOf('strata', 'switch', `switch ${branch} (to ${v})`, [r], { version: v, extra: { verified } }),
      );
    }
    return steps;
  }

  /**
   * `strata diff REV` of an edited working tree against a span-coded version (v3, 10% deleted): the data file
   * becomes v3 with every 100th example given one more field, unstaged; the diff must find exactly those as
   * modified. Then the file is checked out from HEAD again.
   */
  async worktreeDiff(): Promise<Step[]> {
    const rev = this.commits.get('v3');
    if (!rev)
      return [failedStep('strata', 'diff-worktree', 'v3 + 1% edited', 'no commit hash recorded for v3')];
    const file = join(this.wd, DATA_PATH);
    let edited = 0;
    let i = 0;
    const out = createWriteStream(file);
    const lines = createInterface({
      input: createReadStream(versionFile(this.ctx, 'v3')),
      crlfDelay: Infinity,
    });
    for await (const line of lines) {
      const edit = i++ % 100 === 37 && line.startsWith('{');
      if (edit) edited++;
      const text = (edit ? '{"bench_edit":1,' + line.slice(1) : line) + '\n';
      if (!out.write(text)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
    const r = await this.run(['diff', rev, '--stat', '--json']);
    const found = r.ok ? parseDiffSummary(r.stdout, DATA_PATH) : null;
    const expected = { added: 0, removed: 0, modified: edited };
    const match = !!found && found.added === 0 && found.removed === 0 && found.modified === expected.modified;
    const back = await this.run(['checkout', 'HEAD', '--', DATA_PATH]);
    return [
      stepOf(
        'strata',
        'diff-worktree',
        `diff v3 (span-coded) against the working tree: v3 + ${edited} examples edited, unstaged`,
        [r],
        {
          extra: {
            expected,
            found,
            match,
            ...(match
              ? {}
              : { warning: `found ${JSON.stringify(found)}, expected ${JSON.stringify(expected)}` }),
          },
        },
      ),
      stepOf('strata', 'checkout', `checkout HEAD -- ${DATA_PATH} (after the working-tree diff)`, [back], {
        version: 'v4',
        extra: { verified: back.ok ? await verify(file, versionSha(this.ctx, 'v4')) : null },
      }),
    ];
  }

  /**
   * The review a user reads: `strata diff v0 v1 --json` with every change and its fields (word diffs
   * included), not only the counts. The number of change records must equal the ground truth's changes.
   */
  async fullDiff(a: VersionName, b: VersionName): Promise<Step> {
    const truth = truthFor(this.ctx.truth, a, b);
    const r = await this.run(
      ['diff', this.rev(a, this.commits, 'v4'), this.rev(b, this.commits, 'v4'), '--json'],
      [0],
      {
        maxStdout: 1 << 30,
      },
    );
    let changes = 0;
    let withFields = 0;
    if (r.ok)
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith('{"type":"change"')) continue;
        changes++;
        if (line.includes('"fields":[{')) withFields++;
      }
    const expected = truth ? truth.added + truth.removed + truth.modified : null;
    const match = expected !== null && changes === expected;
    return stepOf(
      'strata',
      'diff-full',
      `${a}..${b} ${DATA_PATH}: diff --json, every change and its fields`,
      [r],
      {
        extra: {
          changes,
          withFields,
          expected,
          match,
          outputBytes: Buffer.byteLength(r.stdout),
          ...(match ? {} : { warning: `${changes} change records, expected ${expected}` }),
        },
      },
    );
  }

  async fsck(): Promise<Step> {
    return stepOf('strata', 'fsck', 'fsck', [await this.run(['fsck'])]);
  }

  /** push to and clone from a local moto, with the raw PUT/GET baseline for the same number of bytes. */
  async pushClone(moto: Moto): Promise<{ steps: Step[]; result: PushClone }> {
    const bucket = 'strata-bench';
    const prefix = 'datasets/chat';
    const url = `s3://${bucket}/${prefix}`;
    const result: PushClone = { remote: url };
    const steps: Step[] = [];
    const run = this.runIn(this.wd, moto.env());
    try {
      await moto.createBucket(bucket);
    } catch (e) {
      result.error = `create bucket: ${(e as Error).message}`;
      return { steps: [failedStep('strata', 'push', 'create bucket', e)], result };
    }
    const add = await run(['remote', 'add', 'origin', url]);
    steps.push(stepOf('strata', 'remote', 'remote add origin', [add]));
    moto.takeCounts();
    const push = await run(['push', 'origin', this.branch]);
    const pushRequests = moto.takeCounts();
    const usage = await moto.usage(bucket, prefix).catch(() => ({ bytes: 0, objects: 0 }));
    steps.push(
      stepOf('strata', 'push', `push origin ${this.branch}`, [push], {
        extra: { bytes: usage.bytes, objects: usage.objects, requests: pushRequests },
      }),
    );
    if (push.ok) {
      result.push = {
        seconds: push.seconds,
        bytes: usage.bytes,
        objects: usage.objects,
        requests: pushRequests,
        MBps: usage.bytes / 1e6 / push.seconds,
      };
    }
    const cloneDir = join(this.ctx.work, 'strata', 'clone');
    await rm(cloneDir, { recursive: true, force: true });
    const clone = await this.runIn(join(this.ctx.work, 'strata'), moto.env())(['clone', url, cloneDir]);
    const cloneRequests = moto.takeCounts();
    const clonedFile = join(cloneDir, DATA_PATH);
    const verified = clone.ok
      ? existsSync(clonedFile)
        ? await verify(clonedFile, versionSha(this.ctx, 'v4'))
        : null
      : null;
    steps.push(stepOf('strata', 'clone', 'clone', [clone], { extra: { requests: cloneRequests, verified } }));
    if (clone.ok) {
      result.clone = {
        seconds: clone.seconds,
        requests: cloneRequests,
        MBps: usage.bytes / 1e6 / clone.seconds,
        verified,
      };
    }
    // Raw baseline on the same number of bytes (what strata pushed, else the v4 file's size).
    const bytes =
      usage.bytes || (this.ctx.truth.versions.find((x) => x.name === 'v4')?.files.jsonl?.bytes ?? 0);
    try {
      result.raw = await rawThroughput(
        moto,
        bucket,
        VERSION_NAMES.map((v) => versionFile(this.ctx, v)),
        bytes,
      );
      moto.takeCounts();
    } catch (e) {
      result.error = `raw baseline: ${(e as Error).message}`;
    }
    return { steps, result };
  }

  /**
   * Library streaming throughput: open the pin of v4 through the typed API (dist/core/index.js) in a child
   * process (bench/tools/stream-child.mjs) and stream data/train.jsonl - its bytes, then its parsed
   * examples (2 shards, read one after the other) - from the local repository, and the bytes of v0, v3 and v4
   * from the S3 remote when one is given. Throughput uses the child's own clock (open + stream, no Node start-up).
   */
  async libraryStreaming(remote?: { url: string; env: Record<string, string> }): Promise<Step[]> {
    const dist = join(dirname(this.cli), '..', 'core', 'index.js');
    if (!existsSync(dist)) return [skippedStep('strata', 'library-stream', 'stream', `${dist} missing`)];
    if (!this.commits.get('v4'))
      return [skippedStep('strata', 'library-stream', 'stream v4', 'no commit hash for v4')];
    const child = join(dirname(fileURLToPath(import.meta.url)), 'stream-child.mjs');
    const runs: {
      version: VersionName;
      where: string;
      location: string;
      mode: 'bytes' | 'examples';
      env: Record<string, string>;
    }[] = [
      // v0 is stored whole, v3 (10% deleted) span-coded against it: issue 7 wants v3 read at >= 80% of v0's speed.
      { version: 'v0', where: 'local', location: this.wd, mode: 'bytes', env: {} },
      { version: 'v3', where: 'local', location: this.wd, mode: 'bytes', env: {} },
      { version: 'v4', where: 'local', location: this.wd, mode: 'bytes', env: {} },
      { version: 'v4', where: 'local', location: this.wd, mode: 'examples', env: {} },
    ];
    // From S3: v0 (stored whole, its chunks partly scattered among other versions' in the packs) and v3
    // (span-coded) as well as v4.
    if (remote)
      for (const version of ['v0', 'v3', 'v4'] as const)
        runs.push({ version, where: 's3', location: remote.url, mode: 'bytes', env: remote.env });
    type Run = (typeof runs)[number];
    type Parsed = { bytes: number; examples: number; seconds: number; openSeconds: number };
    const measure = async (r: Run, hash: string): Promise<{ out: CommandResult; parsed?: Parsed }> => {
      const out = await runner(
        this.ctx,
        this.wd,
        r.env,
      )('node', [child, dist, `${r.location}@${hash}`, DATA_PATH, r.mode, r.mode === 'examples' ? '2' : '1']);
      try {
        return { out, parsed: JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '') as Parsed };
      } catch {
        return { out };
      }
    };
    // The local byte reads of v0 and v3 (issue 7's ratio) are taken STREAM_RUNS times, alternately, and the
    // median kept: one read of each swung the ratio by 20% on this noisy machine.
    const repeated = (r: Run): boolean => r.where === 'local' && r.mode === 'bytes' && r.version !== 'v4';
    const tries = new Map<Run, { out: CommandResult; parsed?: Parsed }[]>();
    for (let round = 0; round < STREAM_RUNS; round++)
      for (const r of runs) {
        if (round > 0 && !repeated(r)) continue;
        const hash = this.commits.get(r.version);
        if (!hash) continue;
        const got = await measure(r, hash);
        tries.set(r, [...(tries.get(r) ?? []), got]);
      }
    const steps: Step[] = [];
    for (const r of runs) {
      const label = `stream ${r.version} data/train.jsonl`;
      const all = tries.get(r);
      if (!all) {
        steps.push(skippedStep('strata', 'library-stream', label, `no commit hash for ${r.version}`));
        continue;
      }
      const failed = all.find((t) => !t.parsed || !t.out.ok);
      const { out, parsed } =
        failed ?? [...all].sort((a, b) => a.parsed!.seconds - b.parsed!.seconds)[(all.length - 1) >> 1]!;
      const v = this.ctx.truth.versions.find((x) => x.name === r.version);
      const size = v?.files.jsonl?.bytes ?? 0;
      const median = all.length > 1 ? `, median of ${all.length}` : '';
      const step = stepOf('strata', 'library-stream', `${r.mode} from ${r.where} (${label}${median})`, [out]);
      if (parsed) {
        const verified = r.mode === 'bytes' ? parsed.bytes === size : parsed.examples === v?.rows;
        step.extra = {
          ...parsed,
          MBps: size / 1e6 / parsed.seconds,
          examplesPerSecond: r.mode === 'examples' ? parsed.examples / parsed.seconds : undefined,
          verified,
          ...(all.length > 1 ? { runsSeconds: all.map((t) => t.parsed?.seconds ?? null) } : {}),
        };
      } else if (step.ok) {
        step.ok = false;
        step.error = step.cause = `no JSON result line: ${out.stdout.slice(0, 200)}`;
      }
      steps.push(step);
    }
    return steps;
  }

  /** The CSV and Parquet forms in a second repository: commit, stored bytes, adjacent diffs vs truth. */
  async formats(
    formats: Format[],
    onStep: (s: Step) => void = () => {},
  ): Promise<{ steps: Step[]; checks: DiffCheck[] }> {
    const others = formats.filter((f) => f !== 'jsonl');
    const steps: Step[] = [];
    const push = steps.push.bind(steps);
    steps.push = (...items: Step[]): number => {
      items.forEach(onStep);
      return push(...items);
    };
    const checks: DiffCheck[] = [];
    if (!others.length) return { steps, checks };
    const wd = join(this.ctx.work, 'strata', 'formats');
    await mkdir(join(wd, 'data'), { recursive: true });
    await writeFile(join(wd, '.strataattributes'), ATTRIBUTES);
    const run = this.runIn(wd);
    const label = others.join('+');
    const init = stepOf('strata', 'init', `init (${label})`, [await run(['init'])]);
    steps.push(init);
    if (!init.ok) return { steps, checks };
    const hashes = new Map<VersionName, string>();
    for (const v of VERSION_NAMES) {
      for (const f of others) await stage(versionFile(this.ctx, v, f), join(wd, 'data', `train.${f}`));
      const step = await this.commitIn(
        run,
        v,
        `${v} (${label})`,
        () => dirBytes(join(wd, '.strata')),
        hashes,
      );
      step.step = 'commit-formats';
      steps.push(step);
      if (!step.ok) return { steps, checks };
    }
    const pairs = VERSION_NAMES.slice(1).map((v, i) => [VERSION_NAMES[i], v] as [VersionName, VersionName]);
    for (const f of others) {
      const d = await this.diffs(pairs, { cwd: wd, path: `data/train.${f}`, hashes, scenario: f, onStep });
      push(...d.steps);
      checks.push(...d.checks);
    }
    return { steps, checks };
  }
}
