/** diff: example by example, between revisions or against the working tree. */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import type { SummaryEvent } from '../../core/diff/types.js';
import {
  countOption,
  output,
  rangeEnds,
  repoPaths,
  revisionsAndPaths,
  withRepo,
  type GlobalOpts,
} from '../context.js';
import { tuneEngineForDiff } from '../engine-tuning.js';

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function registerDiffCommand(program: Command, g: () => GlobalOpts): void {
  program
    .command('diff [revs...]')
    .description(
      'example-level diff: [REV_A [REV_B]] [-- PATHS] (default: HEAD against the working tree; --staged: against the index)',
    )
    .option('--stat', 'per file: examples added, removed, modified; bytes')
    .option('--name-only', 'only the names of changed files')
    .option('--json', 'JSON Lines: change, warning and summary records')
    .option('--key <fields>', 'match examples by these field(s), comma-separated', list)
    .option('--ignore-fields <fields>', 'drop these fields before comparing, comma-separated', list)
    .option('--limit <n>', 'show at most N changes per file', countOption('--limit'))
    .option('--exit-code', 'exit 1 when there are differences (any file whose bytes changed)')
    .option('--staged', 'the staged files (what commit would record) against REV_A (default HEAD)')
    .option('--cached', 'the same as --staged')
    .option('--no-renames', 'no rename detection: a moved file is one removed and one added')
    .action(
      async (
        args: string[],
        o: {
          stat?: boolean;
          nameOnly?: boolean;
          json?: boolean;
          key?: string[];
          ignoreFields?: string[];
          limit?: number;
          exitCode?: boolean;
          staged?: boolean;
          cached?: boolean;
          renames?: boolean;
        },
      ) => {
        const out = output(o);
        const { revs: given, paths } = revisionsAndPaths(args);
        // git's A..B is A B here (an empty side is HEAD).
        const revs = given.flatMap((r) => rangeEnds(r) ?? [r]);
        const staged = !!(o.staged || o.cached);
        if (revs.length > (staged ? 1 : 2))
          throw new StrataError(
            'BAD_INPUT',
            `diff${staged ? ' --staged' : ''} takes at most ${staged ? 'one revision' : 'two revisions'} (use -- before paths)`,
            { revs },
          );
        // (engine-tuning.ts: the engine's largest function is left unoptimized.)
        tuneEngineForDiff();
        const { diffRevisions } = await import('../../core/diff/diff-revisions.js');
        const { createHumanRenderer, renderJsonLine, renderNameOnly, renderStat } =
          await import('../diff-output.js');
        await withRepo(g(), async (repo) => {
          const summaries: SummaryEvent[] = [];
          const human = createHumanRenderer({ color: out.color });
          const events = diffRevisions(repo, revs[0], revs[1], {
            paths: repoPaths(repo, g(), paths),
            ...(o.key ? { key: o.key } : {}),
            ...(o.ignoreFields ? { ignoreFields: o.ignoreFields } : {}),
            // --stat and --name-only show counts only: no change events need building.
            ...(o.stat || o.nameOnly ? { limit: 0 } : o.limit !== undefined ? { limit: o.limit } : {}),
            nameOnly: !!o.nameOnly && !o.json && !o.stat,
            staged,
            renames: o.renames !== false,
          });
          for await (const ev of events) {
            if (ev.type === 'summary') summaries.push(ev);
            if (o.json) {
              if (!(o.stat || o.nameOnly) || ev.type === 'summary')
                out.stdout.write(renderJsonLine(ev) + '\n');
            } else if (o.nameOnly) {
              if (ev.type === 'summary') out.stdout.write(renderNameOnly(ev));
            } else if (o.stat) {
              if (ev.type === 'warning') out.warn(`${ev.path}${ev.line ? `:${ev.line}` : ''}: ${ev.message}`);
            } else {
              out.stdout.write(human(ev));
            }
            await out.drained();
          }
          if (o.stat && !o.json) out.stdout.write(renderStat(summaries, { color: out.color }));
          // A difference: any file shown (bytes changed, even where the examples did not: a shuffle).
          if (o.exitCode && summaries.some((s) => s.status !== 'unchanged' || !s.identical || s.renamedFrom))
            process.exitCode = 1;
        });
      },
    );
}
