/** gc: remove unreachable objects and consolidate packs (src/core/gc.ts). */
import type { Command } from 'commander';
import type { GcReport } from '../../core/gc.js';
import { output, withRepo, type GlobalOpts } from '../context.js';

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

export function registerGcCommand(program: Command, g: () => GlobalOpts): void {
  program
    .command('gc')
    .description('remove unreachable objects and repack what is reachable into few packs')
    .option('-n, --dry-run', 'report what would be removed; change nothing')
    .option(
      '--expire-reflog <when>',
      'reflog entries older than this stop keeping commits: now, never or <N>d',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { dryRun?: boolean; expireReflog?: string; json?: boolean }) => {
      const out = output(o);
      const { gc } = await import('../../core/gc.js');
      await withRepo(g(), async (repo) => {
        const r: GcReport = await gc(repo, { dryRun: o.dryRun, expireReflog: o.expireReflog });
        out.result(r, () => {
          const verb = (done: string): string => (r.dryRun ? `would be ${done}` : done);
          if (r.dryRun) out.line('dry run: nothing changed');
          out.line(`${r.objects.kept} objects kept, ${r.objects.removed} unreachable ${verb('removed')}`);
          out.line(
            `packs: ${r.packs.before} -> ${r.packs.after} (${r.packs.written} ${verb('written')}, ${r.packs.deleted} ${verb('deleted')}); ` +
              `${mib(r.bytes.before)} -> ${mib(r.bytes.after)}`,
          );
          if (r.reflog.expired)
            out.line(`reflog: ${r.reflog.expired} entries older than ${r.reflog.expire} ${verb('expired')}`);
          if (r.notLocal)
            out.line(`${r.notLocal} reachable chunk(s) are held only by a remote (partial clone)`);
          for (const f of r.leftovers)
            out.line(`${r.dryRun ? 'would remove' : 'removed'} leftover packs/${f} (interrupted write)`);
          for (const d of r.scratchRemoved)
            out.line(
              `${r.dryRun ? 'would remove' : 'removed'} .strata/tmp/${d} (left by a process that died)`,
            );
          for (const f of r.unknownPacksKept)
            out.warn(
              `packs/${f} is not in the index but holds objects it lacks: kept (run 'strata fsck --repair')`,
            );
        });
      });
    });
}
