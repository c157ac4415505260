/**
 * Renders results.json as docs/BENCHMARKS.md. The whole file is regenerated on every run; hand-written
 * analysis belongs in bench/NOTES.md, which is copied in verbatim.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VERSION_DESCRIPTIONS, VERSION_NAMES, type VersionName } from './generate.js';
import type { DiffCheck, LineDiff, Results, Step, ToolName } from './lib/results.js';
import { formatBytes, formatSeconds } from './lib/util.js';

const COMPETITORS: ToolName[] = ['git-lfs', 'restic', 'borg', 'git'];
const TOOL_LABEL: Record<ToolName, string> = {
  strata: 'strata',
  'git-lfs': 'git-lfs',
  restic: 'restic',
  borg: 'borg',
  git: 'git (compression=1, note)',
};

function find(r: Results, tool: ToolName, step: string, version?: VersionName): Step | undefined {
  return r.steps.find(
    (s) => s.tool === tool && s.step === step && (version === undefined || s.version === version),
  );
}

function ratio(x: number | null | undefined, base: number | null | undefined): string {
  if (x === null || x === undefined || base === null || base === undefined || base <= 0) return '';
  return ` (×${(x / base).toFixed(2)})`;
}

const verdict = (ok: boolean | null): string => (ok === null ? 'not measured' : ok ? 'met' : 'NOT met');
const okNum = (s: Step | undefined): number | null => (s?.ok ? s.seconds : null);

function timeCell(s: Step | undefined): string {
  if (!s) return '-';
  if (s.skipped) return `skipped`;
  if (!s.ok) return 'error';
  return formatSeconds(s.seconds);
}

function rss(kib: number | null | undefined): string {
  return kib === null || kib === undefined ? '-' : formatBytes(kib * 1024);
}

/** What a strata operation's step came to: ok / verified / throughput / its error. */
function resultCell(s: Step): string {
  if (s.skipped) return esc(s.skipped);
  if (!s.ok) return esc((s.cause ?? s.error ?? 'error').slice(0, 160));
  const x = s.extra ?? {};
  const parts = ['ok'];
  if (typeof x.warning === 'string') parts.push(`but ${esc(x.warning)}`);
  if (x.clean === false) parts.push('but status lists changes');
  if (typeof x.MBps === 'number') parts.push(`${x.MBps.toFixed(1)} MB/s`);
  if (typeof x.examplesPerSecond === 'number') parts.push(`${Math.round(x.examplesPerSecond)} examples/s`);
  if (typeof x.bytes === 'number' && s.step === 'push') parts.push(`${formatBytes(x.bytes)} stored remotely`);
  if (x.match === true) parts.push('counts exact');
  if (typeof x.outputBytes === 'number') parts.push(`${formatBytes(x.outputBytes)} of output`);
  if (x.verified === true) parts.push('verified');
  if (x.verified === false) parts.push('**content differs from the expected version**');
  return parts.join(', ');
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export const LINE_DIFF_NOTE =
  'Baselines, measured right after each strata diff on the same two version files: GNU `diff` (its ' +
  'changed lines counted, `diff A B | grep -c "^[<>]"`) and `git diff --no-index --numstat`. A line diff ' +
  'reports lines, not examples: an edited example is one line removed and one added, a moved one is ' +
  'removed and added again (the shuffle), and it knows no keys, no key order and no fields. git refuses ' +
  'files of 1 GiB or more (the limit of its xdiff). Their ratio ' +
  'is baseline time ÷ strata time: above 1 means strata is faster.';

/** One baseline's cell in the diffs table: time (× strata's), peak RSS and, for GNU diff, the line counts. */
export function lineDiffCell(x: DiffCheck, tool: LineDiff['tool'], counts: boolean): string {
  const l = x.lineDiffs?.find((d) => d.tool === tool);
  if (!l) return '-';
  if (!l.lines) return esc(`error: ${(l.error ?? '').slice(0, 80)}`);
  const parts = [`${formatSeconds(l.seconds)}${ratio(l.seconds, x.seconds)}`, rss(l.maxRssKiB)];
  if (counts) parts.push(`+${l.lines.added} / −${l.lines.removed}`);
  return parts.join(', ');
}

/**
 * Failed steps grouped by tool, step kind and cause ("strata diff: not implemented: unknown command 'diff'
 * (18×: v0..v1, ...)"), then the errors outside steps.
 */
export function failureGroups(r: Results): string[] {
  const groups = new Map<string, string[]>();
  for (const s of r.steps) {
    if (s.ok || s.skipped) continue;
    const key = `${s.tool} ${s.step}: ${(s.cause ?? s.error ?? 'failed').split('\n')[0] ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), s.label]);
  }
  const out = [...groups].map(([cause, labels]) => {
    const list = labels.slice(0, 5).join(', ') + (labels.length > 5 ? ', …' : '');
    return `${cause} (${labels.length}×: ${list})`;
  });
  return [...out, ...r.errors.map((e) => e.split('\n')[0] ?? e)];
}

export function renderMarkdown(r: Results, notesPath = 'bench/NOTES.md'): string {
  const out: string[] = [];
  const m = r.machine;
  const tools = COMPETITORS.filter((t) => r.tools[t]?.available);
  const d = r.data;
  out.push('# Benchmarks');
  out.push('');
  out.push(
    '<!-- Generated by `npm run bench` (bench/run.ts, bench/report.ts). Do not edit by hand: the next run',
  );
  out.push('     overwrites it. Hand-written analysis goes in bench/NOTES.md, which is included below. -->');
  out.push('');
  const dur =
    r.finishedAt !== undefined ? (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000 : Number.NaN;
  out.push(
    `Run of ${r.startedAt} (\`npm run bench -- ${r.argv.join(' ')}\`${r.quick ? ', quick' : ''}), ` +
      `${formatSeconds(dur)} in all. All tools were measured in the same run, on the same files, one command ` +
      'at a time, version by version (each version is committed by every tool before the next version).',
  );
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(
    table(
      ['CPU', 'cores', 'memory', 'Node', 'OS', 'disk free'],
      [
        [
          esc(m.cpuModel),
          String(m.cores),
          formatBytes(m.memoryBytes),
          m.node,
          esc(m.os),
          `${formatBytes(m.diskFreeBytes)} (${esc(m.diskPath)})`,
        ],
      ],
    ),
  );
  out.push('');
  out.push(
    table(
      ['tool', 'version', 'status'],
      (['strata', ...COMPETITORS] as ToolName[]).map((t) => {
        const info = r.tools[t];
        const status = !info
          ? 'not requested'
          : info.available
            ? info.installed
              ? 'installed by the set-up step'
              : 'available'
            : `missing${info.installError ? `: ${esc(info.installError.slice(0, 200))}` : ''}`;
        return [TOOL_LABEL[t], esc(info?.version ?? '-'), status];
      }),
    ),
  );
  out.push('');

  if (d) {
    out.push('## Data set');
    out.push('');
    out.push(
      `Synthetic chat JSONL from bench/generate.ts (generator v${d.generatorVersion}, seed ${d.seed}): ` +
        `${d.baseRows.toLocaleString('en-US')} examples of about 1 KiB (system/user/assistant turns + meta). ` +
        `Generated in ${formatSeconds(d.generateSeconds)}. The file is \`data/train.jsonl\` in every tool's ` +
        'working directory; each version replaces it.',
    );
    out.push('');
    out.push(
      table(
        ['version', 'change', 'examples', ...d.formats.map((f) => f.toUpperCase())],
        d.versions.map((v) => [
          v.name,
          v.description,
          v.rows.toLocaleString('en-US'),
          ...d.formats.map((f) => formatBytes(v.files[f]?.bytes)),
        ]),
      ),
    );
    out.push('');
  }

  out.push('## Commit time per version');
  out.push('');
  out.push(
    'strata: `add .` + `commit`; git-lfs and git: `git add` + `git commit`; restic: `backup`; borg: `create`. ' +
      'Ratios are tool ÷ strata: above 1 means strata is faster.',
  );
  out.push('');
  const versions = VERSION_NAMES.filter((v) => r.steps.some((s) => s.step === 'commit' && s.version === v));
  out.push(
    table(
      ['version', 'strata', ...tools.map((t) => TOOL_LABEL[t])],
      versions.map((v) => {
        const base = find(r, 'strata', 'commit', v);
        const baseSec = base?.ok ? base.seconds : null;
        return [
          `${v} ${VERSION_DESCRIPTIONS[v].split(' (')[0]}`,
          timeCell(base),
          ...tools.map((t) => {
            const s = find(r, t, 'commit', v);
            return s?.ok ? timeCell(s) + ratio(s.seconds, baseSec) : timeCell(s);
          }),
        ];
      }),
    ),
  );
  out.push('');
  out.push('## Stored size after each version');
  out.push('');
  out.push(
    'Bytes under `.strata/`, `.git/` (with `.git/lfs/`), or the restic/borg repository directory (apparent ' +
      'sizes). Ratios are tool ÷ strata: above 1 means strata is smaller.',
  );
  out.push('');
  out.push(
    table(
      ['version', 'strata', ...tools.map((t) => TOOL_LABEL[t])],
      versions.map((v) => {
        const base = find(r, 'strata', 'commit', v);
        const baseBytes = base?.ok ? base.storedBytes : null;
        return [
          v,
          base?.ok ? formatBytes(base.storedBytes) : timeCell(base),
          ...tools.map((t) => {
            const s = find(r, t, 'commit', v);
            return s?.ok ? formatBytes(s.storedBytes) + ratio(s.storedBytes, baseBytes) : timeCell(s);
          }),
        ];
      }),
    ),
  );
  out.push('');

  // Goals of issue 6 (stated for the default 1 GiB set; on a quick run they are indicative only).
  out.push('## Goals');
  out.push('');
  if (r.quick)
    out.push('The goals are stated for the default 1 GiB data set; this quick run only indicates.\n');
  const c1 = find(r, 'strata', 'commit', 'v1');
  const b1 = find(r, 'borg', 'commit', 'v1');
  const rs = r.steps.filter((s) => s.tool === 'restic' && s.step === 'commit').at(-1);
  const ss = r.steps.filter((s) => s.tool === 'strata' && s.step === 'commit').at(-1);
  // The last status-noop is the warm one (the first runs right after a commit).
  const status = r.steps.filter((s) => s.tool === 'strata' && s.step === 'status-noop').at(-1);
  const noop = find(r, 'strata', 'commit-noop');
  const diff01 = r.diffs.find((x) => x.scenario === 'jsonl' && x.from === 'v0' && x.to === 'v1');
  const gnu01 = diff01?.lineDiffs?.find((l) => l.tool === 'diff');
  const strataSteps = r.steps.filter((s) => s.tool === 'strata' && s.maxRssKiB !== null);
  const peak = strataSteps.reduce<Step | undefined>(
    (a, s) => (!a || (s.maxRssKiB ?? 0) > (a.maxRssKiB ?? 0) ? s : a),
    undefined,
  );
  const g1 =
    okNum(c1) !== null && okNum(b1) !== null ? (okNum(c1) as number) <= 0.8 * (okNum(b1) as number) : null;
  const g2 = ss?.ok && rs?.ok ? (ss.storedBytes ?? Infinity) <= (rs.storedBytes ?? 0) : null;
  const g3 = status?.ok && noop?.ok ? (status.seconds ?? 1) < 0.15 && (noop.seconds ?? 1) < 0.15 : null;
  const g4 = diff01 && diff01.match !== null ? diff01.match && (diff01.seconds ?? 9) < 1 : null;
  const g5 = peak ? (peak.maxRssKiB ?? 0) * 1024 < 300e6 : null;
  out.push(
    table(
      ['goal', 'measured', 'status'],
      [
        [
          'commit of v1 ≤ 0.8 × borg',
          `${timeCell(c1)} vs borg ${timeCell(b1)}${ratio(okNum(c1), okNum(b1))}`,
          verdict(g1),
        ],
        [
          'stored size ≤ restic (after v4)',
          `${ss?.ok ? formatBytes(ss.storedBytes) : '-'} vs restic ${rs?.ok ? formatBytes(rs.storedBytes) : '-'}`,
          verdict(g2),
        ],
        [
          'no-op status / commit < 0.15 s',
          `${esc(status?.label ?? 'status')} ${timeCell(status)}, ${esc(noop?.label ?? 'commit')} ${timeCell(noop)}`,
          verdict(g3),
        ],
        [
          'diff of the 1% edit (v0..v1; "v1 → v2" in the issue) < 1 s, exact',
          diff01
            ? `${formatSeconds(diff01.seconds)}, ${diff01.match === null ? 'no counts' : diff01.match ? 'exact' : 'MISMATCH'}` +
              (gnu01?.lines ? ` (GNU diff of the same files: ${formatSeconds(gnu01.seconds)}, lines)` : '')
            : '-',
          verdict(g4),
        ],
        [
          'peak RSS of any strata command < 300 MB',
          peak ? `${rss(peak.maxRssKiB)} (${esc(peak.step)} ${esc(peak.label)})` : '-',
          verdict(g5),
        ],
      ],
    ),
  );
  out.push('');

  out.push(...issue7Goals(r));

  out.push('## strata operations');
  out.push('');
  const ops = r.steps.filter(
    (s) => s.tool === 'strata' && !['commit', 'diff', 'commit-formats'].includes(s.step),
  );
  out.push(
    table(
      ['operation', 'time', 'peak RSS', 'result'],
      ops.map((s) => [esc(`${s.step}: ${s.label}`), timeCell(s), rss(s.maxRssKiB), resultCell(s)]),
    ),
  );
  out.push('');

  out.push('## Diffs against the ground truth');
  out.push('');
  out.push(
    '`strata diff A B --stat --json`; the generator knows how many examples (by `id`) each version added, ' +
      'removed and modified. Counts are added / removed / modified.',
  );
  out.push('');
  const cnt = (c: { added: number; removed: number; modified: number } | null): string =>
    c ? `${c.added} / ${c.removed} / ${c.modified}` : '-';
  const withLines = r.diffs.some((x) => x.lineDiffs?.length);
  if (withLines) out.push(LINE_DIFF_NOTE + '\n');
  out.push(
    table(
      [
        'pair',
        'file',
        'time',
        'peak RSS',
        'expected',
        'found',
        'check',
        ...(withLines
          ? ['GNU diff: time, peak RSS, lines + / −', 'git diff --no-index: time, peak RSS']
          : []),
      ],
      r.diffs.map((x) => [
        `${x.from}..${x.to}`,
        x.path,
        formatSeconds(x.seconds),
        rss(x.maxRssKiB),
        cnt(x.expected),
        cnt(x.found),
        x.match === true
          ? 'exact'
          : x.match === false
            ? '**MISMATCH**'
            : esc(`error: ${(x.error ?? '').slice(0, 120)}`),
        ...(withLines ? [lineDiffCell(x, 'diff', true), lineDiffCell(x, 'git', false)] : []),
      ]),
    ),
  );
  out.push('');
  const csvSteps = r.steps.filter((s) => s.step === 'commit-formats');
  if (csvSteps.length) {
    out.push('CSV and Parquet forms (a second repository holding both files):');
    out.push('');
    out.push(
      table(
        ['version', 'commit time', 'stored', 'peak RSS'],
        csvSteps.map((s) => [
          esc(s.label),
          timeCell(s),
          s.ok ? formatBytes(s.storedBytes) : '-',
          rss(s.maxRssKiB),
        ]),
      ),
    );
    out.push('');
  }

  out.push('## Push and clone (local moto S3)');
  out.push('');
  const pc = r.pushClone;
  if (!pc) out.push('Not run.');
  else {
    const req = (q: { total: number; byMethod: Record<string, number> } | undefined): string =>
      q
        ? `${q.total} (${Object.entries(q.byMethod)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`
        : '-';
    out.push(
      table(
        ['', 'bytes', 'time', 'MB/s', 'requests'],
        [
          [
            'strata push',
            formatBytes(pc.push?.bytes),
            formatSeconds(pc.push?.seconds),
            pc.push ? pc.push.MBps.toFixed(1) : 'error',
            req(pc.push?.requests),
          ],
          [
            'strata clone',
            formatBytes(pc.push?.bytes),
            formatSeconds(pc.clone?.seconds),
            pc.clone ? pc.clone.MBps.toFixed(1) : 'error',
            req(pc.clone?.requests),
          ],
          [
            `raw PUT (SDK, ${pc.raw?.objects ?? '-'} objects ≤ 64 MiB, 4 in flight)`,
            formatBytes(pc.raw?.bytes),
            formatSeconds(pc.raw?.putSeconds),
            pc.raw ? pc.raw.putMBps.toFixed(1) : '-',
            pc.raw ? String(pc.raw.objects) : '-',
          ],
          [
            'raw GET (SDK)',
            formatBytes(pc.raw?.bytes),
            formatSeconds(pc.raw?.getSeconds),
            pc.raw ? pc.raw.getMBps.toFixed(1) : '-',
            pc.raw ? String(pc.raw.objects) : '-',
          ],
        ],
      ),
    );
    if (pc.error) out.push(`\n${esc(pc.error)}`);
  }
  out.push('');

  out.push('## Restoring v0 and no-op records, every tool');
  out.push('');
  // Runs before the no-op commit became `commit -a` recorded `add .` + `commit` as the no-op record.
  const oneCommand = find(r, 'strata', 'commit-noop')?.label.startsWith('commit -a') ?? true;
  out.push(
    oneCommand
      ? 'No-op record: the one command a user types with nothing changed - strata `commit -a -m msg`, git and ' +
          'git-lfs `git commit -a` (both exit 1, nothing to commit), restic `backup`, borg `create`. ' +
          '"add + commit" is the two-process form the version commits use (`add .`, then `commit`).'
      : 'No-op record: in this run, `add .` then `commit` (two processes) for strata and git; restic `backup`, ' +
          'borg `create`. (Later runs measure the one command a user types, `commit -a`.)',
  );
  out.push('');
  out.push(
    table(
      ['tool', 'restore v0', 'verified', 'no-op record', 'no-op add + commit', 'no-op status'],
      (['strata', ...tools] as ToolName[]).map((t) => {
        const res = r.steps.find(
          (s) => s.tool === t && (s.step === 'restore' || s.step === 'checkout') && s.version === 'v0',
        );
        const no = find(r, t, 'commit-noop');
        const no2 = find(r, t, 'commit-noop-add');
        const st = r.steps.filter((s) => s.tool === t && s.step === 'status-noop').at(-1);
        const v = res?.extra?.verified;
        return [
          TOOL_LABEL[t],
          timeCell(res),
          v === true ? 'yes' : v === false ? 'NO' : '-',
          timeCell(no),
          t === 'strata' || t === 'git-lfs' || t === 'git' ? timeCell(no2) : 'n/a',
          timeCell(st),
        ];
      }),
    ),
  );
  out.push('');

  const baseline = r.steps.filter((s) => s.tool === 'strata' && s.step === 'node-baseline');
  if (baseline.length) {
    out.push(
      "Node's own start-up on this machine, next to the no-ops (the environment here sets NODE_EXTRA_CA_CERTS, " +
        'which Node loads at start-up; the goal rows above use the no-ops as measured): ' +
        baseline.map((s) => `${esc(s.label)} ${timeCell(s)}`).join('; ') +
        '.',
    );
    out.push('');
  }

  out.push('## Peak RSS per command');
  out.push('');
  out.push('Largest peak RSS over all runs of each kind of step (GNU time %M, see Method).');
  out.push('');
  const byKind = new Map<string, Step>();
  for (const s of r.steps) {
    if (s.maxRssKiB === null) continue;
    const k = `${s.tool}\u0000${s.step}`;
    const cur = byKind.get(k);
    if (!cur || (s.maxRssKiB ?? 0) > (cur.maxRssKiB ?? 0)) byKind.set(k, s);
  }
  out.push(
    table(
      ['tool', 'step', 'peak RSS', 'where'],
      [...byKind.values()].map((s) => [TOOL_LABEL[s.tool], s.step, rss(s.maxRssKiB), esc(s.label)]),
    ),
  );
  out.push('');

  if (r.mismatches.length || failureGroups(r).length) {
    out.push('## Errors and mismatches');
    out.push('');
    for (const x of r.mismatches) out.push(`- **MISMATCH** ${esc(x)}`);
    for (const x of failureGroups(r)) out.push(`- ${esc(x.slice(0, 400))}`);
    out.push('');
  }

  out.push('## Method');
  out.push('');
  out.push(
    [
      '- Versions: v0 base; v1 = 1% of the examples edited in place at scattered positions (same `id`, a new',
      '  assistant turn); v2 = v1 + 5% new examples appended; v3 = v2 with 10% of its examples deleted at',
      '  scattered positions; v4 = v3 shuffled. The issue counts from v1 (its "v1 → v2" is v0..v1 here).',
      '- Every tool gets its own copy of the version file (copy not timed); each command runs as its own',
      '  process; wall time is measured around the process, so it includes start-up (Node for strata).',
      '- Peak RSS: GNU time `%M` (ru_maxrss from wait4, KiB): the peak resident set of the largest single',
      '  process among the command and the children it waited for (e.g. git and its git-lfs filter), not a sum.',
      '- Page cache is not dropped: every tool reads files that were just written, so all read from memory.',
      '- git-lfs: `git lfs track "*.jsonl"`, local store in `.git/lfs` (whole file per version).',
      '  git: `core.compression=1`, loose objects, no `gc` - shown as a note. restic 0.14 repository v2',
      '  (compression auto); borg `--encryption=none`, default lz4. Their caches live outside the measured',
      '  repository directory.',
      '- Push/clone: moto (`python3 -m moto.server`) on loopback; throughput = bytes stored under the',
      "  remote prefix ÷ wall time; requests counted from moto's access log. The raw baseline PUTs and GETs",
      '  the same number of bytes with @aws-sdk/client-s3 from the bench process.',
      "- Diff counts are checked against the generator's ground truth; a mismatch makes `npm run bench` exit",
      '  non-zero (the CI smoke test). No timing is asserted.',
    ].join('\n'),
  );
  out.push('');
  if (existsSync(notesPath)) {
    out.push(readFileSync(notesPath, 'utf8').trim());
    out.push('');
  }
  return out.join('\n');
}

/** Writes the page formatted by the project's prettier config, so that `prettier --check .` stays clean. */
export async function writeMarkdown(path: string, markdown: string): Promise<void> {
  let text = markdown;
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(path)) ?? {};
    text = await prettier.format(markdown, { ...config, filepath: path, parser: 'markdown' });
  } catch {
    // prettier missing: the unformatted page is still correct markdown.
  }
  writeFileSync(path, text);
}

// Re-render a results file (e.g. after editing bench/NOTES.md):
//   node --import tsx bench/report.ts bench/out/results.json docs/BENCHMARKS.md
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [input = 'bench/out/results.json', output = 'docs/BENCHMARKS.md'] = process.argv.slice(2);
  const results = JSON.parse(readFileSync(input, 'utf8')) as Results;
  await writeMarkdown(output, renderMarkdown(results));
  console.log(`wrote ${output} from ${input}`);
}

/**
 * Issue 7's goals (dedupe by example), in the bench's version names: its v1 → v2 (1% edited) is v0 → v1
 * here, its v4 (10% deleted) is v3, its v3 (5% appended) is v2. Stored bytes are what each commit added to
 * .strata/ (the first version's whole size for v0).
 */
export function issue7Goals(r: Results): string[] {
  const commit = (v: VersionName): Step | undefined => find(r, 'strata', 'commit', v);
  const stored = (v: VersionName): number | null => {
    const s = commit(v);
    return s?.ok && typeof s.storedBytes === 'number' ? s.storedBytes : null;
  };
  const added = (v: VersionName, prev: VersionName): number | null => {
    const a = stored(v);
    const b = stored(prev);
    return a === null || b === null ? null : a - b;
  };
  const base = stored('v0');
  const share = (n: number | null): string =>
    n === null || !base
      ? '-'
      : `${formatBytes(n)} (${((100 * n) / base).toFixed(2)}% of v0's ${formatBytes(base)})`;
  const within = (n: number | null, f: number): boolean | null =>
    n === null || !base ? null : n <= f * base;
  const rawBytes = (v: VersionName): number | null =>
    r.data?.versions.find((x) => x.name === v)?.files.jsonl?.bytes ?? null;
  const appended =
    rawBytes('v2') !== null && rawBytes('v1') !== null ? rawBytes('v2')! - rawBytes('v1')! : null;
  const v0Raw = rawBytes('v0');
  const atV0Ratio = appended === null || !base || !v0Raw ? null : (appended * base) / v0Raw;
  const t = (v: VersionName): number | null => okNum(commit(v));
  const noWorse = (v: VersionName): boolean | null =>
    t(v) === null || t('v0') === null ? null : (t(v) as number) <= (t('v0') as number);
  const stream = (v: VersionName): Step | undefined =>
    r.steps.find(
      (s) =>
        s.tool === 'strata' &&
        s.step === 'library-stream' &&
        s.label.startsWith('bytes from local') &&
        s.label.includes(`stream ${v} `),
    );
  const mbps = (v: VersionName): number | null => {
    const x = stream(v)?.extra as { MBps?: unknown; verified?: unknown } | undefined;
    return stream(v)?.ok && x?.verified === true && typeof x.MBps === 'number' ? x.MBps : null;
  };
  const s0 = mbps('v0');
  const s3 = mbps('v3');
  const diff01 = r.diffs.find((x) => x.scenario === 'jsonl' && x.from === 'v0' && x.to === 'v1');
  const rows: string[][] = [
    ['v1 (1% edited) stores ≤ 2% of v0', share(added('v1', 'v0')), verdict(within(added('v1', 'v0'), 0.02))],
    [
      'v3 (10% deleted) stores ≤ 2% of v0',
      share(added('v3', 'v2')),
      verdict(within(added('v3', 'v2'), 0.02)),
    ],
    [
      "v2 (5% appended) stores about the appended bytes, compressed (≤ 1.25 × at v0's ratio)",
      `${added('v2', 'v1') === null ? '-' : formatBytes(added('v2', 'v1'))} for ${appended === null ? '-' : formatBytes(appended)} appended` +
        (atV0Ratio === null ? '' : ` (at v0's ratio: ${formatBytes(atV0Ratio)})`),
      verdict(
        added('v2', 'v1') === null || atV0Ratio === null ? null : added('v2', 'v1')! <= 1.25 * atV0Ratio,
      ),
    ],
    [
      'commit of v1 and v3 no slower than v0',
      `v1 ${timeCell(commit('v1'))}, v3 ${timeCell(commit('v3'))}, v0 ${timeCell(commit('v0'))}`,
      verdict(noWorse('v1') === null || noWorse('v3') === null ? null : !!noWorse('v1') && !!noWorse('v3')),
    ],
    [
      'diff v0..v1 < 1 s, exact',
      diff01
        ? `${formatSeconds(diff01.seconds)}, ${diff01.match ? 'exact' : diff01.match === null ? 'no counts' : 'MISMATCH'}`
        : '-',
      verdict(diff01 && diff01.match !== null ? diff01.match && (diff01.seconds ?? 9) < 1 : null),
    ],
    [
      'library read of v3 ≥ 80% of v0',
      s0 !== null && s3 !== null
        ? `v3 ${s3.toFixed(0)} MB/s, v0 ${s0.toFixed(0)} MB/s (${((100 * s3) / s0).toFixed(0)}%)`
        : '-',
      verdict(s0 !== null && s3 !== null ? s3 >= 0.8 * s0 : null),
    ],
  ];
  return [
    '## Goals of issue 7 (dedupe by example)',
    '',
    "The issue's v1 → v2 (1% edited) is v0 → v1 here, its v4 (10% deleted) is v3, its v3 (5% appended) is v2. " +
      'Stored bytes are what each commit added to `.strata/`.',
    '',
    table(['goal', 'measured', 'status'], rows),
    '',
  ];
}
