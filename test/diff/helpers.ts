import type {
  ChangeEvent,
  DiffEvent,
  DiffOptions,
  DiffSide,
  SummaryEvent,
  WarningEvent,
} from '../../src/core/diff/index.js';
import { diffFile } from '../../src/core/diff/index.js';

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
