/**
 * The example-level diff of one file. Two passes keep the cost in proportion to the change:
 *   1. pieces whose id occurs on both sides cancel unread; the other pieces are split into examples and each
 *      example is reduced to an identity (and a key); nothing else is kept;
 *   2. only the examples that did not match are parsed again for their values (a piece cache makes this a
 *      memory lookup for small changes), and only the emitted ones get a field-level diff.
 * See docs/DIFF.md.
 */
import { diffArrays } from 'diff';
import { StrataError, throwIfAborted } from '../../storage/errors.js';
import { memoryLimit } from '../../storage/memory-limit.js';
import { StreamingLis, countBelow, longestIncreasing, pairGap } from './align.js';
import {
  bytesIdentity,
  canonicalJson,
  contentId,
  contentIdOfJson,
  getPath,
  identity,
  isPlainObject,
  plainJsonText,
  rawId,
  splitPath,
  stripFields,
} from './canonical.js';
import { canonicalEqual, diffFields, wordDiff } from './fields.js';
import { isJsonText, jsonTopLevelKeys, jsonTopLevelLoose } from './json-check.js';
import { IdColumns, matchIds } from './id-columns.js';
import { KeyPresence } from './key-presence.js';
import { IntLog, SortedRecords, SpillDir, diffBudget } from './spill.js';
import {
  parseJsonLine,
  lineRecord,
  openReader,
  splitLines,
  type LineAccess,
  type ParsedRecord,
  type UnitReader,
} from './records.js';
import type {
  ChangeEvent,
  ChangeKind,
  DiffCost,
  DiffEvent,
  DiffOptions,
  DiffSide,
  FieldChange,
  FileFormat,
  SummaryEvent,
} from './types.js';

const utf8 = new TextDecoder('utf-8');

type SideNo = 0 | 1;
const SIDE_NAME = ['before', 'after'] as const;

interface Rec {
  side: SideNo;
  unit: number;
  ord: number;
  tok: number;
  line?: number;
  index?: number;
  l1: string;
  cid?: string;
  key?: string;
  keyValue?: unknown;
  partner?: Rec;
  /** Held only for examples that take part in a change. */
  value?: unknown;
  text?: string;
  error?: string;
  fetched?: boolean;
  feats?: Set<string>;
  /** The line itself, kept from pass 1 so that pass 2 need not read its piece again. */
  src?: ParsedRecord;
  /**
   * With a key: the example on the other side whose line has the same bytes, or (settleInRegion) the same
   * value; no content id computed.
   */
  same?: Rec;
  /** With a key: the example of the same key on the other side, known to differ (settleInRegion). */
  differs?: Rec;
}

/** Lines of a run of changed pieces (one side of a region), as parallel arrays. */
interface RegionLines {
  buf: Buffer[];
  start: number[];
  end: number[];
  no: number[];
  unit: number[];
  ord: number[];
}

/** With a key: the examples of one side of a region, parsed (value, fields ignored), with their bytes. */
type Parsed = Array<[Rec, unknown, Uint8Array]>;

const newRegionLines = (): RegionLines => ({ buf: [], start: [], end: [], no: [], unit: [], ord: [] });

/** Fills `out` (emptied first: one per side serves every region) with the lines of the units. */
async function regionLines(access: LineAccess, units: number[], out: RegionLines): Promise<RegionLines> {
  out.buf.length = out.start.length = out.end.length = out.no.length = out.unit.length = out.ord.length = 0;
  for (const u of units) {
    const bytes = await access.bytes(u);
    const buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const spans = splitLines(bytes, access.jsonl);
    for (let i = 0; i < spans.start.length; i++) {
      out.buf.push(buf);
      out.start.push(spans.start[i]!);
      out.end.push(spans.end[i]!);
      out.no.push(spans.no[i]!);
      out.unit.push(u);
      out.ord.push(i);
    }
  }
  return out;
}

const TWO32 = 2 ** 32;

/** A 16-character latin1 identity as 4 words at `at`. */
function putWords(w: Uint32Array, at: number, id: string): void {
  for (let k = 0; k < 4; k++) {
    const o = k * 4;
    w[at + k] =
      ((id.charCodeAt(o) << 24) |
        (id.charCodeAt(o + 1) << 16) |
        (id.charCodeAt(o + 2) << 8) |
        id.charCodeAt(o + 3)) >>>
      0;
  }
}

function getWords(w: Uint32Array, at: number): string {
  let s = '';
  for (let k = 0; k < 4; k++) {
    const v = w[at + k]!;
    s += String.fromCharCode(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  return s;
}

/**
 * Anchor token pairs (before, after), in memory up to a budget and spilled beyond it; read back in after
 * order. Tokens are below 2^53: each is stored as two words.
 */
class AnchorList {
  private readonly recs: SortedRecords;
  private readonly w = new Uint32Array(4);
  constructor(budgetBytes: number, dir: SpillDir) {
    this.recs = new SortedRecords(4, 4, budgetBytes, dir);
  }
  get n(): number {
    return this.recs.n;
  }
  push(b: number, a: number): void {
    const w = this.w;
    w[0] = Math.floor(a / TWO32);
    w[1] = a >>> 0;
    w[2] = Math.floor(b / TWO32);
    w[3] = b >>> 0;
    this.recs.push(w);
  }
  /** Calls `f(before, after, i)` for every pair, by after token. */
  forEach(f: (b: number, a: number, i: number) => void): void {
    const r = this.recs.reader();
    const w = r.rec;
    for (let i = 0; r.next(); i++) f(w[2]! * TWO32 + w[3]!, w[0]! * TWO32 + w[1]!, i);
  }
  clear(): void {
    this.recs.clear();
  }
}

interface Planned {
  kind: ChangeKind;
  b?: Rec;
  a?: Rec;
  pos: number;
  tie: number;
  duplicate?: boolean;
}

const FETCH_BATCH = 512;
/**
 * Changed regions of line files up to this size (both sides; at most half the diff's memory budget) are held
 * whole to strip their equal ends; larger ones are read for identities only.
 */
const REGION_BYTES = 16 * 1024 * 1024;
/** Edits beyond which the lines of a changed region are all compared by identity instead of a line diff. */
const MAX_REGION_EDITS = 256;
/** Bytes of changed lines kept from pass 1 for pass 2, per file. */
const KEEP_BYTES = 32 * 1024 * 1024;
/** A two-sided region's changed lines up to this many bytes are parsed and held at once (settleInRegion). */
const SETTLE_BYTES = 1024 * 1024;
const MAX_DUP_WARNINGS = 100;
/**
 * About what an example with a key costs while its Rec stays in memory: the Rec (object, key, key value,
 * content id) and, when pass 1 ends, its entry in the groups by key and its planned change. The budget's
 * unit before spilling. Measured: the 10% deletion of a 1 GiB chat file (108k removed examples, none
 * spilled) grew the heap by ~90 MB from pass 1 to the end of the grouping, ~850 bytes an example; at 256
 * that diff stayed in memory and peaked ~50 MB of heap higher than spilled.
 */
const KEYED_REC_BYTES = 768;
/**
 * A spilled example with a key: kind (0 keyed, 1 no key), hash of the key (or content id), side, sequence,
 * token (2 words), unit, ordinal, line, index, content id (4 words), flags (1: content id, 2: equal line,
 * 4: bytes identity), the equal line's token (2 words), the bytes identity (4 words). Sorted by kind, hash,
 * side, sequence.
 */
const KEY_WIDTH = 24;
const KEY_WORDS = 7;
const MAX_DUP_KEYS_LISTED = 20;

const samePieces = (a: DiffSide, b: DiffSide): boolean =>
  a.pieces.length === b.pieces.length && a.pieces.every((p, i) => p.id === b.pieces[i]!.id);

const emptyReader = (format: FileFormat): UnitReader => ({
  format,
  units: [],
  notes: [],
  read: async () => [],
});

/** The example-level changes between two versions of a file (null: the file does not exist on that side). */
export async function* diffFile(
  before: DiffSide | null,
  after: DiffSide | null,
  opts: DiffOptions = {},
): AsyncGenerator<DiffEvent> {
  try {
    if (opts.key?.length && (!before || !after) && (opts.limit ?? Infinity) > 0) {
      // A file on one side only, with a key, changes shown: whether an example's key is duplicated is known
      // only at the end, so the examples are counted first (nothing kept per example: limit 0), noting the
      // duplicated keys, then streamed in file order up to the limit (a 1 GiB added file, keyed, held a
      // planned change per example).
      const dupKeys = new Set<string>();
      const first: DiffEvent[] = [];
      let summary: DiffEvent | undefined;
      for await (const e of runs(
        before,
        after,
        { ...opts, limit: 0 },
        { onDuplicateKey: (k) => dupKeys.add(k) },
      ))
        if (e.type === 'summary') summary = e;
        else first.push(e); // (warnings about duplicate keys and missing keys: a bounded few)
      yield* first;
      yield* runs(before, after, opts, { streamKeyed: dupKeys });
      yield summary!;
      return;
    }
    yield* runs(before, after, opts);
  } finally {
    before?.close?.();
    after?.close?.();
  }
}

/** What diffFile asks of a run of the engine beyond the options. */
interface DiffHooks {
  /** Told of each duplicated key (canonical JSON of the key's values, as `Rec.key`). */
  onDuplicateKey?: (key: string) => void;
  /** One side only, keyed: stream its examples up to the limit, flagging these duplicated keys; no summary. */
  streamKeyed?: Set<string>;
}

/**
 * diffFileIn, first with the keys of unchanged lines as fingerprints only (KeyPresence); should one of them
 * recur, nothing has been shown yet and the diff runs again with a record per line.
 */
async function* runs(
  before: DiffSide | null,
  after: DiffSide | null,
  opts: DiffOptions,
  hooks: DiffHooks = {},
): AsyncGenerator<DiffEvent> {
  for (const compact of [true, false]) {
    const dir = new SpillDir(opts.tmpDir);
    try {
      if (!(yield* diffFileIn(before, after, opts, dir, compact, hooks))) return;
    } finally {
      dir.close();
    }
  }
}

async function* diffFileIn(
  before: DiffSide | null,
  after: DiffSide | null,
  opts: DiffOptions,
  spillDir: SpillDir,
  compactEqual: boolean,
  hooks: DiffHooks,
): AsyncGenerator<DiffEvent, boolean | undefined> {
  const any = after ?? before;
  if (!any) throw new StrataError('BAD_INPUT', 'diffFile needs at least one side');
  const path = any.path;
  const format = any.format;
  const signal = opts.signal;
  const limit = opts.limit ?? Infinity;
  const cost: DiffCost = { piecesShared: 0, piecesRead: 0, examplesRead: 0, bytesRead: 0 };
  const counts = { added: 0, removed: 0, modified: 0 };
  let warnings = 0;
  const bytes = { before: before?.size ?? 0, after: after?.size ?? 0 };
  const fileStatus: SummaryEvent['status'] = !before ? 'added' : !after ? 'removed' : 'unchanged';
  const summary = (extra: Partial<SummaryEvent> = {}): SummaryEvent => {
    const changed = counts.added + counts.removed + counts.modified > 0;
    return {
      type: 'summary',
      path,
      format,
      status: fileStatus === 'unchanged' && changed ? 'modified' : fileStatus,
      identical: false,
      counts,
      bytes,
      warnings,
      cost,
      ...extra,
    };
  };
  // Between steps of the loops below: stop if asked to, and collect what earlier steps left if memory is
  // above the limit (storage/memory-limit.ts).
  const memory = memoryLimit();
  const checkpoint = (): void => {
    throwIfAborted(signal);
    memory.check();
  };
  throwIfAborted(signal);

  if (before && after && samePieces(before, after)) {
    cost.piecesShared = before.pieces.length * 2;
    yield summary({ identical: true });
    return;
  }

  if (before?.format === 'binary' || after?.format === 'binary') {
    const kind: ChangeKind = !before ? 'added' : !after ? 'removed' : 'modified';
    const ev: ChangeEvent = { type: 'change', path, kind, binary: true };
    if (before) ev.before = { size: before.size };
    if (after) ev.after = { size: after.size };
    if (limit > 0) yield ev;
    yield { ...summary(), status: kind };
    return;
  }

  const readers: [UnitReader, UnitReader] = [
    before ? await openReader(before, cost) : emptyReader(format),
    after ? await openReader(after, cost) : emptyReader(format),
  ];
  const keyPaths = opts.key?.length ? opts.key.map(splitPath) : undefined;
  const ignore = (opts.ignoreFields ?? []).map(splitPath).filter((p) => p.length > 0);

  // A file on one side only, without a key: every example is a change, in file order. They are streamed
  // from the reader as they come: no identities, no alignment, nothing kept per example, and only the
  // examples shown are parsed (a 1 GiB added file held a record per example: peak RSS 579 MB).
  if (!keyPaths && (!before || !after)) {
    yield* oneSided(readers[before ? 0 : 1], before ? 0 : 1);
    yield summary();
    return;
  }
  /**
   * The examples of the one side, each a change, in file order. Keyed (`dupKeys`: the duplicated keys,
   * counted before): each change carries its key, and stops at the limit (the counts come from the count).
   */
  async function* oneSided(reader: UnitReader, s: SideNo, dupKeys?: Set<string>): AsyncGenerator<DiffEvent> {
    const kind: ChangeKind = s === 0 ? 'removed' : 'added';
    let noted = 0;
    const notes = function* (): Generator<DiffEvent> {
      while (noted < reader.notes.length) {
        warnings++;
        yield { type: 'warning', path, message: reader.notes[noted++]! };
      }
    };
    let shown = 0;
    for (let u = 0; u < reader.units.length; u++) {
      checkpoint();
      const records = await reader.read(u);
      cost.examplesRead += records.length;
      yield* notes();
      for (const r of records) {
        counts[kind]++;
        const show = shown < limit;
        if (!show && dupKeys) return;
        let error: string | undefined;
        let value: unknown;
        let key: { key: string; keyValue: unknown } | undefined;
        if (show || !(r.json ? isJsonText(r.json) : format !== 'csv' && format !== 'tsv')) {
          // (Only a CSV row, which may be ragged, and a JSON text that fails the byte-level check need
          // parsing to know whether they are well-formed; JSON.parse words the warning.)
          const p = r.parse();
          if (p.ok) {
            value = show ? stripFields(p.value, ignore) : undefined;
            if (dupKeys) key = keyOf(p.value);
          } else error = p.error;
        }
        if (error !== undefined) warnings++;
        if (!show) continue;
        shown++;
        if (error !== undefined) {
          const w: DiffEvent = {
            type: 'warning',
            path,
            message: `${SIDE_NAME[s]}: ${error}`,
            side: SIDE_NAME[s],
          };
          if (r.line !== undefined) w.line = r.line;
          yield w;
        }
        const ev: ChangeEvent = { type: 'change', path, kind };
        if (key) ev.key = key.keyValue;
        ev[SIDE_NAME[s]] = error !== undefined ? r.text() : value;
        if (r.line !== undefined) ev.line = { [SIDE_NAME[s]]: r.line };
        if (r.index !== undefined) ev.index = { [SIDE_NAME[s]]: r.index };
        if (error !== undefined) ev.raw = true;
        if (key && dupKeys!.has(key.key)) ev.duplicate = true;
        yield ev;
      }
    }
    yield* notes();
  }

  // Pieces present on both sides (as a multiset) cancel, except when CSV headers differ: then equal bytes
  // mean different examples.
  const headersDiffer =
    before !== null &&
    after !== null &&
    readers[0].header !== undefined &&
    JSON.stringify(readers[0].header) !== JSON.stringify(readers[1].header);
  const notes: string[] = [];
  if (headersDiffer) {
    notes.push(`header changed: ${JSON.stringify(readers[0].header)} → ${JSON.stringify(readers[1].header)}`);
  }
  // Shared pieces as typed arrays: a span-coded file has hundreds of thousands of pieces, and an object or
  // a Map entry per piece cost more than the diff's whole identity budget.
  const nUnits = [readers[0].units.length, readers[1].units.length] as const;
  const shared: [Uint8Array, Uint8Array] = [new Uint8Array(nUnits[0]), new Uint8Array(nUnits[1])];
  /** The shared pairs (before unit, after unit), in before order. */
  let sharedB = new Int32Array(0);
  let sharedA = new Int32Array(0);
  const partners =
    before?.partner &&
    after?.partner &&
    readers[0].units === before.pieces &&
    readers[1].units === after.pieces
      ? ([before.partner, after.partner] as const)
      : undefined;
  if (!headersDiffer) {
    /** The after unit that before unit i cancels with, or -1; called once per unit, in order. */
    let partnerOf: (i: number) => number;
    if (partners) {
      // The sides paired their pieces themselves (two stored versions): no map of ids.
      partnerOf = (i) => {
        const j = partners[0][i]!;
        return j >= 0 && j < nUnits[1] && partners[1][j] === i ? j : -1;
      };
    } else {
      // The k-th occurrence of a piece id before pairs with its k-th occurrence after: the after units of an
      // id are chained in order (first occurrence by id, then `nextSame`).
      const head = new Map<string, number>();
      const nextSame = new Int32Array(nUnits[1]).fill(-1);
      const lastOf = new Map<string, number>();
      readers[1].units.forEach((u, i) => {
        if (u.id === null) return;
        const last = lastOf.get(u.id);
        if (last === undefined) head.set(u.id, i);
        else nextSame[last] = i;
        lastOf.set(u.id, i);
      });
      lastOf.clear();
      partnerOf = (i) => {
        const id = readers[0].units[i]!.id;
        if (id === null) return -1;
        const j = head.get(id);
        if (j === undefined || j < 0) return -1;
        head.set(id, nextSame[j]!);
        return j;
      };
    }
    const pb = new Int32Array(Math.min(nUnits[0], nUnits[1]));
    const pa = new Int32Array(pb.length);
    let n = 0;
    for (let i = 0; i < nUnits[0] && n < pb.length; i++) {
      const j = partnerOf(i);
      if (j < 0) continue;
      pb[n] = i;
      pa[n++] = j;
      shared[0][i] = 1;
      shared[1][j] = 1;
    }
    sharedB = pb.slice(0, n);
    sharedA = pa.slice(0, n);
    cost.piecesShared = n * 2;
  }

  // Pass 1: identities (and keys) of every example in the pieces that did not cancel.
  /**
   * Per side: every unit of the other side cancelled, so its examples that are left can only be added or
   * removed (an append, a deletion): nothing to pair them with, so no content id is needed, only whether
   * they parse (a malformed one is warned about). Also when what the other side left is tiny next to this
   * side's (at most 1/64 of its bytes, line files): a deletion whose version has a few pieces of its own
   * (records the span encoder stored again). Their examples mostly equal lines of this side byte for byte,
   * and when none is left over after that, none needs a content id either; if some are, the content ids of
   * both sides' leftovers are computed after all, from the pieces read again (`fetch`, below).
   */
  const unsharedBytes = ([0, 1] as const).map((s) => {
    const lines = readers[s].lines;
    if (!lines) return -1;
    let n = 0;
    for (let u = 0; u < nUnits[s]; u++) if (!shared[s][u]) n += lines.length(u);
    return n;
  });
  const alone = ([0, 1] as const).map(
    (s) =>
      !shared[1 - s]!.includes(0) ||
      (unsharedBytes[s]! >= 0 &&
        unsharedBytes[1 - s]! >= 0 &&
        unsharedBytes[1 - s]! * 64 <= unsharedBytes[s]!),
  ) as [boolean, boolean];
  /** Token of each shared unit (the fast path derives it from the unit; the general path counts). */
  let unitTok: [(u: number) => number, (u: number) => number] = [(u) => u, (u) => u];
  const recs: [Rec[], Rec[]] = [[], []];
  // Without a key, pass 1 keeps identities in columns; only examples left unmatched become Recs.
  // Identity state is bounded by the budget: 3/8 for each side's identities, 1/4 for the anchors; beyond
  // that, each spills to sorted runs in a temporary directory.
  const budget = diffBudget(opts.memoryBudget);
  const cols: [IdColumns, IdColumns] = [
    new IdColumns((budget * 3) / 8, spillDir),
    new IdColumns((budget * 3) / 8, spillDir),
  ];
  // Anchors as (before token, after token) pairs: shared pieces, runs of equal lines, examples matched.
  const anchors = new AnchorList(budget / 4, spillDir);
  // With a key they only order the changes shown: a diff that shows none (--stat) counts them unordered.
  const ordered = !keyPaths || limit > 0;
  // With a key, the keys of equal lines as fingerprints (while none recurs), not records: see diffFile.
  const presence = compactEqual && keyPaths ? new KeyPresence(budget / 4) : undefined;
  /** A key of top-level fields only (`--key id`): read from the bytes by contentIdOfJson. */
  const keyNames = keyPaths?.every((p) => p.length === 1)
    ? keyPaths.map((p) => Buffer.from(p[0]!, 'utf8'))
    : undefined;
  const keyRanges = keyNames ? new Int32Array(2 * keyNames.length) : undefined;
  const quotedKeys = keyNames?.map((k) => Buffer.concat([Buffer.from('"'), k, Buffer.from('"')]));
  const keyOf = (value: unknown): { key: string; keyValue: unknown } | undefined => {
    if (!keyPaths) return undefined;
    const vals = keyPaths.map((p) => getPath(value, p));
    if (vals.some((v) => v === undefined)) return undefined;
    return { key: canonicalJson(vals), keyValue: vals.length === 1 ? vals[0] : vals };
  };
  if (hooks.streamKeyed && (!before || !after)) {
    yield* oneSided(readers[before ? 0 : 1], before ? 0 : 1, hooks.streamKeyed);
    return;
  }
  function assign(rec: Rec, r: Pick<ParsedRecord, 'parse' | 'text'>): void {
    const p = r.parse();
    if (p.ok) {
      rec.value = stripFields(p.value, ignore);
      rec.cid = contentId(rec.value);
      if (keyPaths) {
        const k = keyOf(p.value);
        if (k) {
          rec.key = k.key;
          rec.keyValue = k.keyValue;
        }
      }
    } else {
      rec.text = r.text();
      rec.error = p.error;
      rec.cid = rawId(rec.text);
    }
    rec.fetched = true;
  }
  /** Pass 1 with a key: keeps only what identifies the example; values come back in pass 2. */
  function identify(rec: Rec, r: Pick<ParsedRecord, 'parse' | 'text' | 'json'>): void {
    // Without fields to ignore, the content id (and a key of top-level fields) come from the bytes when
    // they allow it: no JSON.parse of the example, only of its key's value.
    if (ignore.length === 0 && r.json && (!keyPaths || keyNames)) {
      const cid = contentIdOfJson(r.json, 0, r.json.length, keyNames, keyRanges);
      if (cid !== undefined) {
        rec.cid = cid;
        rec.value = undefined;
        rec.text = undefined;
        rec.fetched = false;
        if (keyNames) setKeyFromRanges(rec, r.json); // an example without the key keeps none (keyOf)
        return;
      }
    }
    identifyParsed(rec, r);
  }
  /**
   * The key of top-level fields from the value ranges a scan of `json` left in keyRanges (contentIdOfJson,
   * jsonTopLevelLoose): false, and no key set, when one of the fields is absent or its value is not JSON.
   */
  function setKeyFromRanges(rec: Rec, json: Uint8Array): boolean {
    if (keyNames!.length === 1 && keyRanges![0]! >= 0) {
      // A plain string or integer (most keys): its bytes are its canonical text.
      const text = plainJsonText(json, keyRanges![0]!, keyRanges![1]!);
      if (text !== undefined) {
        rec.key = `[${text}]`;
        rec.keyValue = text.charCodeAt(0) === 0x22 ? text.slice(1, -1) : Number(text);
        return true;
      }
    }
    const vals: unknown[] = [];
    for (let k = 0; k < keyNames!.length; k++) {
      const from = keyRanges![2 * k]!;
      if (from < 0) return false;
      try {
        vals.push(JSON.parse(utf8.decode(json.subarray(from, keyRanges![2 * k + 1]!))));
      } catch {
        return false; // a value the loose scan passed (a raw control character in a string)
      }
    }
    rec.key = canonicalJson(vals);
    rec.keyValue = vals.length === 1 ? vals[0] : vals;
    return true;
  }
  /**
   * With a key, where pairs are not settled at once (large regions, one-sided regions) or only the key is
   * wanted (equal lines): the key from a scan of the bytes and, `withBytesId`, the bytes' identity; no
   * content id. Two examples of one key whose bytes are equal are the same; only those whose bytes differ get
   * content ids, later (the modified pairs, below). A content id per example was most of a keyed shuffle's
   * time (~13 µs a 1 KB example, against ~4 µs for the scan and the identity). False for what the scan
   * cannot read (malformed, without the key, escaped top-level names): the caller identifies it otherwise.
   */
  function identifyKey(rec: Rec, json: Uint8Array, withBytesId = true): boolean {
    if (ignore.length > 0 || !keyNames || !jsonTopLevelLoose(json, keyNames, keyRanges!)) return false;
    if (!setKeyFromRanges(rec, json)) return false; // without the key: matched by content
    if (withBytesId) rec.l1 = bytesIdentity(json);
    return true;
  }
  /** identify by parsing the example (assign), keeping only what identifies it. */
  function identifyParsed(rec: Rec, r: Pick<ParsedRecord, 'parse' | 'text'>): void {
    assign(rec, r);
    rec.value = undefined;
    rec.text = undefined;
    rec.fetched = false;
  }

  // With a key, pass 1 keeps a Rec per example while they fit in the budget; beyond it, every example becomes
  // a fixed-width record (hash of its key, position, content id) in sorted runs on disk, read back grouped by
  // key (keyed.ts-like grouping below, "spilled keys").
  let keyRecs: SortedRecords | undefined;
  const keySeq = [0, 0];
  const keyErrors: [Map<number, string>, Map<number, string>] = [new Map(), new Map()];
  const keySrc: [Map<number, ParsedRecord>, Map<number, ParsedRecord>] = [new Map(), new Map()];
  /** Examples without the key that equal a line on the other side: paired at once when spilled. */
  const keylessSame = { count: 0, missing: 0 };
  const kw = new Uint32Array(KEY_WIDTH);
  function spillKeyed(rec: Rec): void {
    const s = rec.side;
    const seq = keySeq[s]!++;
    if (rec.key === undefined && rec.same) {
      keylessSame.count++;
      if (!rec.error) keylessSame.missing++;
      if (s === 0) anchors.push(rec.tok, rec.same.tok);
      return;
    }
    const h = rec.key !== undefined ? identity(rec.key, 'k\0') : rec.cid!;
    kw[0] = rec.key !== undefined ? 0 : 1;
    putWords(kw, 1, h);
    kw[5] = s;
    kw[6] = seq;
    kw[7] = Math.floor(rec.tok / TWO32);
    kw[8] = rec.tok >>> 0;
    kw[9] = rec.unit;
    kw[10] = rec.ord;
    kw[11] = (rec.line ?? -1) >>> 0;
    kw[12] = (rec.index ?? -1) >>> 0;
    let flags = 0;
    if (rec.cid !== undefined) {
      putWords(kw, 13, rec.cid);
      flags |= 1;
    }
    const partner = rec.same ?? rec.differs;
    if (partner) {
      kw[18] = Math.floor(partner.tok / TWO32);
      kw[19] = partner.tok >>> 0;
      flags |= rec.same ? 2 : 8;
    }
    if (rec.l1 !== '') {
      putWords(kw, 20, rec.l1);
      flags |= 4;
    }
    kw[17] = flags;
    if (rec.error !== undefined) keyErrors[s].set(seq, rec.error);
    if (rec.src) keySrc[s].set(seq, rec.src);
    keyRecs!.push(kw);
  }
  /**
   * Settles the pairs of one key in a small two-sided region (an edit in place) from the values at hand:
   * equal values (key order, number spelling do not matter) are the same example (`same`), else it changed
   * (`differs`). A key repeated on either side of the region is left to the key groups. Examples without a
   * pair here get their content id and bytes identity now: their partner may be anywhere.
   */
  function settleInRegion(pv: [Parsed, Parsed]): void {
    const at: [Map<string, number>, Map<string, number>] = [new Map(), new Map()];
    for (const s of [0, 1] as const) pv[s].forEach(([r], i) => at[s].set(r.key!, at[s].has(r.key!) ? -1 : i));
    const settled: [Uint8Array, Uint8Array] = [new Uint8Array(pv[0].length), new Uint8Array(pv[1].length)];
    for (const [key, j] of at[1]) {
      const i = at[0].get(key);
      if (i === undefined || i < 0 || j < 0) continue;
      settled[0][i] = settled[1][j] = 1;
      const [b, vb] = pv[0][i]!;
      const [a, va] = pv[1][j]!;
      if (canonicalEqual(vb, va)) {
        b.same = a;
        a.same = b;
      } else {
        b.differs = a;
        a.differs = b;
      }
    }
    for (const s of [0, 1] as const)
      pv[s].forEach(([r, value, bytes], i) => {
        if (settled[s][i]) return;
        r.cid = contentId(value);
        r.l1 = bytesIdentity(bytes);
      });
  }
  function addKeyed(rec: Rec): void {
    if (presence && rec.key !== undefined) presence.add(rec.key, false);
    if (keyRecs) return spillKeyed(rec);
    recs[rec.side].push(rec);
    if ((recs[0].length + recs[1].length) * KEYED_REC_BYTES <= (budget * 3) / 4) return;
    keyRecs = new SortedRecords(KEY_WIDTH, KEY_WORDS, (budget * 3) / 4, spillDir);
    for (const s of [0, 1] as const) {
      for (const r of recs[s]) spillKeyed(r);
      recs[s] = [];
    }
  }

  const lineAccess: [LineAccess | undefined, LineAccess | undefined] = [readers[0].lines, readers[1].lines];
  if (before && after && lineAccess[0] && lineAccess[1]) {
    // Fast path for line files: tokens are unit * stride + 1 + ordinal, so that both sides can
    // be walked region by region (the runs of changed pieces between in-order shared pieces).
    const la: [LineAccess, LineAccess] = [lineAccess[0], lineAccess[1]];
    let maxLen = 0;
    for (const side of [before, after]) for (const p of side.pieces) maxLen = Math.max(maxLen, p.length);
    const stride = maxLen + 2;
    unitTok = [(u) => u * stride, (u) => u * stride];
    // Indices of the in-order shared pairs, then the end of both files.
    const regionBufs = [newRegionLines(), newRegionLines()] as const;
    // With a key: the Recs of a region's changed lines, and those parsed to be settled in it (settleInRegion).
    const regionRecs: Rec[] = [];
    const parsed: [Parsed, Parsed] = [[], []];
    const inOrder = longestIncreasing(sharedA);
    inOrder.push(-1);
    let kept = 0;
    // Copies of changed lines serve only the events: a diff that shows none (--stat) keeps none.
    const keepSrc = limit > 0;
    let prev: [number, number] = [-1, -1];
    for (const k of inOrder) {
      const stop: [number, number] = k < 0 ? [nUnits[0], nUnits[1]] : [sharedB[k]!, sharedA[k]!];
      checkpoint();
      if (presence?.conflict) return true; // (as below, without reading the rest first)
      const units: [number[], number[]] = [[], []];
      for (const s of [0, 1] as const)
        for (let u = prev[s] + 1; u < stop[s]; u++) if (!shared[s][u]) units[s].push(u);
      prev = stop;
      if (units[0].length + units[1].length === 0) continue;
      let size = 0;
      for (const s of [0, 1] as const) for (const u of units[s]) size += la[s].length(u);
      if (size > Math.min(REGION_BYTES, budget / 2)) {
        // A huge region: every line becomes a record (identities only), as in the general path.
        for (const s of [0, 1] as const) {
          for (const u of units[s]) {
            if (!keyPaths) {
              // Identities straight from the bytes: no record objects, no cached piece.
              const bytes = await la[s].bytes(u);
              const sp = splitLines(bytes, la[s].jsonl);
              const base = la[s].base(u);
              cost.examplesRead += sp.start.length;
              for (let ord = 0; ord < sp.start.length; ord++) {
                const line = base === undefined ? undefined : base + sp.no[ord]!;
                const id = bytesIdentity(bytes.subarray(sp.start[ord], sp.end[ord]));
                cols[s].push(u * stride + 1 + ord, u, ord, line, undefined, id);
              }
              continue;
            }
            if (la[s].jsonl && keyNames && ignore.length === 0) {
              // Keys and bytes identities straight from the bytes (identifyKey): no record objects, no
              // cached copy of the piece (read once here; pass 2 reads the few that change).
              const bytes = await la[s].bytes(u);
              const sp = splitLines(bytes, true);
              const base = la[s].base(u);
              cost.examplesRead += sp.start.length;
              for (let ord = 0; ord < sp.start.length; ord++) {
                const slice = bytes.subarray(sp.start[ord], sp.end[ord]);
                const line = base === undefined ? undefined : base + sp.no[ord]!;
                const rec: Rec = { side: s, unit: u, ord, tok: u * stride + 1 + ord, line, l1: '' };
                if (!identifyKey(rec, slice)) identify(rec, lineRecord(slice, line, true));
                addKeyed(rec);
              }
              continue;
            }
            const records = await readers[s].read(u);
            cost.examplesRead += records.length;
            records.forEach((r, ord) => {
              const rec: Rec = { side: s, unit: u, ord, tok: u * stride + 1 + ord, line: r.line, l1: '' };
              identify(rec, r);
              addKeyed(rec);
            });
          }
          // Spilled identities of this side free their buffer while the other side is read.
          cols[s].pause();
        }
        continue;
      }
      const sides = [
        await regionLines(la[0], units[0], regionBufs[0]),
        await regionLines(la[1], units[1], regionBufs[1]),
      ] as const;
      const [L0, L1] = sides;
      const n0 = L0.unit.length;
      const n1 = L1.unit.length;
      cost.examplesRead += n0 + n1;
      const eq = (i: number, j: number): boolean => {
        const len = L0.end[i]! - L0.start[i]!;
        if (len !== L1.end[j]! - L1.start[j]!) return false;
        return L1.buf[j]!.compare(L0.buf[i]!, L0.start[i]!, L0.end[i]!, L1.start[j]!, L1.end[j]!) === 0;
      };
      let head = 0;
      while (head < n0 && head < n1 && eq(head, head)) head++;
      let tail = 0;
      while (tail < n0 - head && tail < n1 - head && eq(n0 - 1 - tail, n1 - 1 - tail)) tail++;
      const tokAt = (L: RegionLines, i: number): number => L.unit[i]! * stride + 1 + L.ord[i]!;
      const runs: Array<[number, number, number]> = [];
      if (head > 0) runs.push([0, 0, head]);
      if (tail > 0) runs.push([n0 - tail, n1 - tail, tail]);
      // Between the equal ends, equal lines that keep their order are found by a bounded line diff (edits in
      // place leave long equal runs); each run is one anchor, and only the other lines become records.
      const rest: [number[], number[]] = [[], []];
      const mid0: number[] = [];
      const mid1: number[] = [];
      for (let k = head; k < n0 - tail; k++) mid0.push(k);
      for (let k = head; k < n1 - tail; k++) mid1.push(k);
      // One line left on each side (an edit in place): they differ (the equal ends stopped at them), so
      // there is nothing for a line diff to find.
      const parts =
        mid0.length > 0 && mid1.length > 0 && mid0.length + mid1.length > 2
          ? diffArrays(mid0, mid1, { comparator: eq, maxEditLength: MAX_REGION_EDITS })
          : undefined;
      // The line diff gave up on a region with many lines on both sides: a shuffle (most lines match by bytes
      // elsewhere) or a rewrite. Its lines get no content id now (see below). A one-sided region (appended or
      // deleted lines) keeps them: those lines are changes, and the ids now spare reading the pieces again.
      const gaveUp = !parts && mid0.length + mid1.length > 2 && mid0.length > 0 && mid1.length > 0;
      if (parts) {
        let i = head;
        let j = head;
        for (const part of parts) {
          const count = part.count ?? part.value.length;
          if (part.removed) for (let k = 0; k < count; k++) rest[0].push(i++);
          else if (part.added) for (let k = 0; k < count; k++) rest[1].push(j++);
          else {
            runs.push([i, j, count]);
            i += count;
            j += count;
          }
        }
      } else {
        rest[0] = mid0;
        rest[1] = mid1;
      }
      const lineOf = (s: SideNo, i: number): number | undefined => {
        const base = la[s].base(sides[s].unit[i]!);
        return base === undefined ? undefined : base + sides[s].no[i]!;
      };
      if (!keyPaths) {
        // Without a key, a run of equal lines is one anchor and its examples are never looked at.
        for (const [i, j] of runs) anchors.push(tokAt(L0, i), tokAt(L1, j));
      } else {
        // With a key, equal lines are unchanged examples but still need their keys (duplicate keys are
        // detected among the examples read): each pair is parsed once, for its key only. A key that does
        // not recur (KeyPresence) makes the pair an anchor and no record.
        for (const [i0, j0, count] of runs) {
          for (let k = 0; k < count; k++) {
            const i = i0 + k;
            const j = j0 + k;
            const b: Rec = { side: 0, unit: L0.unit[i]!, ord: L0.ord[i]!, tok: tokAt(L0, i), l1: '' };
            const a: Rec = { side: 1, unit: L1.unit[j]!, ord: L1.ord[j]!, tok: tokAt(L1, j), l1: '' };
            const lb = lineOf(0, i);
            const la1 = lineOf(1, j);
            if (lb !== undefined) b.line = lb;
            if (la1 !== undefined) a.line = la1;
            const slice = L0.buf[i]!.subarray(L0.start[i], L0.end[i]);
            // The key from a scan of the bytes where it can (identifyKey; only as far as the key with a
            // KeyPresence: a line read wrongly there can only cost the exact second run), else from the
            // parsed line.
            const scanned = presence
              ? la[0].jsonl &&
                ignore.length === 0 &&
                !!keyNames &&
                jsonTopLevelKeys(slice, keyNames, keyRanges!, quotedKeys!) &&
                setKeyFromRanges(b, slice)
              : la[0].jsonl && identifyKey(b, slice, false);
            if (!scanned) {
              const p = lineRecord(slice, undefined, la[0].jsonl).parse();
              if (p.ok) {
                const kv = keyOf(p.value);
                if (kv) {
                  b.key = kv.key;
                  b.keyValue = kv.keyValue;
                }
              } else b.error = a.error = p.error;
            }
            if (presence && b.key !== undefined && b.error === undefined) {
              presence.add(b.key, true);
              if (ordered) anchors.push(b.tok, a.tok);
              continue;
            }
            a.key = b.key;
            a.keyValue = b.keyValue;
            b.same = a;
            a.same = b;
            addKeyed(b);
            addKeyed(a);
          }
        }
      }
      // An edit in place (a small region with lines on both sides): both versions of an example lie here.
      // Its lines are parsed once, for their keys and values, and the pairs of one key settled at once
      // (settleInRegion): one JSON.parse a line, against a content id and a scan for the key (~3x that).
      let restBytes = 0;
      for (const s of [0, 1] as const)
        for (const i of rest[s]) restBytes += sides[s].end[i]! - sides[s].start[i]!;
      const settle = rest[0].length > 0 && rest[1].length > 0 && restBytes <= SETTLE_BYTES;
      parsed[0].length = parsed[1].length = 0;
      for (const s of [0, 1] as const) {
        const L = sides[s];
        for (const i of rest[s]) {
          const slice = L.buf[i]!.subarray(L.start[i], L.end[i]);
          const base = la[s].base(L.unit[i]!);
          const line = base === undefined ? undefined : base + L.no[i]!;
          // Keep a copy of the line (within a budget) so that pass 2 need not read the piece again.
          const keep = keepSrc && kept + slice.length <= KEEP_BYTES;
          if (keep) kept += slice.length;
          if (!keyPaths) {
            const row = cols[s].push(
              tokAt(L, i),
              L.unit[i]!,
              L.ord[i]!,
              line,
              undefined,
              bytesIdentity(slice),
            );
            if (keep) cols[s].src.set(row, lineRecord(Buffer.from(slice), line, la[s].jsonl));
            // The content id now, while the bytes are at hand: pass 2 need not read the piece for it. Not when
            // the line diff gave up on a two-sided region: in a shuffle most of those lines match by bytes, and
            // parsing every one of them cost most of the shuffle's time (pass 2 reads the pieces of the few
            // left over).
            if (gaveUp) continue;
            // (No objects per line where the bytes tell: this runs for every line of the changed regions.)
            if (alone[s]) {
              // Checked without parsing; JSON.parse only for a line that fails (it words the warning).
              const p = la[s].jsonl && !isJsonText(slice) ? parseJsonLine(slice) : undefined;
              if (p && !p.ok) cols[s].setError(row, p.error);
              continue;
            }
            if (la[s].jsonl && ignore.length === 0) {
              const cid = contentIdOfJson(slice);
              if (cid !== undefined) {
                cols[s].setCid(row, cid, undefined);
                continue;
              }
            }
            // The bytes did not tell (or fields are ignored): the parsed example's id.
            const tmp: Rec = { side: s, unit: 0, ord: 0, tok: 0, l1: '' };
            identifyParsed(tmp, lineRecord(slice, line, la[s].jsonl));
            cols[s].setCid(row, tmp.cid!, tmp.error);
            continue;
          }
          const src = keep
            ? lineRecord(Buffer.from(slice), line, la[s].jsonl)
            : lineRecord(slice, line, la[s].jsonl);
          const rec: Rec = { side: s, unit: L.unit[i]!, ord: L.ord[i]!, tok: tokAt(L, i), line, l1: '' };
          if (keep) rec.src = src;
          regionRecs.push(rec);
          if (settle && la[s].jsonl) {
            const p = parseJsonLine(slice);
            const k = p.ok ? keyOf(p.value) : undefined;
            if (p.ok && k) {
              rec.key = k.key;
              rec.keyValue = k.keyValue;
              parsed[s].push([rec, stripFields(p.value, ignore), slice]);
              continue;
            }
          }
          // A region with lines on one side only (a deletion, an insertion): its examples are removed or
          // added unless their key is found elsewhere, so the key and bytes identity do (identifyKey), and
          // a content id is computed only for the few that pair with different bytes. Larger two-sided
          // regions, and what that cannot read: content ids now, while the bytes are at hand.
          const oneSided = rest[(1 - s) as SideNo].length === 0;
          if (!(oneSided && la[s].jsonl && identifyKey(rec, slice))) {
            identify(rec, src);
            // Its bytes identity too: its partner may come from a large region, which has only that
            // (identifyKey); equal bytes then pair it without reading either again.
            rec.l1 = src.l1;
          }
        }
      }
      if (settle) settleInRegion(parsed);
      for (const rec of regionRecs) addKeyed(rec);
      regionRecs.length = 0;
    }
  } else {
    const toks = [new Float64Array(nUnits[0]), new Float64Array(nUnits[1])] as const;
    unitTok = [(u) => toks[0][u]!, (u) => toks[1][u]!];
    for (const s of [0, 1] as const) {
      const reader = readers[s];
      let tok = 0;
      for (let u = 0; u < reader.units.length; u++) {
        checkpoint();
        if (shared[s][u]) {
          toks[s][u] = tok++;
          continue;
        }
        const records = await reader.read(u);
        cost.examplesRead += records.length;
        records.forEach((r, ord) => {
          if (!keyPaths) {
            cols[s].push(tok++, u, ord, r.line, r.index, r.l1);
            return;
          }
          const rec: Rec = { side: s, unit: u, ord, tok: tok++, line: r.line, index: r.index, l1: '' };
          identify(rec, r);
          addKeyed(rec);
        });
      }
      cols[s].pause();
    }
  }
  // An unchanged example's key may recur: nothing was shown yet, the diff runs again (diffFile).
  if (presence?.conflict) return true;
  for (const s of [0, 1] as const) notes.push(...readers[s].notes);
  for (const message of notes) {
    warnings++;
    yield { type: 'warning', path, message };
  }

  if (!keyPaths) {
    // Equal bytes are equal examples (anchors, never objects), unless the CSV header that names their fields
    // changed. The examples left become Recs.
    matchIds(
      cols[0],
      cols[1],
      (tb, ta) => anchors.push(tb, ta),
      (s, row) => {
        const c = cols[s];
        const rec: Rec = { side: s, unit: row.unit, ord: row.ord, tok: row.tok, l1: row.id };
        if (row.line >= 0) rec.line = row.line;
        if (row.index >= 0) rec.index = row.index;
        const src = c.src.get(row.row);
        if (src) rec.src = src;
        const cid = c.cids.get(row.row);
        if (cid !== undefined) rec.cid = cid;
        const error = c.errors.get(row.row);
        if (error !== undefined) rec.error = error;
        recs[s].push(rec);
      },
      !headersDiffer,
    );
    // The examples left come out in identity order: back to reading order.
    for (const s of [0, 1] as const) {
      recs[s].sort((x, y) => x.tok - y.tok);
      cols[s].clear();
    }
  }

  /**
   * Parses examples again: `value` mode for their values (similarity, events), `id` mode for their content
   * ids only (the values are dropped again, so that memory holds identities, not examples).
   */
  const fetch = async (list: Rec[], mode: 'id' | 'value' = 'value'): Promise<void> => {
    const apply = mode === 'id' ? identify : assign;
    const groups = new Map<string, Rec[]>();
    for (const r of list) {
      if (mode === 'id' ? r.cid !== undefined : r.fetched) continue;
      if (r.src) {
        apply(r, r.src);
        continue;
      }
      const g = `${r.side}:${r.unit}`;
      (groups.get(g) ?? groups.set(g, []).get(g)!).push(r);
    }
    for (const group of groups.values()) {
      checkpoint();
      const first = group[0]!;
      const records = await readers[first.side].read(first.unit);
      for (const rec of group) apply(rec, records[rec.ord]!);
    }
  };
  /** Drops what `fetch` loaded (kept: identities, errors, positions). */
  const release = (r: Rec | undefined, final = false): void => {
    if (!r) return;
    r.value = undefined;
    r.text = undefined;
    r.feats = undefined;
    r.fetched = false;
    if (final) r.src = undefined;
  };

  const pair = (b: Rec, a: Rec): void => {
    b.partner = a;
    a.partner = b;
    // Spilled keys hold no list of Recs to collect the anchors from at the end.
    if (keyRecs) anchors.push(b.tok, a.tok);
  };
  /** Multiset matching: the k-th occurrence of an identity before pairs with its k-th occurrence after. */
  const matchBy = (bs: Rec[], as: Rec[], id: (r: Rec) => string | undefined): void => {
    const queue = new Map<string, Rec[]>();
    for (const a of as) {
      const k = id(a);
      if (k !== undefined && !a.partner) (queue.get(k) ?? queue.set(k, []).get(k)!).push(a);
    }
    const next = new Map<string, number>();
    for (const b of bs) {
      const k = id(b);
      if (k === undefined || b.partner) continue;
      const q = queue.get(k);
      const n = next.get(k) ?? 0;
      if (q && n < q.length) {
        next.set(k, n + 1);
        pair(b, q[n]!);
      }
    }
  };

  const planned: Planned[] = [];
  /**
   * Plans a change of the keyed path. When none is shown (`--stat`: limit 0) it is only counted, as order()
   * would count it, and not kept: a keyed diff of a 1 GiB added file held a planned change per example.
   */
  const plan = (p: Planned): void => {
    if (limit > 0) {
      planned.push(p);
      return;
    }
    counts[p.kind]++;
    warnings += (p.b?.error ? 1 : 0) + (p.a?.error ? 1 : 0);
  };
  const modifiedPairs: Array<[Rec, Rec, boolean]> = [];
  let duplicateKeys: SummaryEvent['duplicateKeys'];
  const dupWarnings: DiffEvent[] = [];

  if (!keyPaths) {
    // What equal bytes did not match pairs by content (key order, number spelling do not matter).
    // (Only when both sides have examples left: else nothing pairs, and no id need be computed.)
    if (recs[0].length > 0 && recs[1].length > 0) {
      await fetch([...recs[0], ...recs[1]], 'id');
      matchBy(recs[0], recs[1], (r) => r.cid);
    }
  } else {
    const dups = { before: 0, after: 0, keys: [] as unknown[] };
    /** The examples of one key, each side in reading order (duplicates: content ids and key value known). */
    const keyGroup = (bs: Rec[], as: Rec[]): void => {
      const dup = bs.length > 1 || as.length > 1;
      if (dup) {
        if (bs.length > 1) dups.before++;
        if (as.length > 1) dups.after++;
        const keyValue = (bs[0] ?? as[0])!.keyValue;
        if (dups.keys.length < MAX_DUP_KEYS_LISTED) dups.keys.push(keyValue);
        hooks.onDuplicateKey?.(canonicalJson(keyPaths!.length === 1 ? [keyValue] : keyValue));
        warnings++;
        if (dupWarnings.length < MAX_DUP_WARNINGS) {
          dupWarnings.push({
            type: 'warning',
            path,
            message: `duplicate key ${JSON.stringify(keyValue)}: ${bs.length} before, ${as.length} after (not merged)`,
          });
        }
        // Exact copies cancel first; the remaining duplicates pair by position.
        matchBy(bs, as, (r) => r.cid);
      }
      const rb = bs.filter((r) => !r.partner);
      const ra = as.filter((r) => !r.partner);
      const n = Math.min(rb.length, ra.length);
      for (let k = 0; k < n; k++) {
        pair(rb[k]!, ra[k]!);
        const same =
          rb[k]!.same === ra[k] ||
          (rb[k]!.cid !== undefined && rb[k]!.cid === ra[k]!.cid) ||
          (rb[k]!.l1 !== '' && rb[k]!.l1 === ra[k]!.l1);
        if (!same) modifiedPairs.push([rb[k]!, ra[k]!, dup]);
      }
      for (const r of rb.slice(n)) plan({ kind: 'removed', b: r, pos: 0, tie: 0, duplicate: dup });
      for (const r of ra.slice(n)) plan({ kind: 'added', a: r, pos: 0, tie: 0, duplicate: dup });
    };
    const missingWarning = (missing: number): void => {
      if (missing === 0) return;
      warnings++;
      notes.push(`${missing} example(s) without the key field(s) ${opts.key!.join(',')}: matched by content`);
      dupWarnings.push({ type: 'warning', path, message: notes[notes.length - 1]! });
    };
    if (!keyRecs) {
      const groups = new Map<string, [Rec[], Rec[]]>();
      const keyless: [Rec[], Rec[]] = [[], []];
      for (const s of [0, 1] as const) {
        for (const r of recs[s]) {
          if (r.key === undefined) {
            keyless[s].push(r);
            continue;
          }
          (groups.get(r.key) ?? groups.set(r.key, [[], []]).get(r.key)!)[s].push(r);
        }
      }
      // Examples paired with an equal line (line files) carry no content id: those without the key pair
      // with their equal line, and those in duplicate groups are read again for theirs.
      for (const r of keyless[0]) if (r.same) pair(r, r.same);
      const need: Rec[] = [];
      for (const [bs, as] of groups.values())
        if (bs.length > 1 || as.length > 1)
          for (const r of [...bs, ...as]) if (r.cid === undefined) need.push(r);
      await fetch(need);
      for (const [bs, as] of groups.values()) keyGroup(bs, as);
      if (keyless[0].length + keyless[1].length > 0) {
        missingWarning([...keyless[0], ...keyless[1]].filter((r) => !r.error).length);
        matchBy(keyless[0], keyless[1], (r) => r.cid);
        for (const r of keyless[0]) if (!r.partner) plan({ kind: 'removed', b: r, pos: 0, tie: 0 });
        for (const r of keyless[1]) if (!r.partner) plan({ kind: 'added', a: r, pos: 0, tie: 0 });
      }
    } else {
      // Spilled keys: groups come sorted by (kind, hash of the key or content id), each side in reading
      // order. A group of one key on each side at most is settled at once (its Recs live on only if they
      // change); duplicate groups wait for their content ids and key values, in order of first occurrence.
      const rd = keyRecs.reader();
      const w = rd.rec;
      const toRec = (): Rec => {
        const s = w[5] as SideNo;
        const seq = w[6]!;
        const rec: Rec = { side: s, unit: w[9]!, ord: w[10]!, tok: w[7]! * TWO32 + w[8]!, l1: '' };
        if (w[11] !== 0xffffffff) rec.line = w[11]!;
        if (w[12] !== 0xffffffff) rec.index = w[12]!;
        if (w[17]! & 1) rec.cid = getWords(w, 13);
        if (w[17]! & 4) rec.l1 = getWords(w, 20);
        const error = keyErrors[s].get(seq);
        if (error !== undefined) rec.error = error;
        const src = keySrc[s].get(seq);
        if (src) rec.src = src;
        return rec;
      };
      /** The token of the example's partner (`same`, or `differs` when negated), -1 for none. */
      const partnerTok = (): number => (w[17]! & 10 ? w[18]! * TWO32 + w[19]! : -1);
      const deferred: Array<[Rec[], Rec[], number]> = [];
      let keylessCount = keylessSame.count;
      let missing = keylessSame.missing;
      let more = rd.next();
      while (more) {
        checkpoint();
        const kind = w[0]!;
        const h = [w[1]!, w[2]!, w[3]!, w[4]!];
        const first = w[5]! * TWO32 + w[6]!;
        const group: [Rec[], Rec[]] = [[], []];
        const same: [number[], number[]] = [[], []];
        const differs: [boolean[], boolean[]] = [[], []];
        do {
          const r = toRec();
          group[r.side].push(r);
          same[r.side].push(partnerTok());
          differs[r.side].push((w[17]! & 8) !== 0);
          more = rd.next();
        } while (more && w[0] === kind && w[1] === h[0] && w[2] === h[1] && w[3] === h[2] && w[4] === h[3]);
        const [bs, as] = group;
        if (kind === 1) {
          // Without the key: equal content pairs, k-th with k-th.
          keylessCount += bs.length + as.length;
          for (const r of [...bs, ...as]) if (!r.error) missing++;
          const n = Math.min(bs.length, as.length);
          for (let k = 0; k < n; k++) pair(bs[k]!, as[k]!);
          for (const r of bs.slice(n)) plan({ kind: 'removed', b: r, pos: 0, tie: 0 });
          for (const r of as.slice(n)) plan({ kind: 'added', a: r, pos: 0, tie: 0 });
          continue;
        }
        // Equal lines and pairs settled in their region: the pair is known by tokens.
        bs.forEach((b, i) => {
          const t = same[0][i]!;
          if (t >= 0) {
            const a = as.find((x) => x.tok === t);
            if (a && differs[0][i]) {
              b.differs = a;
              a.differs = b;
            } else if (a) {
              b.same = a;
              a.same = b;
            }
          }
        });
        if (bs.length > 1 || as.length > 1) deferred.push([bs, as, first]);
        else keyGroup(bs, as);
      }
      keyRecs.clear();
      deferred.sort((x, y) => x[2] - y[2]);
      const need: Rec[] = [];
      for (const [bs, as] of deferred) {
        for (const r of [...bs, ...as]) if (r.cid === undefined) need.push(r);
        const head = (bs[0] ?? as[0])!;
        if (head.cid !== undefined) need.push(head);
      }
      await fetch(need);
      for (const r of need) release(r);
      for (const [bs, as] of deferred) keyGroup(bs, as);
      if (keylessCount > 0) missingWarning(missing);
    }
    if (dups.before + dups.after > 0) duplicateKeys = dups;
  }
  for (const w of dupWarnings) yield w;

  // Anchors (shared pieces and matched examples) in after-order; the in-order ones split both sides into gaps.
  let anchorB = new Float64Array(0);
  let anchorA = new Float64Array(0);
  if (!ordered) anchors.clear();
  else {
    for (let k = 0; k < sharedB.length; k++) anchors.push(unitTok[0](sharedB[k]!), unitTok[1](sharedA[k]!));
    for (const a of recs[1]) if (a.partner) anchors.push(a.partner.tok, a.tok);
    // The longest run of anchors in order (by after token, increasing before tokens), streamed: the
    // back-pointers spill with the anchors, and only the run itself is held.
    const prev = new IntLog(budget / 4, spillDir);
    const lis = new StreamingLis(prev);
    anchors.forEach((b) => lis.push(b));
    const chosen = lis.result();
    prev.close();
    anchorB = new Float64Array(chosen.length);
    anchorA = new Float64Array(chosen.length);
    let k = 0;
    anchors.forEach((b, a, i) => {
      if (k < chosen.length && chosen[k] === i) {
        anchorB[k] = b;
        anchorA[k++] = a;
      }
    });
    anchors.clear();
  }
  const gapOf = (r: Rec): number => countBelow(r.side === 0 ? anchorB : anchorA, r.tok);
  const removedPos = (r: Rec): number => {
    const g = gapOf(r);
    return g === 0 ? -0.5 : anchorA[g - 1]! + 0.5;
  };

  /**
   * Orders a list of planned changes and counts them: in file order; a removed example right after the last
   * modified one that came before it in its gap (else at the gap's start), so before the added ones there.
   */
  const order = (list: Planned[]): void => {
    // Modified examples by gap: their before tokens (increasing) and after tokens.
    const mods = new Map<number, { b: number[]; a: number[] }>();
    if (ordered) {
      const byGap = new Map<number, Array<[number, number]>>();
      for (const p of list)
        if (p.a && p.b) {
          const g = gapOf(p.b);
          (byGap.get(g) ?? byGap.set(g, []).get(g)!).push([p.b.tok, p.a.tok]);
        }
      for (const [g, m] of byGap) {
        m.sort((x, y) => x[0] - y[0]);
        mods.set(g, { b: m.map((x) => x[0]), a: m.map((x) => x[1]) });
      }
    }
    for (const p of list) {
      if (ordered && p.a) {
        p.pos = p.a.tok;
        p.tie = 1;
      } else if (ordered) {
        const m = mods.get(gapOf(p.b!));
        const k = m ? countBelow(m.b, p.b!.tok) : 0;
        p.pos = k > 0 ? m!.a[k - 1]! + 0.5 : removedPos(p.b!);
        p.tie = p.b!.tok;
      }
      counts[p.kind]++;
      // Malformed examples that take part in a change are warned about, all of them counted.
      if (p.b?.error !== undefined || p.a?.error !== undefined)
        warnings += (p.b?.error ? 1 : 0) + (p.a?.error ? 1 : 0);
    }
    if (ordered) list.sort((x, y) => x.pos - y.pos || x.tie - y.tie);
  };
  let emitted = 0;
  /** Change events (and their warnings) for planned changes in file order, up to the limit, in batches. */
  async function* emit(list: Planned[]): AsyncGenerator<DiffEvent> {
    const n = Math.min(list.length, Math.max(0, limit - emitted));
    emitted += n;
    for (let start = 0; start < n; start += FETCH_BATCH) {
      checkpoint();
      const batch = list.slice(start, Math.min(n, start + FETCH_BATCH));
      await fetch(batch.flatMap((p) => [p.b, p.a].filter((r): r is Rec => r !== undefined)));
      for (const p of batch) {
        for (const r of [p.b, p.a]) {
          if (r?.error !== undefined) {
            const w: DiffEvent = {
              type: 'warning',
              path,
              message: `${SIDE_NAME[r.side]}: ${r.error}`,
              side: SIDE_NAME[r.side],
            };
            if (r.line !== undefined) w.line = r.line;
            yield w;
          }
        }
        yield changeEvent(path, p);
      }
      // The events hold what they show; the Recs need not.
      for (const p of batch) {
        release(p.b, true);
        release(p.a, true);
      }
    }
  }

  if (!keyPaths) {
    // Every change lies in a gap between in-order anchors, and gaps come in file order: they are paired,
    // ordered and emitted one at a time, so no list of all changes is ever held.
    const un: [Rec[], Rec[]] = [recs[0].filter((r) => !r.partner), recs[1].filter((r) => !r.partner)];
    recs[0] = [];
    recs[1] = [];
    const at = [0, 0];
    while (at[0]! < un[0].length || at[1]! < un[1].length) {
      checkpoint();
      const g = Math.min(
        at[0]! < un[0].length ? gapOf(un[0][at[0]!]!) : Infinity,
        at[1]! < un[1].length ? gapOf(un[1][at[1]!]!) : Infinity,
      );
      const gap: [Rec[], Rec[]] = [[], []];
      for (const s of [0, 1] as const)
        while (at[s]! < un[s].length && gapOf(un[s][at[s]!]!) === g) gap[s].push(un[s][at[s]!++]!);
      const [rs, as] = gap;
      // Similarity needs the values (pairGap compares only when both sides have examples and it is not one
      // against one).
      const compare = rs.length > 0 && as.length > 0 && rs.length * as.length > 1;
      if (compare) await fetch([...rs, ...as]);
      const { pairs, removed, added } = pairGap(rs, as, similar);
      if (compare) for (const r of [...rs, ...as]) release(r);
      const list: Planned[] = [];
      for (const [b, a] of pairs) list.push({ kind: 'modified', b, a, pos: 0, tie: 0 });
      for (const r of removed) list.push({ kind: 'removed', b: r, pos: 0, tie: 0 });
      for (const r of added) list.push({ kind: 'added', a: r, pos: 0, tie: 0 });
      order(list);
      yield* emit(list);
    }
  } else {
    // Pairs told apart by their bytes only (identifyKey): their content ids decide (key order, number
    // spelling do not make a change).
    const unsure: Rec[] = [];
    for (const [b, a] of modifiedPairs)
      if (b.differs !== a && (b.cid === undefined || a.cid === undefined)) unsure.push(b, a);
    if (unsure.length > 0) await fetch(unsure, 'id');
    for (const [b, a, dup] of modifiedPairs) {
      if (b.differs !== a && b.cid !== undefined && b.cid === a.cid) continue;
      plan({ kind: 'modified', b, a, pos: 0, tie: 0, duplicate: dup });
    }
    order(planned);
    yield* emit(planned);
  }
  yield summary(duplicateKeys ? { duplicateKeys } : {});
}

function shown(r: Rec): unknown {
  return r.error !== undefined ? r.text : r.value;
}

function changeEvent(path: string, p: Planned): ChangeEvent {
  const ev: ChangeEvent = { type: 'change', path, kind: p.kind };
  const rec = p.a ?? p.b!;
  if (rec.key !== undefined) ev.key = rec.keyValue;
  if (p.b) ev.before = shown(p.b);
  if (p.a) ev.after = shown(p.a);
  const line: ChangeEvent['line'] = {};
  if (p.b?.line !== undefined) line.before = p.b.line;
  if (p.a?.line !== undefined) line.after = p.a.line;
  if (line.before !== undefined || line.after !== undefined) ev.line = line;
  const index: ChangeEvent['index'] = {};
  if (p.b?.index !== undefined) index.before = p.b.index;
  if (p.a?.index !== undefined) index.after = p.a.index;
  if (index.before !== undefined || index.after !== undefined) ev.index = index;
  if (p.b?.error !== undefined || p.a?.error !== undefined) ev.raw = true;
  if (p.duplicate) ev.duplicate = true;
  if (p.kind === 'modified') {
    // Field-level diffs (word diffs above all) cost far more than finding the change: computed when first
    // read, so that a consumer that only counts (`--stat`) never pays for them.
    const b = shownSide(p.b!);
    const a = shownSide(p.a!);
    Object.defineProperty(ev, 'fields', {
      enumerable: true,
      configurable: true,
      get(): FieldChange[] {
        const fields = fieldsOf(b, a);
        Object.defineProperty(ev, 'fields', {
          value: fields,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        return fields;
      },
      set(v: FieldChange[]) {
        Object.defineProperty(ev, 'fields', {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      },
    });
  }
  return ev;
}

type Shown = Pick<Rec, 'error' | 'text' | 'value'>;
const shownSide = (r: Rec): Shown => ({ error: r.error, text: r.text, value: r.value });

function fieldsOf(b: Shown, a: Shown): FieldChange[] {
  if (b.error !== undefined || a.error !== undefined) {
    const before = b.error !== undefined ? b.text! : JSON.stringify(b.value);
    const after = a.error !== undefined ? a.text! : JSON.stringify(a.value);
    const c: FieldChange = { path: '', kind: 'changed', before, after };
    const words = wordDiff(before, after);
    if (words) c.words = words;
    return [c];
  }
  return diffFields(b.value, a.value);
}

/** Values (and array elements) an example is made of, for "is this the same example, edited?". */
function features(r: Rec): Set<string> {
  if (r.feats) return r.feats;
  const out = new Set<string>();
  if (isPlainObject(r.value)) {
    for (const v of Object.values(r.value)) {
      out.add(identity(canonicalJson(v), 'f\0'));
      if (Array.isArray(v)) for (const e of v) out.add(identity(canonicalJson(e), 'e\0'));
    }
  }
  return (r.feats = out);
}

/** Two examples are similar when at least half of their values (or array elements) are the same. */
function similar(b: Rec, a: Rec): boolean {
  const fb = features(b);
  const fa = features(a);
  if (fb.size === 0 || fa.size === 0) return false;
  let common = 0;
  for (const f of fb) if (fa.has(f)) common++;
  return common > 0 && common * 2 >= Math.max(fb.size, fa.size);
}
