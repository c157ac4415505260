/** pin, export, verify, lock (add/list/remove/verify/show), and `cat PIN:PATH`. */
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import { LOCK_FILE } from '../../core/pin/lock-file.js';
import type { PinnedRevision } from '../../core/pin/revision.js';
import { countOption, cwdOf, onDemandNote, output, withRepo, type GlobalOpts } from '../context.js';

/** A pin, or a revision of the repository around the working directory. */
async function openPinOrRev(
  g: GlobalOpts,
  spec: string,
  path = '',
): Promise<{ rev: PinnedRevision; close: () => Promise<void> }> {
  const { looksLikePin, PinnedRevision } = await pins();
  if (looksLikePin(spec)) {
    const rev = await PinnedRevision.open(spec, { cwd: cwdOf(g) });
    return { rev, close: () => rev.close() };
  }
  const { Repository } = await import('../../core/repository.js');
  const repo = Repository.open(cwdOf(g));
  try {
    const rev = await PinnedRevision.fromRepository(repo, spec);
    // A partial clone downloads the data of the files under `path` first (core/partial.ts).
    const { ensureFileData, isPartial } = await import('../../core/partial.js');
    if (isPartial(repo)) {
      repo.onDemand = onDemandNote;
      await ensureFileData(
        repo,
        (await rev.files(path)).map((f) => f.manifest),
      );
    }
    return { rev, close: async () => repo.close() };
  } catch (e) {
    repo.close();
    throw e;
  }
}

/** `strata cat PIN:PATH` (called from the cat command in history.ts). */
export async function catPin(g: GlobalOpts, spec: string): Promise<void> {
  const { parsePinPath, PinnedRevision } = await pins();
  const { location, commit, path } = parsePinPath(spec);
  const rev = await PinnedRevision.open({ location, commit }, { cwd: cwdOf(g) });
  try {
    await pipeline(rev.read(path), process.stdout, { end: false });
  } finally {
    await rev.close();
  }
}

/**
 * Parquet values as JSON: an INT64 (bigint) as a number when it is exact as one, else its digits as a string;
 * bytes as {"$bytes": base64} (the diff's spelling). Dates are ISO strings already (their toJSON).
 */
function plainJson(this: unknown, _key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  return v;
}

/** The pin modules, loaded by the commands that use them. */
const pins = () => import('../../core/pin/index.js');

const lockPath = (g: GlobalOpts, file: string | undefined): string => resolve(cwdOf(g), file ?? LOCK_FILE);

export function registerPinCommands(program: Command, g: () => GlobalOpts): void {
  program
    .command('pin <rev>')
    .description('print a pin (LOCATION@<commit>) naming REV forever: this repository, or --remote NAME')
    .option('--remote <name>', "pin at a remote's URL instead of this repository")
    .option('--no-check', 'do not check that the remote holds the commit')
    .option('--json', 'machine-readable output')
    .action(async (rev: string, o: { remote?: string; check: boolean; json?: boolean }) => {
      const out = output(o);
      const { pinFor } = await pins();
      await withRepo(g(), async (repo) => {
        const r = await pinFor(repo, rev, { remote: o.remote, check: o.check });
        if (r.present === false)
          throw new StrataError(
            'NOT_FOUND',
            `remote ${o.remote} (${r.location}) does not hold commit ${r.commit} yet; push it first (or --no-check)`,
            { remote: o.remote, commit: r.commit },
          );
        if (r.present === undefined && o.check)
          out.warn(`could not check that ${r.location} holds ${r.commit}: ${r.unknownReason ?? 'unknown'}`);
        out.result(r, () => out.line(r.pin));
      });
    });

  program
    .command('export <pin-or-rev> [path]')
    .description('write the files of a pin or revision (or those under PATH) into DIR')
    .requiredOption('--to <dir>', 'target directory (created; must be empty unless --force)')
    .option('-f, --force', 'write into a non-empty directory, replacing files of the same names')
    .option('--json', 'machine-readable output')
    .action(
      async (spec: string, path: string | undefined, o: { to: string; force?: boolean; json?: boolean }) => {
        const out = output(o);
        const { exportRevision } = await pins();
        const { rev, close } = await openPinOrRev(g(), spec, path);
        const bar = out.progress('export');
        try {
          const r = await exportRevision(rev, resolve(cwdOf(g()), o.to), {
            path,
            force: o.force,
            onFile: bar.onFile,
            onBytes: bar.onBytes,
          });
          bar.stop();
          out.result({ pin: rev.pin, commit: rev.commit, ...r }, () =>
            out.line(
              `exported ${r.files} file(s), ${r.bytes} bytes of ${rev.commit.slice(0, 12)} to ${o.to}`,
            ),
          );
        } finally {
          bar.stop();
          await close();
        }
      },
    );

  program
    .command('examples <spec>')
    .description(
      "print a file's examples as JSON Lines (JSONL, JSON array elements, CSV/TSV and Parquet rows as objects, text lines): REV:PATH, PIN:PATH, or REV / PIN for every record file",
    )
    .option('-n, --limit <n>', 'at most N examples', countOption('--limit'))
    .option('--shard <k/n>', 'only shard K of N (0-based), as a training worker reads it')
    .option('--fields <fields>', 'only these top-level fields of each example, comma-separated', (v) =>
      v.split(','),
    )
    .option('--with-position', 'each line as {"path","offset","value"}')
    .action(
      async (
        spec: string,
        o: { limit?: number; shard?: string; fields?: string[]; withPosition?: boolean },
      ) => {
        const { looksLikePin, parsePinPath, PinnedRevision } = await pins();
        let shard = 0;
        let numShards = 1;
        if (o.shard !== undefined) {
          const m = /^(\d+)\/(\d+)$/.exec(o.shard);
          if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2]))
            throw new StrataError('BAD_INPUT', `--shard ${o.shard}: expected K/N with 0 <= K < N`, {
              shard: o.shard,
            });
          shard = Number(m[1]);
          numShards = Number(m[2]);
        }
        // REV:PATH or PIN:PATH (a pin's location may itself hold ':', as s3://...: the pin parser knows).
        let opened: { rev: PinnedRevision; close: () => Promise<void> };
        let path: string | undefined;
        if (looksLikePin(spec)) {
          const at = spec.lastIndexOf('@');
          const colon = spec.indexOf(':', at);
          const p = colon >= 0 ? parsePinPath(spec) : undefined;
          const rev = await PinnedRevision.open(p ? { location: p.location, commit: p.commit } : spec, {
            cwd: cwdOf(g()),
          });
          opened = { rev, close: () => rev.close() };
          path = p?.path;
        } else {
          const colon = spec.indexOf(':');
          path = colon >= 0 ? spec.slice(colon + 1) : undefined;
          opened = await openPinOrRev(g(), colon >= 0 ? spec.slice(0, colon) : spec, path ?? '');
        }
        const { rev, close } = opened;
        try {
          let n = 0;
          const write = (line: string): Promise<void> | void => {
            if (!process.stdout.write(line)) return new Promise((r) => process.stdout.once('drain', r));
          };
          for await (const ex of rev.examples(path, { shard, numShards })) {
            if (o.limit !== undefined && n >= o.limit) break;
            n++;
            let value = ex.value;
            if (o.fields && value && typeof value === 'object' && !Array.isArray(value)) {
              const all = value as Record<string, unknown>;
              value = Object.fromEntries(o.fields.filter((f) => f in all).map((f) => [f, all[f]]));
            }
            const line = o.withPosition ? { path: ex.path, offset: ex.offset, value } : value;
            await write(JSON.stringify(line, plainJson) + '\n');
          }
        } finally {
          await close();
        }
      },
    );

  program
    .command('verify <dir>')
    .description('prove that DIR holds exactly the bytes of a pin (or revision)')
    .requiredOption('--pin <pin>', 'the pin (or a revision of the current repository)')
    .option('--path <path>', 'expect only this file or directory of the revision')
    .option('--allow-extra', 'files the revision does not have are not a failure')
    .option('--json', 'JSON Lines: one record per file, then a summary')
    .action(async (dir: string, o: { pin: string; path?: string; allowExtra?: boolean; json?: boolean }) => {
      const out = output(o);
      const { verifyDirectory } = await pins();
      const { rev, close } = await openPinOrRev(g(), o.pin, o.path);
      try {
        const r = await verifyDirectory(rev, resolve(cwdOf(g()), dir), {
          path: o.path,
          allowExtra: o.allowExtra,
        });
        for (const f of r.files) {
          if (out.json) out.record({ type: 'file', ...f });
          else {
            const detail =
              f.status === 'changed'
                ? ` (first difference at byte ${f.firstDifference})`
                : f.status === 'size'
                  ? ` (expected ${f.expectedSize} bytes, found ${f.actualSize})`
                  : '';
            const c = f.status === 'ok' ? 'green' : f.status === 'extra' && o.allowExtra ? 'yellow' : 'red';
            out.line(`${out.paint(c, f.status.padEnd(10))} ${f.path}${detail}`);
          }
        }
        const bad = r.files.filter((f) => !(f.status === 'ok' || (f.status === 'extra' && o.allowExtra)));
        out.record({
          type: 'summary',
          ok: r.ok,
          pin: rev.pin,
          files: r.files.length,
          problems: bad.length,
          bytes: r.bytes,
        });
        out.line(
          r.ok
            ? `verified: ${dir} holds exactly ${rev.pin} (${r.bytes} bytes)`
            : `verify failed: ${bad.length} problem(s) in ${dir} against ${rev.pin}`,
        );
        if (!r.ok)
          throw new StrataError(
            'VERIFY_FAILED',
            `${dir} does not match ${rev.pin} (${bad.length} problem(s))`,
            {
              problems: bad.length,
              reported: true,
            },
          );
      } finally {
        await close();
      }
    });

  const lock = program.command('lock').description('pins recorded in a lock file (strata.lock)');

  lock
    .command('add <name> <pin>')
    .description('record PIN (or a revision of the current repository, pinned here) as NAME')
    .option('--file <file>', 'lock file', LOCK_FILE)
    .option('--json', 'machine-readable output')
    .action(async (name: string, pin: string, o: { file?: string; json?: boolean }) => {
      const out = output(o);
      const { looksLikePin, pinFor, PinnedRevision, lockAdd } = await pins();
      const file = lockPath(g(), o.file);
      if (!looksLikePin(pin)) pin = await withRepo(g(), async (repo) => (await pinFor(repo, pin)).pin);
      // Check that the pin opens before recording it.
      const rev = await PinnedRevision.open(pin, { cwd: resolve(file, '..') });
      await rev.close();
      const r = lockAdd(file, name, pin);
      out.result({ name, pin, ...r }, () =>
        out.line(r.previous && r.previous !== pin ? `${name}: ${r.previous} -> ${pin}` : `${name}: ${pin}`),
      );
    });

  lock
    .command('remove <name>')
    .description('remove a pin from the lock file')
    .option('--file <file>', 'lock file', LOCK_FILE)
    .action(async (name: string, o: { file?: string }) => {
      const { lockRemove } = await pins();
      lockRemove(lockPath(g(), o.file), name);
    });

  lock
    .command('list')
    .description('list the pins of the lock file')
    .option('--file <file>', 'lock file', LOCK_FILE)
    .option('--json', 'JSON Lines, one pin per line')
    .action(async (o: { file?: string; json?: boolean }) => {
      const out = output(o);
      const { readLock } = await pins();
      const l = readLock(lockPath(g(), o.file));
      for (const [name, pin] of Object.entries(l.pins)) {
        if (out.json) out.record({ name, pin });
        else out.line(`${name}\t${pin}`);
      }
    });

  lock
    .command('verify [names...]')
    .description('check that every pin resolves and every object of its files matches its hash')
    .option('--file <file>', 'lock file', LOCK_FILE)
    .option('--json', 'JSON Lines, one result per pin')
    .action(async (names: string[], o: { file?: string; json?: boolean }) => {
      const out = output(o);
      const { lockVerify } = await pins();
      const res = await lockVerify(lockPath(g(), o.file), names.length ? { names } : {});
      for (const r of res) {
        if (out.json) out.record(r);
        else if (r.ok)
          out.line(
            `${out.paint('green', 'ok')}    ${r.name}: ${r.check!.files} file(s), ${r.check!.bytes} bytes, ${r.check!.chunks} chunk(s)`,
          );
        else out.line(`${out.paint('red', 'FAIL')}  ${r.name}: ${r.error!.message} [${r.error!.code}]`);
      }
      const bad = res.filter((r) => !r.ok).length;
      if (bad)
        throw new StrataError('VERIFY_FAILED', `${bad} of ${res.length} pin(s) failed verification`, {
          failed: bad,
          reported: true,
        });
    });

  lock
    .command('show')
    .description('print the lock file, or as it was at a git revision of the code repository (--git-rev)')
    .option('--file <file>', 'lock file', LOCK_FILE)
    .option('--git-rev <rev>', 'read the lock file from this git revision without checking it out')
    .option('--json', 'machine-readable output')
    .action(async (o: { file?: string; gitRev?: string; json?: boolean }) => {
      const out = output(o);
      const { lockAtGitRevision, readLock } = await pins();
      const file = lockPath(g(), o.file);
      if (o.gitRev) {
        const r = await lockAtGitRevision(file, o.gitRev);
        out.result({ gitCommit: r.gitCommit, path: r.path, ...r.lock }, () => {
          out.line(`# ${r.path} at git ${r.gitCommit}`);
          for (const [name, pin] of Object.entries(r.lock.pins)) out.line(`${name}\t${pin}`);
        });
      } else {
        const l = readLock(file);
        out.result(l, () => {
          for (const [name, pin] of Object.entries(l.pins)) out.line(`${name}\t${pin}`);
        });
      }
    });
}
