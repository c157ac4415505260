/** pin, export, verify, lock (add/list/remove/verify/show), and `cat PIN:PATH`. */
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { StrataError } from '../../core/errors.js';
import { LOCK_FILE } from '../../core/pin/lock-file.js';
import type { PinnedRevision } from '../../core/pin/revision.js';
import type { FileStats, Range } from '../../core/pin/stats.js';
import { countOption, cwdOf, onDemandNote, output, withRepo, type GlobalOpts } from '../context.js';
import type { Output } from '../output.js';

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
/**
 * Opens REV[:PATH] or PIN[:PATH] (a pin's location may itself hold ':', as s3://...: the pin parser knows)
 * for reading examples.
 */
async function openSpec(
  g: GlobalOpts,
  spec: string,
): Promise<{ rev: PinnedRevision; close: () => Promise<void>; path: string | undefined }> {
  const { looksLikePin, parsePinPath, PinnedRevision } = await pins();
  if (looksLikePin(spec)) {
    const at = spec.lastIndexOf('@');
    const colon = spec.indexOf(':', at);
    const p = colon >= 0 ? parsePinPath(spec) : undefined;
    const rev = await PinnedRevision.open(p ? { location: p.location, commit: p.commit } : spec, {
      cwd: cwdOf(g),
    });
    return { rev, close: () => rev.close(), path: p?.path };
  }
  const colon = spec.indexOf(':');
  const path = colon >= 0 ? spec.slice(colon + 1) : undefined;
  return { ...(await openPinOrRev(g, colon >= 0 ? spec.slice(0, colon) : spec, path ?? '')), path };
}

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
    .option(
      '--start-after <[path:]offset>',
      'resume after the example at this position (printed by --with-position; with the same --shard)',
    )
    .action(
      async (
        spec: string,
        o: { limit?: number; shard?: string; fields?: string[]; withPosition?: boolean; startAfter?: string },
      ) => {
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
        const { rev, close, path } = await openSpec(g(), spec);
        try {
          let startAfter: { path: string; offset: number; shard: number; numShards: number } | undefined;
          if (o.startAfter !== undefined) {
            const m = /^(?:(.*):)?(\d+)$/.exec(o.startAfter);
            // OFFSET alone: the one file being read (a directory or a whole revision needs PATH:OFFSET).
            const one = m && !m[1] && path !== undefined ? await rev.exampleFileList(path) : [];
            const at = m?.[1] ?? (one.length === 1 ? one[0]!.path : undefined);
            if (!m || at === undefined)
              throw new StrataError(
                'BAD_INPUT',
                `--start-after ${o.startAfter}: expected OFFSET (reading one file) or PATH:OFFSET`,
                { value: o.startAfter },
              );
            startAfter = { path: at, offset: Number(m[2]), shard, numShards };
          }
          let n = 0;
          const write = (line: string): Promise<void> | void => {
            if (!process.stdout.write(line)) return new Promise((r) => process.stdout.once('drain', r));
          };
          for await (const ex of rev.examples(path, {
            shard,
            numShards,
            ...(startAfter ? { startAfter } : {}),
          })) {
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
    .command('stats <spec>')
    .description(
      "statistics of a revision's examples, for reviewing a dataset: per record file, examples, malformed, duplicates, duplicate keys; per field presence, types, lengths; chat turns and roles: REV[:PATH] or PIN[:PATH]",
    )
    .option('--key <fields>', 'count duplicate keys of these field(s) (default: the key= attribute)', (v) =>
      v.split(','),
    )
    .option('--json', 'JSON Lines: one record per file')
    .action(async (spec: string, o: { key?: string[]; json?: boolean }) => {
      const out = output(o);
      const { exampleStats } = await import('../../core/pin/stats.js');
      const { formatBytes } = await import('../diff-output.js');
      const { rev, close, path } = await openSpec(g(), spec);
      try {
        let first = true;
        await exampleStats(rev, path, {
          ...(o.key ? { key: o.key } : {}),
          onFile: (s) => {
            if (out.json) return out.record(s);
            if (!first) out.line();
            first = false;
            printStats(out, s, formatBytes);
          },
        });
      } finally {
        await close();
      }
    });

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

const count = (n: number): string => n.toLocaleString('en-US');
const pct = (n: number, of: number): string =>
  of === 0 ? '-' : n === of ? '100%' : `${((100 * n) / of).toFixed(n * 1000 < of ? 2 : 1)}%`;
const num = (x: number): string => (Number.isInteger(x) ? count(x) : x.toFixed(x < 10 ? 2 : 1));
const range = (r: Range): string => `${num(r.min)} / ${num(r.mean)} / ${num(r.max)}`;

/** `strata stats`'s human form of one file. */
function printStats(out: Output, s: FileStats, formatBytes: (n: number) => string): void {
  out.line(
    `${out.paint('bold', s.path)}  ${s.format}  ${count(s.examples)} examples  ${formatBytes(s.bytes)}`,
  );
  const dup = (n: number | null): string => (n === null ? 'not counted (too many)' : count(n));
  const facts = [`malformed ${count(s.malformed)}`, `exact duplicates ${dup(s.duplicates)}`];
  if (s.keys)
    facts.push(
      `key ${s.keys.fields.join(',')}: ${dup(s.keys.duplicates)} duplicate, ${count(s.keys.missing)} missing`,
    );
  if (s.nonObjects && s.nonObjects !== s.examples) facts.push(`not objects ${count(s.nonObjects)}`);
  out.line(`  ${facts.join(' · ')}`);
  if (s.alsoIn === null) out.line('  examples also in earlier files: not counted (too many)');
  for (const x of s.alsoIn ?? [])
    out.line(out.paint('yellow', `  ${count(x.examples)} of its examples are also in ${x.path}`));
  const names = Object.keys(s.fields);
  if (names.length) {
    const rows = names.map((name) => {
      const f = s.fields[name]!;
      const types = Object.entries(f.types)
        .sort((a, b) => b[1] - a[1])
        .map(([t, n]) => (n === f.present ? t : `${t} ${pct(n, f.present)}`))
        .join(', ');
      const shape = [
        f.length ? `length ${range(f.length)}` : '',
        f.value ? `value ${range(f.value)}` : '',
        f.empty ? `empty ${count(f.empty)}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      return [name, pct(f.present, s.examples), types, shape];
    });
    const w = [0, 1, 2].map((i) =>
      Math.max(...rows.map((r) => r[i]!.length), ['field', 'present', 'types'][i]!.length),
    );
    out.line(
      `  ${'field'.padEnd(w[0]!)}  ${'present'.padStart(w[1]!)}  ${'types'.padEnd(w[2]!)}  values (min / mean / max)`,
    );
    for (const r of rows)
      out.line(`  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${r[3]}`);
    if (s.otherFields) out.line(`  (${count(s.otherFields)} examples have fields beyond the first 256)`);
  }
  if (s.chat) {
    const roles = Object.entries(s.chat.roles)
      .map(([r, n]) => `${r} ${count(n)}`)
      .join(', ');
    out.line(
      `  chat: turns ${range(s.chat.turns)}; roles ${roles}; turns with empty content ${count(s.chat.emptyContent)}`,
    );
  }
  if (s.pairs)
    out.line(
      `  pairs: ${count(s.pairs.identical)} of ${count(s.pairs.examples)} with chosen equal to rejected`,
    );
}
