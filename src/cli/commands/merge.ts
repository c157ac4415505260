/** merge: join another branch or revision into the current branch. */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import type { MergeConflict } from '../../core/merge.js';
import { output, short, withRepo, type GlobalOpts } from '../context.js';

const show = (v: unknown): string => {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length > 160 ? s.slice(0, 159) + '…' : s;
};

export function registerMergeCommand(program: Command, g: () => GlobalOpts): void {
  program
    .command('merge <rev>')
    .description('merge REV into the current branch (three-way; keyed JSONL files merge example by example)')
    .option('-m, --message <msg>', 'message of the merge commit')
    .option(
      '--key <fields>',
      'key field(s) for example-level merging, comma-separated (default: key= attribute)',
      (v) => v.split(','),
    )
    .option(
      '-X, --strategy-option <side>',
      "settle conflicts for one side: 'ours' or 'theirs' (its example, or its whole file)",
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        rev: string,
        o: { message?: string; key?: string[]; strategyOption?: string; json?: boolean },
      ) => {
        const out = output(o);
        const favor = o.strategyOption;
        if (favor !== undefined && favor !== 'ours' && favor !== 'theirs')
          throw new StrataError('BAD_INPUT', `-X ${favor}: expected ours or theirs`, { option: favor });
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
            if (
              e instanceof StrataError &&
              e.code === 'CONFLICT' &&
              Array.isArray(e.data.conflicts) &&
              !out.json
            ) {
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
            throw e;
          }
        });
      },
    );
}
