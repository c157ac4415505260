/**
 * JSON files for the diff: a top-level array is compared element by element, in bounded memory, whatever
 * its size. A `.json` file is stored with plain content-defined chunks (its pieces end anywhere), so the
 * reader first scans both sides' bytes once (core/formats/json-array.ts: structure only, nothing parsed or
 * kept) and cuts each side into **units** of whole elements: a unit ends after an element whose last bytes
 * hash to 0 mod 16 once it holds 16 KiB, or at 256 KiB. The cuts depend on the elements' bytes, so after an
 * insertion or a deletion both sides cut at the same elements again, and a unit is named by the hash of its
 * bytes: units both sides hold cancel without being parsed. The engine then reads the other units again
 * (`readRange`) and gets their elements as records (`index`: the element's position in the array).
 *
 * A document whose structure is not an array of values (a syntax error between elements) is compared line
 * by line, with a note, in units of whole lines cut the same way; so is a document that is one value (not
 * an array) above MAX_JSON_BYTES. A smaller one-value document is one example.
 */
import * as crypto from 'node:crypto';
import { JsonArrayScanner } from '../formats/json-array.js';
import { bytesIdentity } from './canonical.js';
import {
  breathe,
  lineRecords,
  MAX_JSON_BYTES,
  parseJsonLine,
  type ParsedRecord,
  type Unit,
  type UnitReader,
} from './records.js';
import type { DiffCost, DiffSide } from './types.js';

/** A unit is cut after a record once it holds this many bytes and the record's tail hashes to 0 mod 16. */
export const JSON_UNIT_MIN = 16 * 1024;
/** ...and always once it holds this many (a longer element is a unit of its own). */
export const JSON_UNIT_MAX = 256 * 1024;
const TAIL_BYTES = 16;

const decoder = new TextDecoder('utf-8');

/** The record splitter a plan is made with: JSON elements, or lines for the fallback. */
interface Splitter {
  push(chunk: Uint8Array): void;
  end(): void;
  error: { offset: number; message: string } | undefined;
}

type OnRecord = (start: number, end: number, ordinal: number) => void;

/** Lines as records: [start, end) includes the line break; ordinals are 1-based line numbers. */
class LineSplitter implements Splitter {
  error = undefined;
  private pos = 0;
  private start = 0;
  private line = 1;
  constructor(private readonly onRecord: OnRecord) {}
  push(chunk: Uint8Array): void {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = b.indexOf(10);
    while (i >= 0) {
      const end = this.pos + i + 1;
      this.onRecord(this.start, end, this.line++);
      this.start = end;
      i = b.indexOf(10, i + 1);
    }
    this.pos += chunk.length;
  }
  end(): void {
    if (this.pos > this.start) this.onRecord(this.start, this.pos, this.line++);
  }
}

interface UnitPlan {
  units: Unit[];
  start: number[];
  end: number[];
  /** The first record's ordinal (element index, or line number). */
  first: number[];
  error?: { offset: number; message: string };
  /** What the JSON scan found at the top level. */
  kind?: 'unknown' | 'array' | 'value';
}

/** FNV-1a of the last bytes of a record that lie in `chunk` (at document offset `base`). */
function tailHash(chunk: Uint8Array, base: number, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = Math.max(start, end - TAIL_BYTES, base) - base; i < end - base; i++)
    h = Math.imul(h ^ chunk[i]!, 0x01000193);
  return h >>> 0;
}

/** Reads the side once, in order, cutting it into units of whole records (see the module comment). */
async function planUnits(
  side: DiffSide,
  cost: DiffCost,
  make: (onRecord: OnRecord) => Splitter,
): Promise<UnitPlan> {
  const plan: UnitPlan = { units: [], start: [], end: [], first: [] };
  let chunk: Uint8Array = new Uint8Array(0);
  let base = 0;
  let uStart = -1;
  let uEnd = -1;
  let uFirst = 0;
  // A running hash of every byte since the last unit's end (the separator before a unit is hashed with it:
  // a unit's first element ends, and is seen, possibly several pieces after it began).
  let hashedTo = 0;
  let hash = crypto.createHash('sha256');
  const close = (): void => {
    hash.update(chunk.subarray(hashedTo - base, uEnd - base));
    hashedTo = uEnd;
    plan.units.push({ id: `json:${hash.digest('base64')}` });
    hash = crypto.createHash('sha256');
    plan.start.push(uStart);
    plan.end.push(uEnd);
    plan.first.push(uFirst);
    uStart = -1;
  };
  const splitter = make((start, end, ordinal) => {
    if (uStart < 0) {
      uStart = start;
      uFirst = ordinal;
    }
    uEnd = end;
    const size = end - uStart;
    if (size >= JSON_UNIT_MAX || (size >= JSON_UNIT_MIN && tailHash(chunk, base, start, end) % 16 === 0))
      close();
  });
  for (let i = 0; i < side.pieces.length && !splitter.error; i++) {
    chunk = await side.readPiece(i);
    cost.piecesRead++;
    cost.bytesRead += chunk.length;
    splitter.push(chunk);
    hash.update(chunk.subarray(hashedTo - base));
    base += chunk.length;
    hashedTo = base;
    await breathe(chunk.length);
  }
  chunk = new Uint8Array(0);
  if (!splitter.error) splitter.end();
  if (uStart >= 0) close();
  if (splitter.error) plan.error = splitter.error;
  return plan;
}

/** An element of a JSON array as a record: its bytes, identified as they are (content ids come later). */
function elementRecord(slice: Uint8Array, index: number | undefined): ParsedRecord {
  let l1: string | undefined;
  return {
    get l1() {
      return (l1 ??= bytesIdentity(slice));
    },
    ...(index === undefined ? {} : { index }),
    text: () => decoder.decode(slice),
    json: slice,
    parse: () => parseJsonLine(slice),
  };
}

export async function jsonReader(side: DiffSide, cost: DiffCost): Promise<UnitReader> {
  const notes: string[] = [];
  let kind: 'array' | 'value' | 'lines' = 'array';
  let scanner: JsonArrayScanner | undefined;
  let plan = await planUnits(side, cost, (onRecord) => (scanner = new JsonArrayScanner(onRecord)));
  if (plan.error) {
    notes.push(`not a JSON document (${plan.error.message}); compared line by line`);
    kind = 'lines';
  } else if (scanner!.kind === 'value') {
    kind = 'value';
    // One value too large to parse as one example (an array's elements are never gathered).
    if (side.size > MAX_JSON_BYTES) {
      notes.push(`a JSON document above ${MAX_JSON_BYTES} bytes that is not an array: compared line by line`);
      kind = 'lines';
    }
  }
  if (kind === 'lines') plan = await planUnits(side, cost, (onRecord) => new LineSplitter(onRecord));
  const { units, start, end, first } = plan;
  return {
    format: side.format,
    units,
    notes,
    async read(u) {
      const bytes = await side.readRange(start[u]!, end[u]! - start[u]!);
      cost.piecesRead++;
      cost.bytesRead += bytes.length;
      await breathe(bytes.length);
      if (kind === 'lines') return lineRecords(bytes, first[u], false);
      if (kind === 'value') return [elementRecord(bytes, undefined)];
      const out: ParsedRecord[] = [];
      const s = new JsonArrayScanner((_s, _e, index, slice) => out.push(elementRecord(slice!, index)), {
        collect: true,
        fragment: { offset: start[u]!, index: first[u]! },
      });
      s.push(bytes);
      s.end();
      // The same bytes split the same way as when the unit was planned.
      if (s.error) throw new Error(`json unit ${u} of ${side.path} no longer splits: ${s.error.message}`);
      return out;
    },
  };
}
