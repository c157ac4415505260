import type {
  ChangeEvent,
  DiffEvent,
  DiffOptions,
  DiffSide,
  SummaryEvent,
  WarningEvent,
} from '../../src/core/diff/index.js';
import { diffFile } from '../../src/core/diff/index.js';
import { sidesFromManifests } from '../../src/core/diff/repo-sides.js';
import type { Span } from '../../src/core/objects/objects.js';
import { Repository } from '../../src/core/repository.js';
import type { Hash } from '../../src/storage/hash.js';
import { tempDir } from '../core/helpers.js';

export interface Collected {
  events: DiffEvent[];
  changes: ChangeEvent[];
  warnings: WarningEvent[];
  summary: SummaryEvent;
}

export async function collect(
  before: DiffSide | null,
  after: DiffSide | null,
  opts: DiffOptions = {},
): Promise<Collected> {
  const events: DiffEvent[] = [];
  for await (const e of diffFile(before, after, opts)) events.push(e);
  const summary = events.at(-1);
  if (summary?.type !== 'summary') throw new Error('no summary last');
  return {
    events,
    changes: events.filter((e): e is ChangeEvent => e.type === 'change'),
    warnings: events.filter((e): e is WarningEvent => e.type === 'warning'),
    summary,
  };
}

/** Wraps a side so that the test can see which pieces were read. */
export function instrument(side: DiffSide): { side: DiffSide; read: number[] } {
  const read: number[] = [];
  return {
    read,
    side: {
      ...side,
      readPiece: (i) => {
        read.push(i);
        return side.readPiece(i);
      },
    },
  };
}

export const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/**
 * A stored old version of `lines` (one chunk per inner list) and a span-coded new version of it, as diff
 * sides: `edit(c, r)` says what becomes of record r of chunk c — undefined keeps it (kept records next to
 * each other share a span), a string is stored again in a chunk of its own at its place ('' deletes the
 * record). `extra` is appended in a chunk of its own.
 */
export function spanCodedSides(
  lines: string[][],
  edit: (c: number, r: number) => string | undefined,
  extra?: string,
): { b: DiffSide; a: DiffSide } {
  const repo = Repository.init(tempDir());
  const chunks = lines.map((ls) => repo.objects.putChunk(Buffer.from(ls.join(''))));
  const at = (c: number, r: number): number => Buffer.byteLength(lines[c]!.slice(0, r).join(''));
  const put = (spans: Span[]) => {
    const size = spans.reduce((n, s) => n + s[2], 0);
    return repo.objects.manifest(repo.objects.putManifest({ size, format: 'jsonl' }, spans));
  };
  const newSpans: Span[] = [];
  const stored = (text: string): void => {
    if (text !== '') newSpans.push([repo.objects.putChunk(Buffer.from(text)), 0, Buffer.byteLength(text)]);
  };
  lines.forEach((ls, c) =>
    ls.forEach((_, r) => {
      const text = edit(c, r);
      if (text !== undefined) return stored(text);
      const prev = newSpans.at(-1);
      const from = at(c, r);
      const len = at(c, r + 1) - from;
      if (prev && prev[0] === chunks[c] && prev[1] + prev[2] === from) prev[2] += len;
      else newSpans.push([chunks[c] as Hash, from, len]);
    }),
  );
  if (extra !== undefined) stored(extra);
  const oldM = put(chunks.map((h, c) => [h, 0, at(c, lines[c]!.length)] as Span));
  const [b, a] = sidesFromManifests(repo, 'd.jsonl', oldM, put(newSpans));
  return { b: b!, a: a! };
}
