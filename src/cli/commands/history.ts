/** log, show, rev-parse, cat, ls-tree, fsck (and fsck --repair). */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { SummaryEvent } from '../../core/diff/types.js';
import { StrataError } from '../../core/errors.js';
import type { LogEntry } from '../../core/history.js';
import type { TransformRecord } from '../../core/transform.js';
import type { Repository } from '../../core/repository.js';
import {
  countOption,
  cwdOf,
  output,
  rangeEnds,
  repoPaths,
  revisionsAndPaths,
  short,
  withRepo,
  type GlobalOpts,
} from '../context.js';
import type { Output } from '../output.js';

const date = (c: LogEntry): string => {
  const d = new Date((c.time + c.tz * 60) * 1000);
  const sign = c.tz >= 0 ? '+' : '-';
  const tz = `${sign}${String(Math.floor(Math.abs(c.tz) / 60)).padStart(2, '0')}${String(Math.abs(c.tz) % 60).padStart(2, '0')}`;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} ${tz}`;
};

/** The command line of a run, as one line (arguments with spaces or quotes quoted). */
export const commandLine = (argv: readonly string[]): string =>
  argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

/** The lines `log` and `show` print under a run commit's header. */
export function describeTransform(t: TransformRecord): string[] {
  const lines = [`Run:    ${commandLine(t.command)}${t.cwd ? `   (in ${t.cwd})` : ''}`];
  for (const i of t.inputs) lines.push(`Input:  ${i.path || '.'} ${short(i.hash)}`);
  for (const o of t.outputs) lines.push(`Output: ${o.path} ${short(o.hash)}`);
  return lines;
}

/** A commit as `log` lists it: one line (`--oneline`), or its header and message after a blank line. */
function printLogEntry(out: Output, c: LogEntry, oneline: boolean | undefined, first: boolean): void {
  if (oneline) out.line(`${out.paint('yellow', short(c.hash))} ${c.message.split('\n')[0]}`);
  else {
    if (!first) out.line();
    printCommit(out, c);
  }
}

function printCommit(out: Output, c: LogEntry): void {
  out.line(out.paint('yellow', `commit ${c.hash}`));
  if (c.parents.length > 1) out.line(`Merge: ${c.parents.map(short).join(' ')}`);
  out.line(`Author: ${c.author.name} <${c.author.email}>`);
  out.line(`Date:   ${date(c)}`);
  const code = c.meta.code as { commit?: string; dirty?: boolean } | undefined;
  if (code?.commit) out.line(`Code:   ${code.commit}${code.dirty ? ' (dirty)' : ''}`);
  const t = c.meta.transform as TransformRecord | undefined;
  if (t && Array.isArray(t.command)) for (const l of describeTransform(t)) out.line(l);
  out.line();
  for (const l of c.message.split('\n')) out.line(`    ${l}`);
}

/** The tree a revision names (a commit's tree, or a tree itself). */
async function treeOf(repo: Repository, rev: string): Promise<string> {
  const { resolveRevision } = await import('../../core/rev-parse.js');
  const r = resolveRevision(repo, rev);
  if (r.kind === 'commit') return repo.objects.commit(r.hash).tree;
  if (r.kind === 'tree') return r.hash;
  throw new StrataError('BAD_INPUT', `${rev} names a file, not a tree`, { rev });
}

export function registerHistoryCommands(program: Command, g: () => GlobalOpts): void {
  program
    .command('log [args...]')
    .description(
      'show commit history: [REV | A..B | REV ^A] [-- PATHS] (only the commits that changed those paths)',
    )
    .option('--oneline', 'one line per commit')
    .option('-n, --max-count <n>', 'show at most N commits', countOption('--max-count'))
    .option('--json', 'JSON Lines, one commit per line')
    .option(
      '--example <key>',
      "one example's history: the commits that added, removed or changed the example with this key in the file after --, and how",
    )
    .option('--key <fields>', 'key field(s) for --example, comma-separated (default: key= attribute)', (v) =>
      v.split(','),
    )
    .action(
      async (
        args: string[],
        o: { oneline?: boolean; maxCount?: number; json?: boolean; example?: string; key?: string[] },
      ) => {
        const out = output(o);
        const { revs, paths } = revisionsAndPaths(args);
        if (o.key && o.example === undefined)
          throw new StrataError('BAD_INPUT', '--key goes with --example', {});
        // git's ranges: A..B (B's commits that A lacks; an empty side is HEAD) and ^A (leave out A's).
        const include: string[] = [];
        const exclude: string[] = [];
        for (const r of revs) {
          if (r.includes('...'))
            throw new StrataError('BAD_INPUT', `symmetric ranges (A...B) are not supported: ${r}`, {
              rev: r,
            });
          const ends = rangeEnds(r);
          if (ends) {
            exclude.push(ends[0]);
            include.push(ends[1]);
          } else if (r.startsWith('^') && r.length > 1) exclude.push(r.slice(1));
          else include.push(r);
        }
        if (include.length > 1)
          throw new StrataError('BAD_INPUT', 'log takes one revision or range (use -- before paths)', {
            revs,
          });
        if (o.example !== undefined) {
          if (paths.length !== 1)
            throw new StrataError(
              'BAD_INPUT',
              'log --example KEY takes one path (-- PATH): the file the example is in',
              {
                paths,
              },
            );
          const [{ exampleLog }, { renderChange }] = await Promise.all([
            import('../../core/example-log.js'),
            import('../diff-output.js'),
          ]);
          await withRepo(g(), async (repo) => {
            let first = true;
            const [path] = repoPaths(repo, g(), paths);
            for await (const e of exampleLog(repo, include[0] ?? 'HEAD', path!, o.example!, {
              ...(o.key ? { keyFields: o.key } : {}),
              ...(o.maxCount !== undefined ? { limit: o.maxCount } : {}),
              exclude,
            })) {
              await out.drained();
              if (out.json) {
                out.record(e);
                continue;
              }
              printLogEntry(out, e.commit, o.oneline, first);
              if (!o.oneline) out.line();
              out.line(`  ${e.change.path}: ${renderChange(e.change, { color: out.color })}`);
              first = false;
            }
            if (first && !out.json) out.line(`No commit in this history changed the example ${o.example}.`);
          });
          return;
        }
        const { log } = await import('../../core/history.js');
        await withRepo(g(), async (repo) => {
          let first = true;
          const only = repoPaths(repo, g(), paths);
          for (const c of log(repo, include[0] ?? 'HEAD', { limit: o.maxCount, paths: only, exclude })) {
            // A long history into a slow pipe (`strata log | less`) waits for the reader, not in memory.
            await out.drained();
            if (out.json) out.record(c);
            else printLogEntry(out, c, o.oneline, first);
            first = false;
          }
        });
      },
    );

  program
    .command('show [rev]')
    .description('show a commit and the files it changed')
    .option('--stat', 'examples added, removed and modified in each file (against the first parent)')
    .option('--json', 'machine-readable output')
    .action(async (rev: string | undefined, o: { json?: boolean; stat?: boolean }) => {
      const out = output(o);
      const { show } = await import('../../core/history.js');
      await withRepo(g(), async (repo) => {
        const s = show(repo, rev ?? 'HEAD');
        if (o.stat) {
          const { diffRevisions } = await import('../../core/diff/diff-revisions.js');
          const { renderStat } = await import('../diff-output.js');
          const summaries: SummaryEvent[] = [];
          const parent = s.parents[0];
          for await (const ev of diffRevisions(repo, parent, s.hash, { limit: 0, emptyBefore: !parent }))
            if (ev.type === 'summary') summaries.push(ev);
            else if (ev.type === 'warning' && !out.json) out.warn(`${ev.path}: ${ev.message}`);
          return out.result({ ...s, stat: summaries }, () => {
            printCommit(out, s);
            out.line();
            out.stdout.write(renderStat(summaries, { color: out.color }));
          });
        }
        out.result(s, () => {
          printCommit(out, s);
          out.line();
          const mark = { added: 'A', modified: 'M', deleted: 'D' } as const;
          for (const c of s.changes) {
            const size =
              c.kind === 'modified'
                ? `${c.before!.size} -> ${c.after!.size} bytes`
                : `${(c.after ?? c.before)!.size} bytes`;
            out.line(`${mark[c.kind]}\t${c.path}\t(${size})`);
          }
        });
      });
    });

  program
    .command('rev-parse <rev>')
    .description('print the full hash a revision names (REV, REV^{tree}, REV:PATH)')
    .option('--json', 'machine-readable output')
    .action(async (rev: string, o: { json?: boolean }) => {
      const out = output(o);
      const { resolveRevision } = await import('../../core/rev-parse.js');
      await withRepo(g(), (repo) => {
        const r = resolveRevision(repo, rev);
        out.result(r, () => out.line(r.hash));
      });
    });

  program
    .command('cat <spec>')
    .description("stream a file's bytes to stdout: REV:PATH or PIN:PATH")
    .action(async (spec: string) => {
      const { looksLikePin } = await import('../../core/pin/pin.js');
      if (looksLikePin(spec)) return (await import('./pin.js')).catPin(g(), spec);
      const { resolveRevision } = await import('../../core/rev-parse.js');
      const { readFile } = await import('../../core/object-reader.js');
      await withRepo(g(), async (repo) => {
        if (!spec.includes(':'))
          throw new StrataError('BAD_INPUT', `expected REV:PATH, got '${spec}'`, { spec });
        const r = resolveRevision(repo, spec);
        if (r.kind !== 'file')
          throw new StrataError('BAD_INPUT', `${spec} is a ${r.kind}, not a file`, { spec });
        const { ensureFileData } = await import('../../core/partial.js');
        await ensureFileData(repo, [r.hash]);
        await pipeline(Readable.from(readFile(repo.objects, repo.objects.manifest(r.hash))), process.stdout, {
          end: false,
        });
      });
    });

  program
    .command('ls-tree <rev> [path]')
    .description('list the entries of a tree')
    .option('-r, --recursive', 'list files in subtrees too')
    .option('--json', 'JSON Lines, one entry per line')
    .action(async (rev: string, path: string | undefined, o: { recursive?: boolean; json?: boolean }) => {
      const out = output(o);
      const { lsTree } = await import('../../core/history.js');
      await withRepo(g(), async (repo) => {
        for (const e of lsTree(repo, (await treeOf(repo, rev)) as never, path ?? '', o.recursive)) {
          if (out.json) out.record({ path: e.path, kind: e.kind, hash: e.hash, size: e.size });
          else out.line(`${e.kind}\t${e.hash}\t${String(e.size).padStart(12)}\t${e.path}`);
        }
      });
    });

  program
    .command('fsck')
    .description('verify every object, pack and reference; --repair rebuilds the index from the packs')
    .option('--repair', 'rebuild the object index (or a damaged index.sqlite) from the pack files')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean; repair?: boolean }) => {
      const out = output(o);
      if (o.repair) return repairCommand(out, g());
      const { fsck } = await import('../../core/fsck.js');
      await withRepo(g(), async (repo) => {
        const r = await fsck(repo);
        out.result(r, () => {
          for (const p of r.problems) out.line(out.paint('red', `error: ${p.message}`));
          for (const f of r.danglingFiles)
            out.line(`dangling: packs/${f} (left by an interrupted write; safe to delete)`);
          if (r.remoteOnly)
            out.line(`${r.remoteOnly} chunk(s) are held only by a remote (fetch --all to store them here)`);
          out.line(
            `checked ${r.objects} objects in ${r.packs} packs; ${r.reachable} reachable; ${r.problems.length} problem(s)`,
          );
        });
        if (r.problems.length) {
          throw new StrataError('INTEGRITY', `fsck found ${r.problems.length} problem(s)`, {
            problems: r.problems.length,
            reported: true,
          });
        }
      });
    });
}

async function repairCommand(out: Output, g: GlobalOpts): Promise<void> {
  const { repair } = await import('../../core/repair.js');
  const r = await repair(cwdOf(g));
  out.result(r, () => {
    if (r.indexRebuilt) {
      out.line('index.sqlite was damaged: rebuilt from the packs; the damaged files are kept as');
      for (const f of r.movedAside) out.line(`  ${f}`);
      for (const [t, n] of Object.entries(r.salvaged)) out.line(`salvaged ${n} row(s) of ${t}`);
      for (const t of r.unsalvageable) out.line(out.paint('yellow', `could not salvage ${t}`));
      for (const ref of r.recoveredRefs)
        out.line(`recovered ${ref.name.replace(/^refs\/heads\//, '')} -> ${ref.commit}`);
    }
    for (const p of r.packProblems)
      out.line(out.paint('yellow', `pack ${p.pack}${p.object ? ` object ${p.object}` : ''}: ${p.problem}`));
    for (const d of r.rowsDropped) out.line(`dropped index row of ${d.hash} (pack ${d.pack}: ${d.reason})`);
    out.line(`indexed ${r.objectsIndexed} verified objects from ${r.packsScanned} pack file(s)`);
    for (const p of r.unrepairable) out.line(out.paint('red', `not repaired: ${p.message}`));
    out.line(
      r.unrepairable.length
        ? `${r.unrepairable.length} problem(s) could not be repaired (fetch the objects from a remote, or restore the packs)`
        : 'repository is consistent',
    );
  });
  if (r.unrepairable.length) {
    throw new StrataError(
      'INTEGRITY',
      `fsck --repair: ${r.unrepairable.length} problem(s) could not be repaired`,
      {
        problems: r.unrepairable.length,
        reported: true,
      },
    );
  }
}
