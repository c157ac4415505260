/** run (a transform whose outputs are committed with a record of it) and trace (a file's lineage). */
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import type { StdioOptions } from 'node:child_process';
import type { Repository } from '../../core/repository.js';
import type { LineageNode, RunResult, RunState } from '../../core/transform.js';
import { relative, sep } from 'node:path';
import { cwdOf, output, repoPaths, short, withRepo, type GlobalOpts } from '../context.js';
import type { Output } from '../output.js';
import { commandLine } from './history.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function printLineage(out: Output, n: LineageNode, depth: number): void {
  const pad = '  '.repeat(depth);
  const what = n.commit
    ? `${n.transform ? 'made by run' : 'committed in'} ${short(n.commit)} "${(n.message ?? '').split('\n')[0]}"`
    : 'no commit';
  out.line(`${pad}${out.paint('bold', n.path || '.')} ${n.kind} ${short(n.hash)}  ${what}`);
  if (n.transform) {
    const t = n.transform;
    const code = n.code?.commit ? `; code ${short(n.code.commit)}${n.code.dirty ? ' (dirty)' : ''}` : '';
    out.line(`${pad}    $ ${commandLine(t.command)}   (in ${t.cwd || '.'}, ${t.seconds} s${code})`);
    for (const s of n.staleInputs)
      out.line(
        out.paint(
          'red',
          `${pad}    stale: input ${s.path || '.'} changed since the run (${short(s.was)} → ${s.now ? short(s.now) : 'deleted'})`,
        ),
      );
    for (const i of n.inputs) printLineage(out, i, depth + 1);
  } else if (n.commit) out.line(`${pad}    (a source: not made by strata run)`);
}

/** One run `rerun --stale` runs again (or would): its outputs, command and why. */
function printRunState(out: Output, r: RunState): void {
  out.line(`${out.paint('bold', r.outputs.join(', '))}  made by run ${short(r.commit)}`);
  out.line(`    $ ${commandLine(r.transform.command)}   (in ${r.transform.cwd || '.'})`);
  for (const s of r.staleInputs)
    out.line(
      out.paint(
        'red',
        `    stale: input ${s.path || '.'} changed (${short(s.was)} → ${s.now ? short(s.now) : 'deleted'})`,
      ),
    );
  if (r.staleInputs.length === 0)
    out.line(`    reads the outputs of ${r.upstream.map((c) => short(c)).join(', ')}, which run first`);
  for (const x of r.replaced)
    out.line(
      out.paint(
        'yellow',
        `    output ${x.path} was changed since by ${x.by ? short(x.by) : 'another commit'}: running again replaces it (--force)`,
      ),
    );
}

/**
 * Runs a transform (`run`, `rerun`) with Ctrl-C stopping its command, and with --json its command's output on
 * stderr (stdout carries the result); warns when the code repository was dirty; prints the result.
 */
async function runAndReport<R extends RunResult>(
  repo: Repository,
  out: Output,
  o: { message?: string },
  go: (io: { stdio: StdioOptions; signal: AbortSignal }) => Promise<R>,
  unchanged: (r: R) => string,
): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  try {
    const r = await go({ stdio: out.json ? ['inherit', 2, 'inherit'] : 'inherit', signal: ac.signal });
    const code = r.commit
      ? (repo.objects.commit(r.commit).meta.code as { dirty?: boolean } | undefined)
      : undefined;
    if (code?.dirty)
      out.warn(
        'the code repository has uncommitted changes: the record names its HEAD, not exactly the code that ran',
      );
    out.result(r, () => {
      if (!r.commit) out.line(unchanged(r));
      else
        out.line(
          `[${r.branch ?? 'detached HEAD'} ${short(r.commit)}] ${o.message ?? `run: ${commandLine(r.transform.command)}`}`,
        );
      for (const i of r.transform.inputs) out.line(`  input  ${i.path || '.'} ${short(i.hash)}`);
      for (const x of r.transform.outputs) out.line(`  output ${x.path} ${short(x.hash)}`);
    });
  } finally {
    process.off('SIGINT', stop);
  }
}

export function registerTransformCommands(program: Command, g: () => GlobalOpts): void {
  program
    .command('run [command...]')
    .description(
      'run a command that turns committed inputs into outputs, then commit the outputs with a record of the run: strata run -i IN -o OUT -- COMMAND ARGS...',
    )
    .option(
      '-i, --input <path>',
      'a file or directory the command reads (committed, unmodified); repeatable',
      collect,
      [],
    )
    .option(
      '-o, --output <path>',
      'a file or directory the command writes (committed after it succeeds); repeatable',
      collect,
      [],
    )
    .option('-m, --message <msg>', 'commit message (default: "run: COMMAND")')
    .option('-f, --force', 'let the command replace outputs that have changes not committed')
    .option('--json', "machine-readable output (the command's own output still goes to the terminal)")
    .action(
      async (
        command: string[],
        o: { input: string[]; output: string[]; message?: string; force?: boolean; json?: boolean },
      ) => {
        const out = output(o);
        if (!process.argv.includes('--'))
          throw new StrataError(
            'BAD_INPUT',
            'run: put the command after --, e.g. strata run -i IN -o OUT -- python clean.py',
            {},
          );
        const { runTransform } = await import('../../core/transform.js');
        await withRepo(g(), async (repo) => {
          const here = relative(repo.root, cwdOf(g()));
          const cwd = here.startsWith('..') ? '' : here.split(sep).join('/');
          await runAndReport(
            repo,
            out,
            o,
            (io) =>
              runTransform(repo, {
                command,
                inputs: repoPaths(repo, g(), o.input),
                outputs: repoPaths(repo, g(), o.output),
                cwd,
                ...(o.message ? { message: o.message } : {}),
                force: !!o.force,
                ...io,
              }),
            () => 'outputs unchanged since HEAD: nothing committed',
          );
        });
      },
    );

  program
    .command('rerun [path]')
    .description(
      'run again the run that made PATH (its command, inputs and outputs), on the inputs as HEAD has them; --stale: every run whose inputs changed, upstream first',
    )
    .option('-m, --message <msg>', 'commit message (default: "run: COMMAND")')
    .option('-f, --force', 'let the command replace outputs that have changes not committed')
    .option('--stale', 'run again every run whose outputs are out of date (and those reading them)')
    .option('-n, --dry-run', 'with --stale: list the runs that would run again, and why; run nothing')
    .option('--json', "machine-readable output (the command's own output goes to stderr)")
    .action(
      async (
        path: string | undefined,
        o: { message?: string; force?: boolean; stale?: boolean; dryRun?: boolean; json?: boolean },
      ) => {
        const out = output(o);
        if (!!path === !!o.stale)
          throw new StrataError('BAD_INPUT', 'rerun takes a PATH or --stale (not both)', { path });
        if (o.dryRun && !o.stale) throw new StrataError('BAD_INPUT', '--dry-run goes with --stale', {});
        if (o.stale && o.message)
          throw new StrataError('BAD_INPUT', '--stale runs each with its own message (no -m)', {});
        const { rerun, rerunStale, runStates } = await import('../../core/transform.js');
        if (o.stale) {
          await withRepo(g(), async (repo) => {
            if (o.dryRun) {
              const { toRerun } = runStates(repo);
              out.result(toRerun, () => {
                if (toRerun.length === 0) out.line('every run output is up to date');
                for (const r of toRerun) printRunState(out, r);
              });
              return;
            }
            const ac = new AbortController();
            const stop = (): void => ac.abort();
            process.once('SIGINT', stop);
            try {
              const done = await rerunStale(repo, {
                stdio: out.json ? ['inherit', 2, 'inherit'] : 'inherit',
                signal: ac.signal,
                force: !!o.force,
                onRun: (r) => {
                  if (!out.json) printRunState(out, r);
                },
                onResult: (_r, res) => {
                  if (out.json) return;
                  if (res.commit) out.line(`  committed ${short(res.commit)}`);
                  else out.line('  outputs unchanged: nothing committed');
                },
              });
              out.result(
                done.map((d) => ({ run: d.run.commit, outputs: d.run.outputs, result: d.result })),
                () => {
                  const skipped = done.filter((d) => !d.result);
                  for (const d of skipped)
                    out.line(
                      `${short(d.run.commit)} ${d.run.outputs.join(', ')}: up to date after the runs before it`,
                    );
                  if (done.length === 0) out.line('every run output is up to date');
                },
              );
            } finally {
              process.off('SIGINT', stop);
            }
          });
          return;
        }
        await withRepo(g(), (repo) =>
          runAndReport(
            repo,
            out,
            o,
            (io) =>
              rerun(repo, repoPaths(repo, g(), [path!])[0]!, {
                ...(o.message ? { message: o.message } : {}),
                force: !!o.force,
                ...io,
              }),
            (r) => `same inputs, same outputs as run ${short(r.rerun)}: nothing committed`,
          ),
        );
      },
    );

  program
    .command('trace <path> [rev]')
    .description("show a file's lineage: the run that made it, from which inputs, and theirs in turn")
    .option('--json', 'machine-readable output (one nested object)')
    .action(async (path: string, rev: string | undefined, o: { json?: boolean }) => {
      const out = output(o);
      const { trace } = await import('../../core/transform.js');
      await withRepo(g(), (repo) => {
        const n = trace(repo, repoPaths(repo, g(), [path])[0]!, rev ?? 'HEAD');
        out.result(n, () => printLineage(out, n, 0));
      });
    });
}
