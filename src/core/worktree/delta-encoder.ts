/**
 * Delta-codes new chunks of a record file against the chunks its previous version no longer uses
 * (docs/FORMAT.md, "Delta-coded chunks"). Only the physical storage changes: the manifest still lists whole
 * canonical chunks named by the BLAKE3 of their bytes.
 *
 * The encoder indexes the records (lines, '\n'-terminated) of the previous version's dropped chunks by a
 * content hash; a new chunk is split the same way and every record found is described as a range of the old
 * chunk that holds it. Splitting at '\n' even inside quoted CSV fields only changes the granularity of the
 * matches, never their correctness: a match is a byte-identical range. Bases are chunks stored in full; a
 * dropped chunk that is itself delta-coded contributes the records its recipe maps to full bases.
 */
import { hashBytesRaw, type Hash } from '../../storage/hash.js';
import type { DeltaOp } from '../../storage/codec.js';
import type { Repository } from '../repository.js';

/** Records shorter than this are left literal (a ref op costs 41 bytes before compression). */
const MIN_RECORD = 16;
/** Bounds the record map (~100 bytes an entry) when a huge part of a file changed. */
const MAX_RECORDS = 4_000_000;

/** Chunks read between turns of the event loop (see yieldToEventLoop). */
export const YIELD_EVERY = 256;
/**
 * A recipe may draw on at most this many distinct base chunks: reading it decodes every base, so a chunk
 * assembled from records scattered over many old chunks (a shuffle) is cheaper to store whole than to read.
 */
export const MAX_BASES = 4;

/**
 * zstd-decoded buffers (a native addon's) are freed by finalizers that only run on a turn of the event
 * loop: a long synchronous run of reads would hold every decoded chunk until it ends.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

type Piece = readonly [base: string, offset: number, length: number];

/** Offsets of the records of `data`: each ends after a '\n' (the last one may not). */
function* records(data: Uint8Array): Generator<[start: number, end: number]> {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let start = 0;
  while (start < b.length) {
    const nl = b.indexOf(10, start);
    const end = nl === -1 ? b.length : nl + 1;
    yield [start, end];
    start = end;
  }
}

const recordKey = (data: Uint8Array, start: number, end: number): string =>
  hashBytesRaw(data.subarray(start, end)).toString('latin1', 0, 16);

export class DeltaEncoder {
  private readonly map = new Map<string, Piece[]>();
  /** Bytes of the old chunks the map was built from (0: nothing to delta against). */
  indexedBytes = 0;

  private constructor(private readonly repo: Repository) {}

  /**
   * Indexes the records of the chunks of `previous` (a file manifest) that are not in `keep` (the new
   * version's chunks). Returns undefined when there is nothing to match against.
   */
  static async build(
    repo: Repository,
    previous: Hash,
    keep: ReadonlySet<string>,
  ): Promise<DeltaEncoder | undefined> {
    const enc = new DeltaEncoder(repo);
    const packs = repo.objects.packs;
    const seen = new Set<string>();
    let m;
    try {
      m = repo.objects.manifest(previous);
    } catch {
      return undefined;
    }
    for (const [h] of repo.objects.spans(m)) {
      if (keep.has(h) || seen.has(h)) continue;
      seen.add(h);
      if (enc.map.size >= MAX_RECORDS) break;
      if (!packs.has(h)) continue;
      if (seen.size % YIELD_EVERY === 0) await yieldToEventLoop();
      try {
        enc.index(h);
      } catch {
        // An unreadable old chunk is just not used as a base (fsck reports it).
      }
    }
    return enc.indexedBytes > 0 && enc.map.size > 0 ? enc : undefined;
  }

  private index(h: string): void {
    const packs = this.repo.objects.packs;
    const data = packs.get(h).data;
    const ops = packs.deltaOps(h);
    this.indexedBytes += data.length;
    for (const [s, e] of records(data)) {
      if (e - s < MIN_RECORD) continue;
      const key = recordKey(data, s, e);
      if (this.map.has(key)) continue;
      const pieces = ops ? mapThrough(ops, s, e) : [[h, s, e - s] as const];
      if (pieces) this.map.set(key, pieces);
    }
  }

  /**
   * A recipe for `data` if at least half of its bytes are found in old records of at most MAX_BASES old
   * chunks, else undefined.
   */
  encode(data: Uint8Array): DeltaOp[] | undefined {
    const ops: DeltaOp[] = [];
    let matched = 0;
    let litStart = -1;
    const flushLit = (end: number): void => {
      if (litStart >= 0 && end > litStart) ops.push({ kind: 'lit', data: data.subarray(litStart, end) });
      litStart = -1;
    };
    for (const [s, e] of records(data)) {
      const pieces = e - s >= MIN_RECORD ? this.map.get(recordKey(data, s, e)) : undefined;
      if (!pieces) {
        if (litStart < 0) litStart = s;
        continue;
      }
      flushLit(s);
      matched += e - s;
      for (const [base, off, len] of pieces) {
        const last = ops[ops.length - 1];
        if (last?.kind === 'ref' && last.base === base && last.offset + last.length === off)
          last.length += len;
        else ops.push({ kind: 'ref', base, offset: off, length: len });
      }
    }
    flushLit(data.length);
    const bases = new Set(ops.map((o) => (o.kind === 'ref' ? o.base : '')));
    bases.delete('');
    if (bases.size > MAX_BASES) return undefined;
    return matched * 2 >= data.length && matched > 0 ? ops : undefined;
  }
}

/** Maps bytes [s, e) of a delta-coded chunk to ranges of its full bases; undefined if any byte is literal. */
function mapThrough(ops: readonly DeltaOp[], s: number, e: number): Piece[] | undefined {
  const out: Piece[] = [];
  let pos = 0;
  for (const op of ops) {
    const len = op.kind === 'lit' ? op.data.length : op.length;
    const a = Math.max(s, pos);
    const b = Math.min(e, pos + len);
    if (a < b) {
      if (op.kind === 'lit') return undefined;
      out.push([op.base, op.offset + (a - pos), b - a]);
    }
    pos += len;
    if (pos >= e) break;
  }
  return out;
}
