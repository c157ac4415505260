/**
 * npm run bench [-- --quick] [--size BYTES] [--out FILE] [options]
 *
 * Measures strata against git-lfs, restic and borg (and plain git as a note) on the same generated versions
 * in one run; writes a JSON results file and regenerates the benchmark page. Exits non-zero when a strata
 * diff reports counts that disagree with the generator's ground truth (or, with --strict, on any strata
 * error). Failed steps - a command strata does not implement yet, a missing competitor - are recorded and
 * the run goes on.
 *
 * Options:
 *   --quick             about 64 MiB instead of 1 GiB (the CI smoke test)
 *   --size BYTES        data set size (JSONL of v0), e.g. 256M, 1G
 *   --out FILE          results JSON (default bench/out/results.json)
 *   --docs FILE         markdown page (default docs/BENCHMARKS.md; bench/out/BENCHMARKS.md with --quick)
 *   --no-docs           do not write the markdown page
 *   --seed N            generator seed (default 1)
 *   --tools LIST        comma-separated subset of strata,git-lfs,restic,borg,git
 *   --formats LIST      jsonl,csv,parquet (default all, jsonl with --quick); CSV and Parquet go through a
 *                       second strata repository (commit, size, adjacent diffs checked like the JSONL)
 *   --work DIR          scratch directory (default bench/out/run-PID/work; wiped at start, removed at end)
 *   --data DIR          generated data cache (default bench/out/data)
 *   --keep              keep the scratch directory
 *   --no-install        do not apt-get missing competitors
 *   --no-build          use dist/cli/main.js as it is instead of building src/ into bench/out/strata-dist
 *   --cli FILE          the strata CLI to measure (implies --no-build)
 *   --no-push           skip moto push/clone
 *   --timeout SECONDS   per command (default 300 with --quick, else 3600)
 *   --strict            exit non-zero on any failed strata step too
 *   --pairs all|adjacent  JSONL diff pairs: all 10 (default) or the 4 adjacent ones (default with --quick);
 *                       the CSV/Parquet repository is always diffed on adjacent pairs
 *   --line-diff LIST    baselines run on the same two files after each strata JSONL diff: diff,git (default),
 *                       diff, git or none (GNU diff and git diff --no-index; bench/tools/linediff.ts)
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMATS, VERSION_NAMES, generate, type Format, type VersionName } from './generate.js';
import { HAVE_GNU_TIME, capture } from './lib/exec.js';
import { describeMachine, toolVersion } from './lib/machine.js';
import { Moto } from './lib/moto.js';
import { failedStep, type LineDiff, type Results, type Step, type ToolName } from './lib/results.js';
import { formatBytes, formatSeconds, parseSize } from './lib/util.js';
import { failureGroups, renderMarkdown, writeMarkdown } from './report.js';
import { COMPETITORS, competitor } from './tools/competitors.js';
import { versionFile, type BenchContext, type Contender } from './tools/common.js';
import { lineDiffs } from './tools/linediff.js';
import { Strata } from './tools/strata.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Per-run scratch (private strata build, working directories), so that two runs never share state. */
const RUN_DIR = join(ROOT, 'bench/out', `run-${process.pid}`);
const ALL_TOOLS: ToolName[] = ['strata', 'git-lfs', 'restic', 'borg', 'git'];

interface Options {
  quick: boolean;
  size: number;
  out: string;
  docs: string | null;
  seed: number;
  tools: ToolName[];
  formats: Format[];
  work: string;
  data: string;
  keep: boolean;
  install: boolean;
  build: boolean;
  push: boolean;
  timeoutMs: number;
  strict: boolean;
  /** Which version pairs strata diffs on the JSONL: all 10, or the 4 adjacent ones (each kind of change). */
  pairs: 'all' | 'adjacent';
  /** The line-diff baselines run after each strata diff of a JSONL pair (issue 3). */
  lineDiff: LineDiff['tool'][];
  cli?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Partial<Options> & { docsSet?: boolean; timeoutSet?: number } = {};
  let size: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--quick':
        o.quick = true;
        break;
      case '--size':
        size = parseSize(next());
        break;
      case '--out':
        o.out = next();
        break;
      case '--docs':
        o.docs = next();
        o.docsSet = true;
        break;
      case '--no-docs':
        o.docs = null;
        o.docsSet = true;
        break;
      case '--seed':
        o.seed = Number(next());
        break;
      case '--tools':
        o.tools = next().split(',') as ToolName[];
        for (const t of o.tools) if (!ALL_TOOLS.includes(t)) throw new Error(`unknown tool ${t}`);
        break;
      case '--formats':
        o.formats = next().split(',') as Format[];
        for (const f of o.formats) if (!FORMATS.includes(f)) throw new Error(`unknown format ${f}`);
        break;
      case '--work':
        o.work = next();
        break;
      case '--data':
        o.data = next();
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--no-install':
        o.install = false;
        break;
      case '--no-build':
        o.build = false;
        break;
      case '--no-push':
        o.push = false;
        break;
      case '--timeout':
        o.timeoutSet = Number(next()) * 1000;
        break;
      case '--strict':
        o.strict = true;
        break;
      case '--pairs': {
        const v = next();
        if (v !== 'all' && v !== 'adjacent') throw new Error('--pairs all|adjacent');
        o.pairs = v;
        break;
      }
      case '--line-diff': {
        const v = next();
        o.lineDiff = v === 'none' ? [] : (v.split(',') as LineDiff['tool'][]);
        for (const t of o.lineDiff)
          if (t !== 'diff' && t !== 'git') throw new Error('--line-diff diff,git|none');
        break;
      }
      case '--cli':
        o.cli = resolve(next());
        break;
      default:
        throw new Error(`unknown argument ${a} (see bench/run.ts)`);
    }
  }
  const quick = o.quick ?? false;
  return {
    quick,
    size: size ?? (quick ? 64 << 20 : 1 << 30),
    out: resolve(o.out ?? join(ROOT, 'bench/out/results.json')),
    docs: o.docsSet
      ? o.docs
        ? resolve(o.docs)
        : null
      : join(ROOT, quick ? 'bench/out/BENCHMARKS.md' : 'docs/BENCHMARKS.md'),
    seed: o.seed ?? 1,
    tools: o.tools ?? ALL_TOOLS,
    // Quick: JSONL only, to stay near two minutes; CSV/Parquet diffs are covered by the diff tests.
    formats: o.formats ?? (quick ? ['jsonl'] : [...FORMATS]),
    work: resolve(o.work ?? join(RUN_DIR, 'work')),
    data: resolve(o.data ?? join(ROOT, 'bench/out/data')),
    keep: o.keep ?? false,
    install: o.install ?? true,
    build: o.build ?? true,
    push: o.push ?? true,
    timeoutMs: o.timeoutSet ?? (quick ? 300_000 : 3_600_000),
    strict: o.strict ?? false,
    pairs: o.pairs ?? (quick ? 'adjacent' : 'all'),
    lineDiff: o.lineDiff ?? ['diff', 'git'],
    ...(o.cli ? { cli: o.cli } : {}),
  };
}

const T0 = performance.now();
function log(line: string): void {
  const t = ((performance.now() - T0) / 1000).toFixed(1).padStart(6);
  console.log(`[${t}s] ${line}`);
}

function describeStep(s: Step): string {
  const parts = [`${s.tool} ${s.step} ${s.label}:`];
  if (s.skipped) parts.push(`skipped (${s.skipped})`);
  else if (!s.ok) parts.push(`ERROR ${(s.error ?? '').split('\n')[0]?.slice(0, 200) ?? ''}`);
  else {
    parts.push(formatSeconds(s.seconds));
    if (s.storedBytes !== undefined) parts.push(`stored ${formatBytes(s.storedBytes)}`);
    if (s.maxRssKiB !== null) parts.push(`peak RSS ${formatBytes(s.maxRssKiB * 1024)}`);
    if (typeof s.extra?.MBps === 'number') parts.push(`${s.extra.MBps.toFixed(1)} MB/s`);
    const req = s.extra?.requests as { total?: number } | undefined;
    if (typeof req?.total === 'number') parts.push(`${req.total} requests`);
    if (s.extra?.match === false) parts.push('MISMATCH');
    if (s.extra?.verified === false) parts.push('CONTENT DIFFERS');
    if (s.extra?.verified === true) parts.push('verified');
  }
  return parts.join(' ');
}

function describeLineDiff(pair: string, l: LineDiff): string {
  const what = l.tool === 'diff' ? 'GNU diff' : 'git diff --no-index';
  if (!l.lines) return `baseline ${what} ${pair}: ERROR ${(l.error ?? '').slice(0, 200)}`;
  const rss = l.maxRssKiB !== null ? `, peak RSS ${formatBytes(l.maxRssKiB * 1024)}` : '';
  return `baseline ${what} ${pair}: ${formatSeconds(l.seconds)}${rss}, lines +${l.lines.added} -${l.lines.removed}`;
}

/** Finds or installs the competitors (apt-get, only when missing); never throws. */
async function setUpTools(opts: Options, results: Results): Promise<void> {
  const wanted = COMPETITORS.filter((c) => opts.tools.includes(c.name));
  const missing: typeof wanted = [];
  for (const c of wanted) {
    const version = await toolVersion(c.bin, c.versionArgs);
    results.tools[c.name] = { available: version !== null, version };
    if (version === null) missing.push(c);
  }
  // git-lfs also needs git.
  if (!missing.length) return;
  const pkgs = missing.map((c) => c.apt);
  if (!opts.install) {
    for (const c of missing)
      results.tools[c.name] = { available: false, version: null, installError: 'missing (--no-install)' };
    return;
  }
  log(`set-up: installing ${pkgs.join(' ')} with apt-get`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args: string[]) =>
    capture(sudo[0] ?? args[0] ?? 'apt-get', sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), {
      timeoutMs: 900_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  const update = await run(['apt-get', 'update']);
  const install = update.ok ? await run(['apt-get', 'install', '-y', ...pkgs]) : update;
  for (const c of missing) {
    const version = await toolVersion(c.bin, c.versionArgs);
    results.tools[c.name] = {
      available: version !== null,
      version,
      installed: version !== null,
      ...(version === null ? { installError: install.error ?? 'not found after apt-get install' } : {}),
    };
    if (version === null) results.errors.push(`${c.name}: could not install (${install.error ?? 'unknown'})`);
  }
}

async function main(): Promise<number> {
  // The AWS SDK warns on Node 20 (it will require 22 from 2027); not news for a benchmark log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const opts = parseArgs(process.argv.slice(2));
  mkdirSync(dirname(opts.out), { recursive: true });
  const results: Results = {
    schema: 1,
    startedAt: new Date().toISOString(),
    quick: opts.quick,
    requestedSize: opts.size,
    seed: opts.seed,
    argv: process.argv.slice(2),
    machine: describeMachine(ROOT),
    tools: {},
    steps: [],
    diffs: [],
    mismatches: [],
    errors: [],
    notes: [],
  };
  const save = (): void => {
    writeFileSync(opts.out, JSON.stringify(results, null, 2) + '\n');
  };
  const add = (...steps: Step[]): void => {
    for (const s of steps) {
      results.steps.push(s);
      log(describeStep(s));
    }
  };
  /** Runs one phase; an exception is recorded, never fatal. */
  const phase = async (name: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      const msg = `${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
      results.errors.push(msg);
      log(`PHASE FAILED ${msg}`);
    }
    save();
  };

  log(
    `strata bench: ${formatBytes(opts.size)}${opts.quick ? ' (quick)' : ''}, seed ${opts.seed}, tools ${opts.tools.join(',')}, ` +
      `${results.machine.cores} × ${results.machine.cpuModel}, ${formatBytes(results.machine.memoryBytes)}, Node ${process.version}`,
  );
  if (!HAVE_GNU_TIME) results.notes.push('/usr/bin/time is missing: peak RSS not measured');

  // --- set-up: competitors, strata build -------------------------------------------------------------
  await phase('set-up', () => setUpTools(opts, results));
  // strata is built into a private directory (the tsconfig.build.json build with another outDir), so that
  // the run measures one consistent snapshot of src/ even if someone rebuilds dist/ meanwhile.
  const privateDist = join(RUN_DIR, 'strata-dist');
  // The bin users run (dist/bin/strata.cjs: the bundled CLI with its code cache) where it was built.
  let cli =
    opts.cli ??
    (existsSync(join(ROOT, 'dist/bin/strata.cjs'))
      ? join(ROOT, 'dist/bin/strata.cjs')
      : join(ROOT, 'dist/cli/main.js'));
  if (opts.tools.includes('strata')) {
    if (opts.build && !opts.cli) {
      log(`set-up: building strata into ${privateDist}`);
      await rm(privateDist, { recursive: true, force: true });
      const b = await capture('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', privateDist], {
        cwd: ROOT,
        timeoutMs: 600_000,
      });
      // Then the bin, bundled as `npm run build` does (scripts/build-cli.mjs).
      const bundle = b.ok
        ? await capture('node', ['scripts/build-cli.mjs', join(privateDist, 'bin')], {
            cwd: ROOT,
            timeoutMs: 600_000,
          })
        : b;
      if (existsSync(join(privateDist, 'bin/strata.cjs'))) {
        cli = join(privateDist, 'bin/strata.cjs');
      } else if (existsSync(join(privateDist, 'cli/main.js'))) {
        cli = join(privateDist, 'cli/main.js');
        if (!bundle.ok) results.notes.push(`strata bin not bundled: ${(bundle.error ?? '').slice(0, 500)}`);
        if (!b.ok)
          results.notes.push(`strata build reported errors but emitted: ${(b.error ?? '').slice(0, 500)}`);
      } else {
        results.errors.push(`strata: build failed: ${(b.error ?? '').slice(0, 1000)}`);
        log(`build FAILED (continuing with ${cli}): ${(b.error ?? '').slice(0, 300)}`);
      }
    }
    results.notes.push(`strata CLI: ${cli}`);
    const have = Strata.available(cli);
    const version = have ? await toolVersion('node', [cli, '--version']) : null;
    results.tools.strata = { available: have, version: version ?? (have ? 'dist/cli/main.js' : null) };
    if (!have) results.errors.push(`strata: ${cli} does not exist (npm run build)`);
  }

  // --- data ----------------------------------------------------------------------------------------------
  const dataDir = join(opts.data, `${opts.size}-s${opts.seed}`);
  log(`data: generating into ${dataDir}`);
  const truth = await generate({
    dir: dataDir,
    size: opts.size,
    seed: opts.seed,
    formats: opts.formats,
    log,
  });
  results.data = truth;
  save();

  await rm(opts.work, { recursive: true, force: true });
  const home = join(opts.work, 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, '.gitconfig'),
    '[user]\n\tname = strata bench\n\temail = bench@strata.invalid\n[init]\n\tdefaultBranch = main\n',
  );
  const ctx: BenchContext = {
    work: opts.work,
    dataDir,
    truth,
    env: {
      ...process.env,
      HOME: home,
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_CONFIG_HOME: join(home, '.config'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'strata bench',
      GIT_AUTHOR_EMAIL: 'bench@strata.invalid',
      GIT_COMMITTER_NAME: 'strata bench',
      GIT_COMMITTER_EMAIL: 'bench@strata.invalid',
      STRATA_NO_PROGRESS: '1',
      NO_COLOR: '1',
    },
    timeoutMs: opts.timeoutMs,
    log,
  };

  // --- contenders ------------------------------------------------------------------------------------------
  const strata =
    opts.tools.includes('strata') && results.tools.strata?.available ? new Strata(ctx, cli) : undefined;
  const contenders: Contender[] = [];
  if (strata) contenders.push(strata);
  for (const c of COMPETITORS) {
    if (opts.tools.includes(c.name) && results.tools[c.name]?.available)
      contenders.push(competitor(c.name, ctx));
  }
  const live = new Set<Contender>();
  await phase('init', async () => {
    for (const c of contenders) {
      const s = await c.init();
      add(s);
      if (c === strata && s.ok) add(await strata.startup());
      if (s.ok) live.add(c);
    }
  });

  // Every version goes through every tool before the next one: side by side, same page-cache state.
  const committed = new Map<Contender, VersionName[]>();
  for (const v of VERSION_NAMES) {
    await phase(`commit ${v}`, async () => {
      for (const c of contenders) {
        if (!live.has(c)) continue;
        const s = await c.commit(v);
        add(s);
        if (!s.ok) {
          live.delete(c); // later versions would be meaningless
          log(`${c.name}: stopping its version series after the failed commit of ${v}`);
        } else committed.set(c, [...(committed.get(c) ?? []), v]);
        if (c === strata && v === 'v0' && s.ok) add(...(await strata.branchAtBase()));
      }
    });
  }

  // --- strata: diffs, no-op, switch/checkout, fsck -------------------------------------------------------
  if (strata) {
    const done = committed.get(strata) ?? [];
    await phase('strata diffs', async () => {
      const pairs: [VersionName, VersionName][] = [];
      for (let i = 0; i < done.length; i++)
        for (let j = i + 1; j < done.length; j++)
          if (opts.pairs === 'all' || j === i + 1)
            pairs.push([done[i] as VersionName, done[j] as VersionName]);
      // Each pair: strata's diff, then the line-diff baseline on the same two files (same page-cache state).
      for (const [a, b] of pairs) {
        const d = await strata.diffs([[a, b]], { onStep: (x) => add(x) });
        results.diffs.push(...d.checks);
        const check = d.checks[0];
        if (!check || !opts.lineDiff.length) continue;
        check.lineDiffs = await lineDiffs(ctx, versionFile(ctx, a), versionFile(ctx, b), opts.lineDiff);
        for (const l of check.lineDiffs) log(describeLineDiff(`${a}..${b}`, l));
        save();
      }
      // The 1% edit as a reviewer reads it: every change with its fields.
      if (done.includes('v0') && done.includes('v1')) add(await strata.fullDiff('v0', 'v1'));
    });
    if (done.includes('v4')) {
      // No-op first, while the working tree still matches HEAD (v4).
      await phase('strata no-op', async () => add(...(await strata.noop())));
      await phase('strata checkout', async () => add(await strata.restore('v0')));
      await phase('strata switch', async () => add(...(await strata.switches())));
      if (done.includes('v3'))
        await phase('strata working-tree diff', async () => add(...(await strata.worktreeDiff())));
    }
    await phase('strata fsck', async () => add(await strata.fsck()));
  }
  // --- competitors: no-op and restore -------------------------------------------------------------------
  for (const c of contenders) {
    if (c === strata || !committed.get(c)?.includes('v4')) continue;
    await phase(`${c.name} no-op/restore`, async () => {
      add(...(await c.noop()));
      add(await c.restore('v0'));
    });
  }

  let streamed = false;
  // --- push / clone against moto -----------------------------------------------------------------------
  if (strata && opts.push && committed.get(strata)?.includes('v4')) {
    await phase('push/clone', async () => {
      let moto: Moto | undefined;
      try {
        moto = await Moto.start();
        log(`moto at ${moto.endpoint}`);
        const pc = await strata.pushClone(moto);
        add(...pc.steps);
        results.pushClone = pc.result;
        if (pc.result.raw) {
          log(
            `moto raw baseline: PUT ${pc.result.raw.putMBps.toFixed(1)} MB/s, GET ${pc.result.raw.getMBps.toFixed(1)} MB/s ` +
              `(${formatBytes(pc.result.raw.bytes)})`,
          );
        }
        if (pc.result.error) results.errors.push(`push/clone: ${pc.result.error}`);
        // Library streaming while moto is up: local repository and, if the push landed, the remote.
        streamed = true;
        const remote = pc.result.push ? { url: pc.result.remote, env: moto.env() } : undefined;
        add(...(await strata.libraryStreaming(remote)));
      } catch (e) {
        add(failedStep('strata', 'push', 'moto', e));
      } finally {
        moto?.stop();
      }
    });
  }
  if (strata && !streamed && committed.get(strata)?.includes('v4')) {
    await phase('library streaming', async () => add(...(await strata.libraryStreaming())));
  }

  // --- strata on CSV and Parquet ------------------------------------------------------------------------
  if (
    strata &&
    opts.formats.some((f) => f !== 'jsonl') &&
    results.steps.some((s) => s.tool === 'strata' && s.step === 'commit' && s.ok)
  ) {
    await phase('strata csv/parquet', async () => {
      const f = await strata.formats(opts.formats, (s) => add(s));
      results.diffs.push(...f.checks);
    });
  }

  // --- verdict ------------------------------------------------------------------------------------------
  for (const d of results.diffs) {
    if (d.match === false) {
      const msg =
        `diff ${d.from}..${d.to} ${d.path}: expected added/removed/modified ` +
        `${d.expected.added}/${d.expected.removed}/${d.expected.modified}, strata reported ` +
        (d.found
          ? `${d.found.added}/${d.found.removed}/${d.found.modified}`
          : `no counts (${d.error ?? ''})`);
      results.mismatches.push(msg);
    }
  }
  for (const s of results.steps) {
    if (
      s.tool === 'strata' &&
      (s.step === 'diff-worktree' || s.step === 'diff-full') &&
      s.extra?.match !== true
    )
      results.mismatches.push(
        `${s.label}: ${s.ok ? String(s.extra?.warning ?? 'no counts') : (s.error ?? 'failed')}`,
      );
  }
  results.finishedAt = new Date().toISOString();
  save();
  if (opts.docs) {
    mkdirSync(dirname(opts.docs), { recursive: true });
    await writeMarkdown(opts.docs, renderMarkdown(results, join(ROOT, 'bench/NOTES.md')));
  }
  if (!opts.keep) {
    await rm(opts.work, { recursive: true, force: true });
    await rm(RUN_DIR, { recursive: true, force: true });
  }

  console.log('');
  log(`results: ${opts.out}${opts.docs ? `, page: ${opts.docs}` : ''}`);
  const failures = failureGroups(results);
  if (failures.length) {
    log(`failures recorded (steps that failed or are not implemented yet; the run went on):`);
    for (const f of failures) console.log(`  - ${f.split('\n')[0]?.slice(0, 300) ?? ''}`);
  }
  const checked = results.diffs.filter((d) => d.match !== null).length;
  if (results.mismatches.length) {
    console.log('');
    console.log(
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    );
    console.log(
      `!!! DIFF MISMATCH: ${results.mismatches.length} strata diff(s) disagree with the ground truth:`,
    );
    for (const m of results.mismatches) console.log(`!!!   ${m}`);
    console.log(
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    );
    return 1;
  }
  log(`diff counts: ${checked} checked against the ground truth, all exact`);
  if (
    opts.strict &&
    (results.errors.length || results.steps.some((x) => x.tool === 'strata' && !x.ok && !x.skipped))
  ) {
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error('bench crashed:', e);
    process.exitCode = 2;
  },
);
