/** remote add|remove|list, push, fetch, pull, clone, ls-remote. */
import type { Command } from 'commander';
import type { RemoteSettings, TransferProgress } from '../../core/remote/index.js';
import type { Output } from '../output.js';
import { cwdOf, output, short, withRepo, type GlobalOpts } from '../context.js';

interface S3Flags {
  endpointUrl?: string;
  region?: string;
  checksumsWhenRequired?: boolean;
}

const settingsOf = (o: S3Flags): RemoteSettings => ({
  ...(o.endpointUrl ? { endpoint: o.endpointUrl } : {}),
  ...(o.region ? { region: o.region } : {}),
  ...(o.checksumsWhenRequired ? { checksums: 'when-required' as const } : {}),
});

const s3Flags = (c: Command): Command =>
  c
    .option(
      '--endpoint-url <url>',
      'S3 endpoint of an S3-compatible server (default AWS_ENDPOINT_URL, else AWS)',
    )
    .option('--region <region>', 'S3 region (default AWS_REGION)')
    .option(
      '--checksums-when-required',
      'send request checksums only when required (some S3-compatible servers)',
    );

/** Progress on stderr when it is a TTY: bytes, rate and objects. */
function transferProgress(out: Output, label: string): TransferProgress & { stop(): void } {
  const bar = out.progress(label);
  let objects = 0;
  return {
    onBytes: (n) => bar.onBytes?.(n),
    onObjects: (n) => {
      objects += n;
      bar.onFile?.(`${objects} objects`);
    },
    onPhase: (p) => bar.onFile?.(objects ? `${p}, ${objects} objects` : p),
    stop: () => bar.stop(),
  };
}

/** The remote modules (and through them the S3 SDK, lazily), loaded by the commands that use them. */
const remotes = () => import('../../core/remote/index.js');

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

export function registerRemoteCommands(program: Command, g: () => GlobalOpts): void {
  const remote = program.command('remote').description('manage remotes (S3 buckets or directories)');
  s3Flags(remote.command('add <name> <url>'))
    .description('add a remote: s3://bucket/prefix, file:///path or a path')
    .option('--json', 'machine-readable output')
    .action(async (name: string, url: string, o: S3Flags & { json?: boolean }) => {
      const out = output(o);
      const { addRemote } = await remotes();
      await withRepo(g(), (repo) => {
        const r = addRemote(repo, name, url, settingsOf(o), cwdOf(g()));
        out.result(r, () => out.line(`Added remote ${r.name} → ${r.url}`));
      });
    });
  remote
    .command('remove <name>')
    .alias('rm')
    .description('remove a remote and its remote-tracking refs')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: { json?: boolean }) => {
      const out = output(o);
      const { removeRemote } = await remotes();
      await withRepo(g(), (repo) => {
        removeRemote(repo, name);
        out.result({ removed: name }, () => out.line(`Removed remote ${name}`));
      });
    });
  remote
    .command('list', { isDefault: true })
    .alias('ls')
    .description('list remotes')
    .option('-v, --verbose', 'show URLs')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean; verbose?: boolean }) => {
      const out = output(o);
      const { listRemotes } = await remotes();
      await withRepo(g(), (repo) => {
        const list = listRemotes(repo);
        out.result(list, () =>
          list.forEach((r) =>
            out.line(
              o.verbose ? `${r.name}\t${r.url}${r.endpoint ? ` (endpoint ${r.endpoint})` : ''}` : r.name,
            ),
          ),
        );
      });
    });

  program
    .command('push [remote] [refs...]')
    .description('send branches (default: the current one) and tags to a remote (default origin)')
    .option('--tags', 'push every tag too')
    .option('-f, --force', 'allow a non-fast-forward update (still compare-and-swap)')
    .option('--json', 'machine-readable output')
    .action(
      async (
        rem: string | undefined,
        refs: string[],
        o: { tags?: boolean; force?: boolean; json?: boolean },
      ) => {
        const out = output(o);
        const { getRemote, push } = await remotes();
        await withRepo(g(), async (repo) => {
          const bar = transferProgress(out, 'push');
          const r = await push(repo, {
            remote: rem,
            refs,
            tags: o.tags,
            force: o.force,
            progress: bar,
          }).finally(() => bar.stop());
          out.result(r, () => {
            out.line(`To ${getRemote(repo, r.remote).url}`);
            if (r.objects)
              out.line(
                `  ${r.objects} objects, ${mib(r.bytes)} in ${r.packs} pack(s)${r.packsSkipped ? ` (${r.packsSkipped} already there)` : ''}`,
              );
            for (const x of r.refs)
              out.line(
                x.status === 'up-to-date'
                  ? `  = ${x.ref} (up to date)`
                  : `  ${x.status === 'forced' ? '+' : ' '} ${short(x.old)}..${short(x.new)} ${x.ref} (${x.status})`,
              );
          });
        });
      },
    );

  program
    .command('fetch [remote]')
    .description('download refs and metadata from a remote (default origin); --all for the chunk data too')
    .option('--all', 'download all chunk data too')
    .option('--json', 'machine-readable output')
    .action(async (rem: string | undefined, o: { all?: boolean; json?: boolean }) => {
      const out = output(o);
      const { fetch } = await remotes();
      await withRepo(g(), async (repo) => {
        const bar = transferProgress(out, 'fetch');
        const r = await fetch(repo, { remote: rem, all: o.all, progress: bar }).finally(() => bar.stop());
        out.result(r, () => {
          if (r.objects) out.line(`Received ${r.objects} objects, ${mib(r.bytes)}`);
          for (const x of r.refs) out.line(`  ${short(x.old)}..${short(x.new)} ${x.ref}`);
          for (const p of r.pruned) out.line(`  - ${p} (gone from the remote)`);
          if (!r.objects && !r.refs.length) out.line('Already up to date.');
        });
      });
    });

  program
    .command('pull [remote] [branch]')
    .description('fetch, then fast-forward the current branch and files to the remote branch')
    .option('--all', 'download all chunk data too')
    .option('--json', 'machine-readable output')
    .action(
      async (rem: string | undefined, branch: string | undefined, o: { all?: boolean; json?: boolean }) => {
        const out = output(o);
        const { pull } = await remotes();
        await withRepo(g(), async (repo) => {
          const bar = transferProgress(out, 'pull');
          const r = await pull(repo, { remote: rem, branch, all: o.all, progress: bar }).finally(() =>
            bar.stop(),
          );
          out.result(r, () =>
            out.line(
              r.status === 'fast-forward'
                ? `Fast-forward ${r.branch}: ${short(r.old)}..${short(r.new)}`
                : r.status === 'ahead'
                  ? `${r.branch} is ahead of the remote; nothing to pull`
                  : 'Already up to date.',
            ),
          );
        });
      },
    );

  s3Flags(program.command('clone <url> [dir]'))
    .description(
      'copy a remote into a new directory: history and metadata, data for the checkout (--all: all)',
    )
    .option('--all', 'download all chunk data of the history')
    .option('-b, --branch <name>', 'branch to check out')
    .option('--json', 'machine-readable output')
    .action(
      async (
        url: string,
        dir: string | undefined,
        o: S3Flags & { all?: boolean; branch?: string; json?: boolean },
      ) => {
        const out = output(o);
        const { clone } = await remotes();
        const bar = transferProgress(out, 'clone');
        const r = await clone(url, dir, {
          all: o.all,
          branch: o.branch,
          settings: settingsOf(o),
          progress: bar,
          cwd: cwdOf(g()),
        }).finally(() => bar.stop());
        out.result(r, () => {
          out.line(`Cloned into ${r.root}: ${r.objects} objects, ${mib(r.bytes)}`);
          if (r.branch) out.line(`Checked out ${r.branch} at ${short(r.commit)}`);
          else out.warn('the remote is empty: nothing to check out');
        });
      },
    );

  s3Flags(program.command('ls-remote [remote]'))
    .description('list the refs of a remote (a name, or a URL)')
    .option('--json', 'machine-readable output')
    .action(async (rem: string | undefined, o: S3Flags & { json?: boolean }) => {
      const out = output(o);
      const { getRemote, lsRemote, openRemoteStore } = await remotes();
      const name = rem ?? 'origin';
      const looksLikeUrl = /^[a-z0-9]+:\/\//i.test(name) || name.includes('/') || name.startsWith('.');
      let store;
      if (looksLikeUrl) store = openRemoteStore(name, settingsOf(o), { cwd: cwdOf(g()) });
      else {
        const info = await withRepo(g(), (repo) => getRemote(repo, name));
        store = openRemoteStore(info.url, { ...info, ...settingsOf(o) });
      }
      try {
        const r = await lsRemote(store);
        if (!r.config && !o.json) out.warn(`${r.location} is empty (nothing pushed yet)`);
        out.result(r, () => r.refs.forEach((x) => out.line(`${x.commit}\t${x.ref}`)));
      } finally {
        await store.close?.();
      }
    });
}
