/**
 * Renders diff events (src/core/diff) as text for `strata diff`: human form, --stat, --name-only and --json.
 * Pure functions: they return strings and never print; the command writes them where it wants.
 */
import type { Change } from 'diff';
import type { ChangeEvent, DiffEvent, FieldChange, SummaryEvent, WarningEvent } from '../core/diff/index.js';

export interface RenderOptions {
  color: boolean;
  /** Longest a shown value may be before it is shortened with '…' (human form). Default 200. */
  width?: number;
}

const ESC = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
  redHi: '\x1b[7;31m',
  greenHi: '\x1b[7;32m',
} as const;

type Paint = (style: keyof typeof ESC, s: string) => string;
const painter =
  (color: boolean): Paint =>
  (style, s) =>
    color && s.length > 0 ? ESC[style] + s + ESC.reset : s;

/** JSON.stringify that also takes Parquet's bigint and bytes values. */
export function toJson(value: unknown, space?: number): string {
  // A replacer costs a call from JSON.stringify into JavaScript for every value: only when one is needed.
  if (plainJson(value, 0)) return JSON.stringify(value, undefined, space);
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
      return v;
    },
    space,
  );
}

/** Whether JSON.stringify spells `v` as toJson must without a replacer: no bigint or bytes in it. */
function plainJson(v: unknown, depth: number): boolean {
  if (typeof v === 'bigint') return false;
  if (typeof v !== 'object' || v === null) return true;
  if (v instanceof Uint8Array || depth > 64) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!plainJson(v[i], depth + 1)) return false;
    return true;
  }
  for (const k in v) if (!plainJson((v as Record<string, unknown>)[k], depth + 1)) return false;
  return true;
}

/** One JSON Lines record per event (change, warning or summary), without the trailing newline. */
export function renderJsonLine(ev: DiffEvent): string {
  return toJson(ev);
}

/**
 * Control characters (C0 but tab, DEL, C1) and bidirectional-override characters made visible as \u escapes:
 * data under review must not move the cursor, recolour or retitle the reviewer's terminal, or reorder
 * what it shows ("Trojan Source"). Line breaks are left to the callers, which show them as \n.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
export const visible = (s: string): string =>
  s.replace(UNSAFE, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

function shorten(s: string, width: number): string {
  const flat = visible(s.replace(/\n/g, '\\n'));
  return flat.length > width ? flat.slice(0, Math.max(1, width - 1)) + '…' : flat;
}

const show = (v: unknown, width: number): string => shorten(typeof v === 'string' ? v : toJson(v), width);

function where(ev: ChangeEvent): string {
  const parts: string[] = [];
  const pos = (label: string, r?: { before?: number; after?: number }): void => {
    if (!r) return;
    if (r.before !== undefined && r.after !== undefined)
      parts.push(r.before === r.after ? `${label} ${r.after}` : `${label} ${r.before} → ${r.after}`);
    else if (r.before !== undefined) parts.push(`${label} ${r.before}`);
    else if (r.after !== undefined) parts.push(`${label} ${r.after}`);
  };
  pos('line', ev.line);
  pos('row', ev.index);
  if (ev.key !== undefined) parts.push(`key ${toJson(ev.key)}`);
  if (ev.duplicate) parts.push('duplicate key');
  return visible(parts.join(', '));
}

/** Word-level rendering of a changed string: unchanged stretches longer than the width are elided. */
export function renderWords(words: Change[], opts: RenderOptions): string {
  const paint = painter(opts.color);
  const ctx = Math.max(20, Math.floor((opts.width ?? 200) / 4));
  return words
    .map((w, i) => {
      const v = visible(w.value.replace(/\n/g, '\\n'));
      if (w.added) return opts.color ? paint('greenHi', v) : `{+${v}+}`;
      if (w.removed) return opts.color ? paint('redHi', v) : `[-${v}-]`;
      if (v.length <= 2 * ctx) return v;
      const head = i === 0 ? '' : v.slice(0, ctx);
      const tail = i === words.length - 1 ? '' : v.slice(-ctx);
      return `${head}…${tail}`;
    })
    .join('');
}

function renderField(f: FieldChange, opts: RenderOptions): string {
  const paint = painter(opts.color);
  const width = opts.width ?? 200;
  const name = f.path === '' ? '(value)' : visible(f.path);
  switch (f.kind) {
    case 'added':
      return paint('green', `    + ${name}: ${show(f.after, width)}`);
    case 'removed':
      return paint('red', `    - ${name}: ${show(f.before, width)}`);
    case 'swapped':
      return paint('yellow', `    ⇄ ${name} and ${visible(f.with ?? '?')} swapped`);
    case 'changed':
      if (f.words) return `    ~ ${name}: ${renderWords(f.words, opts)}`;
      return `    ~ ${name}: ${paint('red', show(f.before, width))} → ${paint('green', show(f.after, width))}`;
  }
}

/** Human form of one change, several lines, no trailing newline. */
export function renderChange(ev: ChangeEvent, opts: RenderOptions): string {
  const paint = painter(opts.color);
  const width = opts.width ?? 200;
  if (ev.binary) {
    const size = (v: unknown): string => String((v as { size?: number } | undefined)?.size ?? 0);
    const p = visible(ev.path);
    return `Binary file ${ev.kind}: a/${p} (${size(ev.before)} bytes) → b/${p} (${size(ev.after)} bytes)`;
  }
  const at = where(ev);
  const suffix = at ? paint('cyan', ` (${at})`) : '';
  const raw = ev.raw ? ' [raw]' : '';
  switch (ev.kind) {
    case 'added':
      return paint('green', `+ ${show(ev.after, width)}`) + suffix + raw;
    case 'removed':
      return paint('red', `- ${show(ev.before, width)}`) + suffix + raw;
    case 'modified': {
      const head = paint('yellow', '~ modified') + suffix + raw;
      return [head, ...(ev.fields ?? []).map((f) => renderField(f, opts))].join('\n');
    }
  }
}

export function renderWarning(ev: WarningEvent, opts: RenderOptions): string {
  const loc = ev.line !== undefined ? `${visible(ev.path)}:${ev.line}` : visible(ev.path);
  return painter(opts.color)(
    'yellow',
    `warning: ${loc}: ${ev.side ? `(${ev.side}) ` : ''}${visible(ev.message.replace(/\n/g, '\\n'))}`,
  );
}

/** The git-style header that opens a file's section in the human form. */
export function renderFileHeader(
  path: string,
  opts: RenderOptions,
  status?: SummaryEvent['status'],
  renamedFrom?: string,
): string {
  const paint = painter(opts.color);
  const shown = visible(path);
  const lines = [paint('bold', `diff --strata a/${renamedFrom ? visible(renamedFrom) : shown} b/${shown}`)];
  if (status === 'added') lines.push(paint('bold', 'new file'));
  if (status === 'removed') lines.push(paint('bold', 'deleted file'));
  if (renamedFrom) lines.push(paint('bold', `renamed: ${visible(renamedFrom)} → ${shown}`));
  return lines.join('\n');
}

/**
 * A file whose bytes changed while its examples did not (their order, the order of keys in objects, spacing
 * or number spelling): shown, so that a changed file is never silently left out. (A summary that is
 * `identical` has the same bytes: its pieces all cancelled.)
 */
const sameExamples = (s: SummaryEvent): boolean => s.status === 'unchanged' && !s.identical;
const SAME_EXAMPLES_NOTE = 'same examples, bytes differ: order or formatting only';

function summaryLine(s: SummaryEvent, opts: RenderOptions): string {
  const paint = painter(opts.color);
  const c = s.counts;
  return paint(
    'cyan',
    `@@ ${s.format}: ${c.added} added, ${c.removed} removed, ${c.modified} modified` +
      (s.duplicateKeys
        ? `; duplicate keys: ${s.duplicateKeys.before} before, ${s.duplicateKeys.after} after`
        : '') +
      (sameExamples(s) ? `; ${SAME_EXAMPLES_NOTE}` : '') +
      ' @@',
  );
}

/**
 * Human form, stateful across a stream of events of one or more files: returns the text for each event
 * (possibly empty), each piece ending with a newline. A file's header comes before its first event; a file
 * with no change prints nothing.
 */
export function createHumanRenderer(opts: RenderOptions): (ev: DiffEvent) => string {
  let headerFor: string | undefined;
  return (ev) => {
    let out = '';
    const header = (status?: SummaryEvent['status']): void => {
      if (headerFor === ev.path) return;
      headerFor = ev.path;
      out += renderFileHeader(ev.path, opts, status, ev.renamedFrom) + '\n';
    };
    if (ev.type === 'change') {
      header();
      out += renderChange(ev, opts) + '\n';
    } else if (ev.type === 'warning') {
      header();
      out += renderWarning(ev, opts) + '\n';
    } else if (ev.status !== 'unchanged' || sameExamples(ev) || headerFor === ev.path || ev.renamedFrom) {
      // A binary file's change line said it all: it has no examples to count.
      if (ev.format === 'binary' && headerFor === ev.path) return out;
      if (headerFor !== ev.path) header(ev.status);
      else if (ev.status === 'added' || ev.status === 'removed')
        out += renderFileHeader(ev.path, opts, ev.status).split('\n').slice(1).join('\n') + '\n';
      out += summaryLine(ev, opts) + '\n';
    }
    return out;
  };
}

/** Bytes in a short human form (1.5 kB, 3.2 MB). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** `--stat`: one line per file with a change (+added -removed ~modified, bytes) and a total line. */
export function renderStat(summaries: ReadonlyArray<SummaryEvent>, opts: RenderOptions): string {
  const paint = painter(opts.color);
  const changed = summaries.filter((s) => s.status !== 'unchanged' || sameExamples(s) || s.renamedFrom);
  const name = (s: SummaryEvent): string =>
    s.renamedFrom ? `${visible(s.renamedFrom)} → ${visible(s.path)}` : visible(s.path);
  const width = Math.max(0, ...changed.map((s) => name(s).length));
  const total = { added: 0, removed: 0, modified: 0 };
  const lines = changed.map((s) => {
    total.added += s.counts.added;
    total.removed += s.counts.removed;
    total.modified += s.counts.modified;
    const counts =
      s.format === 'binary'
        ? 'Bin'
        : `${paint('green', `+${s.counts.added}`)} ${paint('red', `-${s.counts.removed}`)} ${paint('yellow', `~${s.counts.modified}`)}`;
    const note =
      s.status === 'added'
        ? ' (new)'
        : s.status === 'removed'
          ? ' (deleted)'
          : sameExamples(s)
            ? ` (${SAME_EXAMPLES_NOTE})`
            : '';
    return ` ${name(s).padEnd(width)} | ${counts} | ${formatBytes(s.bytes.before)} → ${formatBytes(s.bytes.after)}${note}`;
  });
  const n = changed.length;
  // No file changed: nothing at all, as git prints.
  if (n === 0) return '';
  lines.push(
    ` ${n} file${n === 1 ? '' : 's'} changed, ${total.added} added, ${total.removed} removed, ${total.modified} modified`,
  );
  return lines.join('\n') + '\n';
}

/** `--name-only`: the path of a file that changed, or '' for an unchanged one. */
export function renderNameOnly(summary: SummaryEvent): string {
  // (Unchanged with the same bytes: nothing; with other bytes, the same examples: sameExamples, listed.)
  return summary.status === 'unchanged' && summary.identical && !summary.renamedFrom
    ? ''
    : visible(summary.path) + '\n';
}
