/**
 * The same versions through git-lfs, restic, borg, and plain git with core.compression=1 (a note).
 *
 *   git-lfs  git add (the LFS clean filter hashes and stores the file) + git commit; size = .git/ (incl. lfs/)
 *   git      core.compression=1, loose objects, no gc; size = .git/
 *   restic   local repository (0.14: repository v2, compression auto); backup of the staged data/ directory
 *   borg     local repository, --encryption=none, default lz4; `borg create` of the same staged directory
 *
 * restic and borg read a shared staging directory that holds the version being measured.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { VersionName } from '../generate.js';
import type { CommandResult } from '../lib/exec.js';
import { failedStep, stepOf, type Step, type ToolName } from '../lib/results.js';
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

class GitBased implements Contender {
  private readonly wd: string;
  private readonly run;
  private readonly commits = new Map<VersionName, string>();

  constructor(
    readonly name: 'git-lfs' | 'git',
    private readonly ctx: BenchContext,
  ) {
    this.wd = join(ctx.work, name, 'wd');
    this.run = runner(ctx, this.wd);
  }

  async init(): Promise<Step> {
    await mkdir(this.wd, { recursive: true });
    const git =
      (...args: string[]) =>
      () =>
        this.run('git', args);
    const cmds = [git('init', '-q', '-b', 'main')];
    if (this.name === 'git-lfs') {
      cmds.push(
        git('lfs', 'install', '--local'),
        git('lfs', 'track', '*.jsonl'),
        git('add', '.gitattributes'),
      );
      cmds.push(git('commit', '-q', '-m', 'track jsonl with lfs'));
    } else {
      cmds.push(git('config', 'core.compression', '1'));
    }
    return stepOf(this.name, 'init', 'init', await sequence(cmds));
  }

  async commit(v: VersionName): Promise<Step> {
    await stage(versionFile(this.ctx, v), join(this.wd, DATA_PATH));
    const cmds = await sequence([
      () => this.run('git', ['add', DATA_PATH]),
      () => this.run('git', ['commit', '-q', '-m', v]),
    ]);
    const head = await this.run('git', ['rev-parse', 'HEAD']);
    if (head.ok) this.commits.set(v, head.stdout.trim());
    return stepOf(this.name, 'commit', v, cmds, { version: v, storedBytes: await this.storedBytes() });
  }

  storedBytes(): Promise<number> {
    return dirBytes(join(this.wd, '.git'));
  }

  async noop(): Promise<Step[]> {
    // `git commit` with nothing to commit exits 1; that is the expected answer here. The single command a
    // user types (`commit -a`), then the two-process form (`add .` + `commit`), as for strata; each the
    // median of NOOP_RUNS runs.
    const status = await medianRun(NOOP_RUNS, async () => [await this.run('git', ['status', '--porcelain'])]);
    const commitAll = await medianRun(NOOP_RUNS, async () => [
      await this.run('git', ['commit', '-a', '-q', '-m', 'noop'], [0, 1]),
    ]);
    const addCommit = await medianRun(NOOP_RUNS, () =>
      sequence([
        () => this.run('git', ['add', '.']),
        () => this.run('git', ['commit', '-q', '-m', 'noop'], [0, 1]),
      ]),
    );
    const median = `median of ${NOOP_RUNS}`;
    return [
      stepOf(this.name, 'status-noop', `status (${median})`, status.cmds, {
        extra: { runs: status.seconds },
      }),
      stepOf(this.name, 'commit-noop', `commit -a (${median})`, commitAll.cmds, {
        extra: { runs: commitAll.seconds },
      }),
      stepOf(this.name, 'commit-noop-add', `add . + commit (${median})`, addCommit.cmds, {
        extra: { runs: addCommit.seconds },
      }),
    ];
  }

  async restore(v: VersionName): Promise<Step> {
    const rev = this.commits.get(v);
    if (!rev) return failedStep(this.name, 'restore', v, `no commit recorded for ${v}`);
    const out = await this.run('git', ['checkout', rev, '--', DATA_PATH]);
    const verified = out.ok ? await verify(join(this.wd, DATA_PATH), versionSha(this.ctx, v)) : null;
    // Put HEAD's version back (not timed).
    await this.run('git', ['checkout', 'HEAD', '--', DATA_PATH]);
    return stepOf(this.name, 'restore', `checkout ${v} -- ${DATA_PATH}`, [out], {
      version: v,
      extra: { verified },
    });
  }
}

class Restic implements Contender {
  readonly name = 'restic' as const;
  private readonly repo: string;
  private readonly stageDir: string;
  private readonly run;
  private readonly snapshots = new Map<VersionName, string>();

  constructor(private readonly ctx: BenchContext) {
    this.repo = join(ctx.work, 'restic', 'repo');
    this.stageDir = join(ctx.work, 'restic', 'stage');
    this.run = runner(ctx, this.stageDir, {
      RESTIC_PASSWORD: 'strata-bench',
      RESTIC_REPOSITORY: this.repo,
      RESTIC_CACHE_DIR: join(ctx.work, 'restic', 'cache'),
    });
  }

  async init(): Promise<Step> {
    await mkdir(this.stageDir, { recursive: true });
    return stepOf(this.name, 'init', 'init', [await this.run('restic', ['init'])]);
  }

  private backup(): Promise<CommandResult> {
    return this.run('restic', ['backup', '--json', '--quiet', '--host', 'bench', 'data']);
  }

  private snapshotId(r: CommandResult): string | undefined {
    for (const line of r.stdout.split('\n')) {
      const m = /"snapshot_id"\s*:\s*"([0-9a-f]+)"/.exec(line);
      if (m) return m[1];
    }
    return undefined;
  }

  async commit(v: VersionName): Promise<Step> {
    await stage(versionFile(this.ctx, v), join(this.stageDir, DATA_PATH));
    const r = await this.backup();
    const id = this.snapshotId(r);
    if (id) this.snapshots.set(v, id);
    return stepOf(this.name, 'commit', v, [r], { version: v, storedBytes: await this.storedBytes() });
  }

  storedBytes(): Promise<number> {
    return dirBytes(this.repo);
  }

  async noop(): Promise<Step[]> {
    return [stepOf(this.name, 'commit-noop', 'backup (unchanged)', [await this.backup()])];
  }

  async restore(v: VersionName): Promise<Step> {
    const id = this.snapshots.get(v);
    if (!id) return failedStep(this.name, 'restore', v, `no snapshot recorded for ${v}`);
    const target = join(this.ctx.work, 'restic', 'restore');
    await rm(target, { recursive: true, force: true });
    const r = await this.run('restic', ['restore', id, '--target', target]);
    const verified = r.ok ? await verify(join(target, DATA_PATH), versionSha(this.ctx, v)) : null;
    await rm(target, { recursive: true, force: true });
    return stepOf(this.name, 'restore', `restore ${v}`, [r], { version: v, extra: { verified } });
  }
}

class Borg implements Contender {
  readonly name = 'borg' as const;
  private readonly repo: string;
  private readonly stageDir: string;
  private readonly env: Record<string, string>;
  private readonly run;

  constructor(private readonly ctx: BenchContext) {
    this.repo = join(ctx.work, 'borg', 'repo');
    // Same content as restic's staging directory, but borg gets its own copy so that neither sees the
    // other's file times.
    this.stageDir = join(ctx.work, 'borg', 'stage');
    this.env = {
      BORG_REPO: this.repo,
      BORG_BASE_DIR: join(ctx.work, 'borg', 'base'),
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
      BORG_PASSPHRASE: '',
    };
    this.run = runner(ctx, this.stageDir, this.env);
  }

  async init(): Promise<Step> {
    await mkdir(this.stageDir, { recursive: true });
    return stepOf(this.name, 'init', 'init', [await this.run('borg', ['init', '--encryption=none'])]);
  }

  async commit(v: VersionName): Promise<Step> {
    await stage(versionFile(this.ctx, v), join(this.stageDir, DATA_PATH));
    const r = await this.run('borg', ['create', `::${v}`, 'data']);
    return stepOf(this.name, 'commit', v, [r], { version: v, storedBytes: await this.storedBytes() });
  }

  storedBytes(): Promise<number> {
    return dirBytes(this.repo);
  }

  async noop(): Promise<Step[]> {
    return [
      stepOf(this.name, 'commit-noop', 'create (unchanged)', [
        await this.run('borg', ['create', '::noop', 'data']),
      ]),
    ];
  }

  async restore(v: VersionName): Promise<Step> {
    const target = join(this.ctx.work, 'borg', 'restore');
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    const r = await runner(this.ctx, target, this.env)('borg', ['extract', `::${v}`]);
    const verified = r.ok ? await verify(join(target, DATA_PATH), versionSha(this.ctx, v)) : null;
    await rm(target, { recursive: true, force: true });
    return stepOf(this.name, 'restore', `extract ${v}`, [r], { version: v, extra: { verified } });
  }
}

export function competitor(name: Exclude<ToolName, 'strata'>, ctx: BenchContext): Contender {
  switch (name) {
    case 'git-lfs':
    case 'git':
      return new GitBased(name, ctx);
    case 'restic':
      return new Restic(ctx);
    case 'borg':
      return new Borg(ctx);
  }
}

/** How to check for and install each competitor (Debian packages). */
export const COMPETITORS: {
  name: Exclude<ToolName, 'strata'>;
  bin: string;
  versionArgs: string[];
  apt: string;
}[] = [
  { name: 'git-lfs', bin: 'git-lfs', versionArgs: ['version'], apt: 'git-lfs' },
  { name: 'restic', bin: 'restic', versionArgs: ['version'], apt: 'restic' },
  { name: 'borg', bin: 'borg', versionArgs: ['--version'], apt: 'borgbackup' },
  { name: 'git', bin: 'git', versionArgs: ['--version'], apt: 'git' },
];
