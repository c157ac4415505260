/** init, add, rm, restore, commit, status. */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import { cwdOf, output, repoPaths, short, withRepo, type GlobalOpts } from '../context.js';

export function registerWorktreeCommands(program: Command, g: () => GlobalOpts): void {
  program
    .command('init [dir]')
    .description('create an empty repository (in DIR or the current directory)')
    .option('-b, --initial-branch <name>', 'name of the first branch', 'main')
    .option('--json', 'machine-readable output')
    .action(async (dir: string | undefined, o: { initialBranch: string; json?: boolean }) => {
      const out = output(o);
      const { Repository } = await import('../../core/repository.js');
      const repo = Repository.init(dir ?? cwdOf(g()), { defaultBranch: o.initialBranch });
      try {
        out.result({ root: repo.root, branch: o.initialBranch }, () =>
          out.line(`Initialized empty strata repository in ${repo.strataDir}`),
        );
      } finally {
        repo.close();
      }
    });

  program
    .command('add <paths...>')
    .description('stage files (and deletions) for the next commit')
    .option('--like <path>', 'store new versions as changes to this tracked file (e.g. after a rename)')
    .option('--json', 'machine-readable output')
    .action(async (paths: string[], o: { json?: boolean; like?: string }) => {
      const out = output(o);
      const { add } = await import('../../core/stage.js');
      await withRepo(g(), async (repo) => {
        const bar = out.progress('add');
        const like = o.like === undefined ? {} : { like: repoPaths(repo, g(), [o.like])[0]! };
        const r = await add(repo, repoPaths(repo, g(), paths), bar, like).finally(() => bar.stop());
        for (const s of r.skipped) out.warn(`skipped ${s} (not a regular file)`);
        // A new version of a gzip-compressed dataset is stored whole: say once how to do better.
        const { gzipContentFormat } = await import('../../core/formats/gzip.js');
        const gz = r.updated.filter((p) => gzipContentFormat(p));
        if (gz.length)
          out.hint(
            `${gz.length === 1 ? `${gz[0]} is` : `${gz.length} files (${gz.slice(0, 3).join(', ')}${gz.length > 3 ? ', …' : ''}) are`} gzip-compressed: each new version is stored whole and diffed by decompressing it; stored uncompressed, a new version reuses the examples of the last one (strata compresses what it stores)`,
          );
        out.result(r, () => {
          for (const p of r.added) out.line(`add ${p}`);
          for (const p of r.updated) out.line(`update ${p}`);
          for (const p of r.removed) out.line(`remove ${p}`);
        });
      });
    });

  program
    .command('rm <paths...>')
    .description('remove files from the index and the working tree')
    .option('--cached', 'only unstage; keep the working-tree file')
    .option('-f, --force', 'remove even with local modifications')
    .option('-r', 'allow recursive removal of a directory')
    .option('--json', 'machine-readable output')
    .action(
      async (paths: string[], o: { cached?: boolean; force?: boolean; r?: boolean; json?: boolean }) => {
        const out = output(o);
        const { rm } = await import('../../core/stage.js');
        await withRepo(g(), async (repo) => {
          const removed = await rm(repo, repoPaths(repo, g(), paths), {
            cached: o.cached,
            force: o.force,
            recursive: o.r,
          });
          out.result({ removed }, () => removed.forEach((p) => out.line(`rm '${p}'`)));
        });
      },
    );

  program
    .command('restore <paths...>')
    .description('restore working-tree files from the index, or (--staged) index entries from HEAD')
    .option('-S, --staged', 'restore the index')
    .option('-W, --worktree', 'restore the working tree (the default)')
    .option('-s, --source <rev>', 'restore from this revision')
    .option('--json', 'machine-readable output')
    .action(
      async (
        paths: string[],
        o: { staged?: boolean; worktree?: boolean; source?: string; json?: boolean },
      ) => {
        const out = output(o);
        const { restore } = await import('../../core/checkout.js');
        await withRepo(g(), async (repo) => {
          const done = await restore(repo, repoPaths(repo, g(), paths), {
            staged: o.staged,
            worktree: o.worktree ?? (o.staged ? false : true),
            source: o.source,
          });
          out.result({ restored: done }, () => out.line(`restored ${done.length} file(s)`));
        });
      },
    );

  program
    .command('commit')
    .description('record the staged files as a new commit')
    .requiredOption('-m, --message <msg>', 'commit message')
    .option('-a, --all', 'stage modified and deleted tracked files first')
    .option('--allow-empty', 'allow a commit whose tree equals its parent')
    .option('--json', 'machine-readable output')
    .action((o: CommitOpts) => commitCommand(g(), o));

  program
    .command('status')
    .description('show staged, unstaged and untracked changes')
    .option('-s, --short', 'short format')
    .option('--json', 'machine-readable output')
    .action((o: StatusOpts) => statusCommand(g(), o));

  program
    .command('config <key> [value]')
    .description('get or set a repository setting (user.name, user.email, core.compression)')
    .option('--unset', 'remove the setting')
    .action(async (key: string, value: string | undefined, o: { unset?: boolean }) => {
      await withRepo(g(), (repo) => {
        if (o.unset) repo.db.setConfig(key, undefined);
        else if (value !== undefined) repo.db.setConfig(key, value);
        else {
          const v = repo.db.getConfig(key);
          if (v === undefined) throw new StrataError('NOT_FOUND', `config ${key} is not set`, { key });
          process.stdout.write(v + '\n');
        }
      });
    });
}

export interface CommitOpts {
  message: string;
  all?: boolean;
  allowEmpty?: boolean;
  json?: boolean;
}

/** `commit` (also run without commander by main.ts's fast path: fast-path.ts). */
export async function commitCommand(g: GlobalOpts, o: CommitOpts): Promise<void> {
  const out = output(o);
  const { commit } = await import('../../core/commit.js');
  await withRepo(g, async (repo) => {
    const bar = out.progress('commit');
    const r = await commit(repo, {
      message: o.message,
      all: o.all,
      allowEmpty: o.allowEmpty,
      meta: { command: ['strata', ...process.argv.slice(2)].join(' ') },
      progress: bar,
    }).finally(() => bar.stop());
    out.result(r, () =>
      out.line(`[${r.branch ?? 'detached HEAD'} ${short(r.commit)}] ${o.message.split('\n')[0]}`),
    );
  });
}

export interface StatusOpts {
  short?: boolean;
  json?: boolean;
}

/** `status` (also run without commander by main.ts's fast path: fast-path.ts). */
export async function statusCommand(g: GlobalOpts, o: StatusOpts): Promise<void> {
  const out = output(o);
  const { status } = await import('../../core/status.js');
  await withRepo(g, async (repo) => {
    const s = await status(repo);
    for (const p of s.skipped) out.warn(`ignoring ${p} (not a regular file)`);
    out.result(s, () => {
      const letter = { added: 'A', modified: 'M', deleted: 'D' } as const;
      if (o.short) {
        const rows = new Map<string, [string, string]>();
        for (const c of s.staged) rows.set(c.path, [letter[c.kind], ' ']);
        for (const c of s.unstaged) rows.set(c.path, [rows.get(c.path)?.[0] ?? ' ', letter[c.kind]]);
        for (const [p, [x, y]] of [...rows].sort()) out.line(`${x}${y} ${p}`);
        for (const p of s.untracked) out.line(`?? ${p}`);
        return;
      }
      out.line(s.branch ? `On branch ${s.branch}` : `HEAD detached at ${short(s.head)}`);
      if (!s.head) out.line('\nNo commits yet');
      if (s.staged.length) {
        out.line('\nChanges to be committed:');
        for (const c of s.staged) out.line(out.paint('green', `\t${c.kind}:   ${c.path}`));
      }
      if (s.unstaged.length) {
        out.line('\nChanges not staged for commit:');
        for (const c of s.unstaged) out.line(out.paint('red', `\t${c.kind}:   ${c.path}`));
      }
      if (s.untracked.length) {
        out.line('\nUntracked files:');
        for (const p of s.untracked) out.line(out.paint('red', `\t${p}`));
      }
      if (!s.staged.length && !s.unstaged.length && !s.untracked.length)
        out.line('nothing to commit, working tree clean');
    });
  });
}
