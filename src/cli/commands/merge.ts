/**
 * merge: join another branch or revision into the current branch; cherry-pick and revert: apply one commit's
 * changes (or undo them) as a new commit. All three are three-way merges (core/merge.ts).
 */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import type { MergeConflict } from '../../core/merge.js';
import { output, short, withRepo, type GlobalOpts } from '../context.js';

const show = (v: unknown): string => {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length > 160 ? s.slice(0, 159) + '…' : s;
};

type Output = ReturnType<typeof output>;

/** A merge's conflicts, as the CLI lists them (with --json they are in the error record). */
function printConflicts(out: Output, e: unknown): void {
  if (!(e instanceof StrataError && e.code === 'CONFLICT' && Array.isArray(e.data.conflicts) && !out.json))
    return;
  for (const c of e.data.conflicts as MergeConflict[]) {
    out.line(
      out.paint(
        'red',
        `CONFLICT ${c.path}${c.level === 'example' ? ` key ${show(c.key)}` : ''}: ${c.reason}`,
      ),
    );
    if (c.level === 'example') {
      out.line(`  base:   ${show(c.base)}`);
      out.line(`  ours:   ${show(c.ours)}`);
      out.line(`  theirs: ${show(c.theirs)}`);
    }
  }
}

function favorOf(v: string | undefined): 'ours' | 'theirs' | undefined {
  if (v !== undefined && v !== 'ours' && v !== 'theirs')
    throw new StrataError('BAD_INPUT', `-X ${v}: expected ours or theirs`, { option: v });
  return v;
}

function mainlineOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^[1-9][0-9]*$/.test(v))
    throw new StrataError('BAD_INPUT', `--mainline ${v}: expected a parent number (1, 2, ...)`, {
      option: v,
    });
  return n;
}

/** --key and -X, as merge, cherry-pick and revert take them. */
function mergeOptions(cmd: Command, sides: string): Command {
  return cmd
    .option(
      '--key <fields>',
      'key field(s) for example-level merging, comma-separated (default: key= attribute)',
      (v) => v.split(','),
    )
    .option('-X, --strategy-option <side>', `settle conflicts for one side: ${sides}`);
}

/** `cherry-pick REV` and `revert REV`: one commit's changes applied (or undone) as a new commit. */
function registerApply(program: Command, g: () => GlobalOpts, kind: 'cherry-pick' | 'revert'): void {
  const cmd = program
    .command(`${kind} <rev>`)
    .description(
      kind === 'cherry-pick'
        ? "apply REV's changes to the current branch as a new commit (keyed JSONL, CSV and TSV files example by example)"
        : 'make a new commit that undoes REV, keeping what was committed since (keyed JSONL, CSV and TSV files example by example)',
    )
    .option('--mainline <n>', 'for a merge commit: the parent (1, 2, ...) its changes are taken against');
  mergeOptions(
    cmd,
    `'ours' (keep HEAD's) or 'theirs' (take the ${kind === 'revert' ? 'undoing' : "commit's"} change)`,
  );
  if (kind === 'cherry-pick') cmd.option('-x', 'add a line naming the commit it was picked from');
  else cmd.option('-m, --message <msg>', 'message of the new commit');
  cmd.option('--json', 'machine-readable output').action(
    async (
      rev: string,
      o: {
        mainline?: string;
        key?: string[];
        strategyOption?: string;
        x?: boolean;
        message?: string;
        json?: boolean;
      },
    ) => {
      const out = output(o);
      const favor = favorOf(o.strategyOption);
      const mainline = mainlineOf(o.mainline);
      const opts = {
        ...(mainline !== undefined ? { mainline } : {}),
        ...(o.key ? { key: o.key } : {}),
        ...(favor ? { favor } : {}),
        meta: { command: ['strata', ...process.argv.slice(2)].join(' ') },
      };
      await withRepo(g(), async (repo) => {
        try {
          const r =
            kind === 'cherry-pick'
              ? await (
                  await import('../../core/cherry-pick.js')
                ).cherryPick(repo, rev, {
                  ...opts,
                  ...(o.x ? { recordOrigin: true } : {}),
                })
              : await (
                  await import('../../core/revert.js')
                ).revert(repo, rev, {
                  ...opts,
                  ...(o.message ? { message: o.message } : {}),
                });
          out.result(r, () => {
            out.line(
              `${kind === 'revert' ? 'Reverted' : 'Picked'} ${short(r.applied)} as ${short(r.commit)}`,
            );
            for (const m of r.exampleMerges)
              out.line(
                `  ${m.path}: ${m.fromTheirs} example(s) ${kind === 'revert' ? 'undone' : 'changed'}, ${m.fromOurs} kept as this branch has them`,
              );
            for (const p of r.updated)
              if (!r.exampleMerges.some((m) => m.path === p)) out.line(`  ${p}: whole file`);
            for (const x of r.resolved)
              out.line(
                x.file
                  ? `  ${x.path}: ${x.reason}: ${favor === 'theirs' ? 'took the change' : 'kept ours'}`
                  : `  ${x.path}: ${x.examples} conflicting example(s) settled for ${favor}`,
              );
          });
        } catch (e) {
          printConflicts(out, e);
          throw e;
        }
      });
    },
  );
}

export function registerMergeCommand(program: Command, g: () => GlobalOpts): void {
  const cmd = program
    .command('merge <rev>')
    .description(
      'merge REV into the current branch (three-way; keyed JSONL, CSV and TSV files merge example by example)',
    )
    .option('-m, --message <msg>', 'message of the merge commit');
  mergeOptions(cmd, "'ours' or 'theirs' (its example, or its whole file)")
    .option('--json', 'machine-readable output')
    .action(
      async (
        rev: string,
        o: { message?: string; key?: string[]; strategyOption?: string; json?: boolean },
      ) => {
        const out = output(o);
        const favor = favorOf(o.strategyOption);
        const { merge } = await import('../../core/merge.js');
        await withRepo(g(), async (repo) => {
          try {
            const r = await merge(repo, rev, {
              ...(o.message ? { message: o.message } : {}),
              ...(o.key ? { key: o.key } : {}),
              ...(favor ? { favor } : {}),
              meta: { command: ['strata', ...process.argv.slice(2)].join(' ') },
            });
            out.result(r, () => {
              if (r.status === 'up-to-date') return out.line('Already up to date.');
              if (r.status === 'fast-forward') return out.line(`Fast-forward to ${short(r.commit)}`);
              out.line(`Merged ${rev} as ${short(r.commit)}`);
              for (const m of r.exampleMerges)
                out.line(`  ${m.path}: ${m.fromTheirs} example(s) from ${rev}, ${m.fromOurs} from ours`);
              for (const p of r.updated)
                if (!r.exampleMerges.some((m) => m.path === p)) out.line(`  ${p}: taken from ${rev}`);
              for (const x of r.resolved)
                out.line(
                  x.file
                    ? `  ${x.path}: ${x.reason}: ${favor === 'theirs' ? `took ${rev}'s version` : 'kept ours'}`
                    : `  ${x.path}: ${x.examples} conflicting example(s) settled for ${favor}`,
                );
            });
          } catch (e) {
            printConflicts(out, e);
            throw e;
          }
        });
      },
    );
  registerApply(program, g, 'cherry-pick');
  registerApply(program, g, 'revert');
}
