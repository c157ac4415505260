/** branch, switch, checkout, tag, reset. */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import { output, repoPaths, short, withRepo, type GlobalOpts } from '../context.js';

export function registerRefCommands(program: Command, g: () => GlobalOpts): void {
  program
    .command('branch [name] [start]')
    .description('list, create (NAME [START]), delete (-d NAME) or rename (-m OLD NEW) branches')
    .option('-d, --delete', 'delete the branch')
    .option('-m, --move', 'rename branch NAME to START')
    .option('-f, --force', 'overwrite an existing branch')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string | undefined,
        start: string | undefined,
        o: { delete?: boolean; move?: boolean; force?: boolean; json?: boolean },
      ) => {
        const out = output(o);
        const { createBranch, deleteBranch, listBranches, readHead, renameBranch } =
          await import('../../core/refs.js');
        const { resolveCommit } = await import('../../core/rev-parse.js');
        await withRepo(g(), (repo) => {
          if (o.delete) {
            if (!name) throw new StrataError('BAD_INPUT', 'branch -d needs a branch name', {});
            const c = deleteBranch(repo, name);
            return out.result({ deleted: name, commit: c }, () =>
              out.line(`Deleted branch ${name} (was ${short(c)}).`),
            );
          }
          if (o.move) {
            if (!name) throw new StrataError('BAD_INPUT', 'branch -m needs OLD NEW (or NEW)', {});
            const h = readHead(repo);
            const [from, to] = start ? [name, start] : [h.kind === 'branch' ? h.branch : '', name];
            renameBranch(repo, from, to, o.force);
            return out.result({ renamed: from, to }, () => out.line(`Renamed branch ${from} to ${to}`));
          }
          if (name) {
            const c = resolveCommit(repo, start ?? 'HEAD');
            createBranch(repo, name, c, o.force);
            return out.result({ created: name, commit: c }, () =>
              out.line(`Created branch ${name} at ${short(c)}`),
            );
          }
          const branches = listBranches(repo);
          out.result(branches, () => {
            const h = readHead(repo);
            if (h.kind === 'detached') out.line(`* (HEAD detached at ${short(h.commit)})`);
            for (const b of branches)
              out.line(`${b.current ? '*' : ' '} ${b.current ? out.paint('green', b.name) : b.name}`);
          });
        });
      },
    );

  program
    .command('switch <target> [start]')
    .description('switch to a branch (-c to create it, --detach for a commit)')
    .option('-c, --create', 'create the branch (at START or HEAD) and switch to it')
    .option('-d, --detach', 'switch to a commit, detaching HEAD')
    .option('-f, --force', 'discard local changes that would be overwritten')
    .option('--json', 'machine-readable output')
    .action(
      async (
        target: string,
        start: string | undefined,
        o: { create?: boolean; detach?: boolean; force?: boolean; json?: boolean },
      ) => {
        const out = output(o);
        const { switchTo } = await import('../../core/checkout.js');
        await withRepo(g(), async (repo) => {
          const r = await switchTo(repo, target, {
            create: o.create,
            detach: o.detach,
            force: o.force,
            startPoint: start,
          });
          out.result(r, () =>
            out.line(
              r.branch
                ? `Switched to ${o.create ? 'a new ' : ''}branch '${r.branch}'`
                : `HEAD is now at ${short(r.commit)} (detached)`,
            ),
          );
        });
      },
    );

  program
    .command('checkout <rev> [paths...]')
    .description('checkout REV -- PATHS: set files to their state in REV; checkout BRANCH: switch')
    .option('-f, --force', 'discard local changes when switching')
    .option('--json', 'machine-readable output')
    .action(async (rev: string, paths: string[], o: { force?: boolean; json?: boolean }) => {
      const out = output(o);
      const { checkoutPaths, switchTo } = await import('../../core/checkout.js');
      await withRepo(g(), async (repo) => {
        if (paths.length) {
          const done = await checkoutPaths(repo, rev, repoPaths(repo, g(), paths));
          return out.result({ updated: done }, () => out.line(`Updated ${done.length} path(s) from ${rev}`));
        }
        const isBranch = repo.db.getRef(`refs/heads/${rev}`) !== undefined;
        const r = await switchTo(repo, rev, { detach: !isBranch, force: o.force });
        out.result(r, () =>
          out.line(r.branch ? `Switched to branch '${r.branch}'` : `HEAD is now at ${short(r.commit)}`),
        );
      });
    });

  program
    .command('tag [name] [rev]')
    .description('list tags, create NAME at REV (default HEAD), or delete (-d NAME)')
    .option('-d, --delete', 'delete the tag')
    .option('-f, --force', 'replace an existing tag')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string | undefined,
        rev: string | undefined,
        o: { delete?: boolean; force?: boolean; json?: boolean },
      ) => {
        const out = output(o);
        const { createTag, deleteTag, listTags } = await import('../../core/refs.js');
        const { resolveCommit } = await import('../../core/rev-parse.js');
        await withRepo(g(), (repo) => {
          if (o.delete) {
            if (!name) throw new StrataError('BAD_INPUT', 'tag -d needs a tag name', {});
            deleteTag(repo, name);
            return out.result({ deleted: name }, () => out.line(`Deleted tag '${name}'`));
          }
          if (name) {
            const c = resolveCommit(repo, rev ?? 'HEAD');
            createTag(repo, name, c, o.force);
            return out.result({ created: name, commit: c }, () => out.line(`Tagged ${short(c)} as ${name}`));
          }
          const tags = listTags(repo);
          out.result(tags, () => tags.forEach((t) => out.line(t.name)));
        });
      },
    );

  program
    .command('reset [rev]')
    .description(
      'move the current branch to REV (--soft: keep index; default: reset index; --hard: and files)',
    )
    .option('--soft', 'only move the branch')
    .option('--mixed', 'move the branch and reset the index (default)')
    .option('--hard', 'move the branch and reset index and working tree')
    .option('--json', 'machine-readable output')
    .action(async (rev: string | undefined, o: { soft?: boolean; hard?: boolean; json?: boolean }) => {
      const out = output(o);
      const { reset } = await import('../../core/checkout.js');
      await withRepo(g(), async (repo) => {
        const mode = o.hard ? 'hard' : o.soft ? 'soft' : 'mixed';
        const c = await reset(repo, rev ?? 'HEAD', mode);
        out.result({ commit: c, mode }, () => out.line(`HEAD is now at ${short(c)}`));
      });
    });
}
