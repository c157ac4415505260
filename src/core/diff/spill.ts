/**
 * Bounded memory for the diff's per-example state: fixed-width records of 32-bit words, sorted by their
 * leading words. Below a byte budget they stay in memory (one typed array, sorted by an index); above it,
 * sorted runs are written to a temporary directory and read back merged (k-way, block by block). Either way
 * a reader gives the records in order, as often as asked. See docs/DIFF.md, "Memory model".
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Default budget of identity state for one file's diff (both sides, anchors included). 32 MiB (was 64): the
 * keyed shuffle diff of 1 GiB spills either way, and halving its in-memory runs took ~33 MB off its peak RSS
 * (449 → 416 MiB, back to back) at no cost in time (the merge reads more, shorter runs).
 */
export const DEFAULT_DIFF_BUDGET = 32 * 1024 * 1024;

/** The budget: the option, else STRATA_DIFF_MEMORY (bytes, for tests and tuning), else the default. */
export function diffBudget(option: number | undefined): number {
  if (option !== undefined) return option;
  const env = Number(process.env.STRATA_DIFF_MEMORY);
  return Number.isFinite(env) && env > 0 ? env : DEFAULT_DIFF_BUDGET;
}

/** A temporary directory, created on first use and removed (with its files) by `close`. */
export class SpillDir {
  private path: string | undefined;
  private seq = 0;
  /** Open run files: closed by `close` too, should the diff stop in the middle of a merge. */
  private readonly fds = new Set<number>();
  constructor(private readonly parent: string = tmpdir()) {}
  file(): string {
    if (this.path === undefined) {
      mkdirSync(this.parent, { recursive: true });
      // The pid in the name lets gc remove the directory of a diff that was killed (gc.ts, deadScratch).
      this.path = mkdtempSync(join(this.parent, `strata-diff-${process.pid}-`));
    }
    return join(this.path, `${this.seq++}`);
  }
  get used(): boolean {
    return this.path !== undefined;
  }
  open(path: string, flags: string): number {
    const fd = openSync(path, flags);
    this.fds.add(fd);
    return fd;
  }
  closeFd(fd: number): void {
    if (this.fds.delete(fd)) closeSync(fd);
  }
  close(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds.clear();
    if (this.path) rmSync(this.path, { recursive: true, force: true });
    this.path = undefined;
  }
}

/** Reads records in order: `next()` moves to the next one (false at the end), `rec` holds its words. */
export interface RecordReader {
  next(): boolean;
  readonly rec: Uint32Array;
}

const BLOCK_RECORDS = 8192;
/** Below this many records a buffer is sorted by comparison (the radix sort's 256 KiB of counts cost more). */
const RADIX_MIN = 4096;

/** Fixed-width records sorted by their first `keyWords` words (unsigned, lexicographic). */
export class SortedRecords {
  n = 0;
  private buf: Uint32Array;
  private len = 0;
  private readonly cap: number;
  private readonly runs: Array<{ path: string; n: number }> = [];
  private order: Uint32Array | undefined;

  constructor(
    readonly width: number,
    readonly keyWords: number,
    budgetBytes: number,
    private readonly dir: SpillDir,
  ) {
    // Sorting a buffer needs its index and the radix sort's second index (4 bytes a record each) on top of
    // the records themselves.
    this.cap = Math.max(64, Math.floor(budgetBytes / (width * 4 + 8)));
    this.buf = new Uint32Array(Math.min(this.cap, 1024) * width);
  }

  get spilled(): boolean {
    return this.runs.length > 0;
  }

  /** Appends a record (its first `width` words are taken from `w`). */
  push(w: ArrayLike<number>): void {
    if (this.len === this.buf.length / this.width) {
      if (this.len >= this.cap) this.flush();
      else {
        const b = new Uint32Array(Math.min(this.cap, Math.max(1024, this.len * 2)) * this.width);
        b.set(this.buf);
        this.buf = b;
      }
    }
    const o = this.len * this.width;
    for (let k = 0; k < this.width; k++) this.buf[o + k] = w[k]!;
    this.len++;
    this.n++;
    this.order = undefined;
  }

  /**
   * The records' indices in key order, ties in the order pushed. Large buffers: a stable radix sort (16 bits a
   * pass) of the first key word, then each run of records equal in it sorted by comparison on the other
   * words; when such runs are common (keys that are not hashes), a stable LSD radix sort of every key word
   * instead. The ids are hashes, and a JavaScript comparator over the whole buffer was ~40% of a shuffle
   * diff's spilling (2M ids of 1 GiB a side: ~1.9 s of sorting).
   */
  private sortBuffer(): Uint32Array {
    if (this.order) return this.order;
    const n = this.len;
    let order: Uint32Array = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const cmp = this.compare.bind(this);
    if (n < RADIX_MIN) return (this.order = order.sort(cmp));
    let scratch: Uint32Array = new Uint32Array(n);
    const count = new Uint32Array(65536);
    for (const shift of [0, 16])
      if (this.radixPass(order, scratch, count, 0, shift) === scratch) [order, scratch] = [scratch, order];
    // Runs equal in the first word.
    const { buf, width, keyWords } = this;
    let tied = 0;
    for (let i = 1; i < n; i++) if (buf[order[i]! * width] === buf[order[i - 1]! * width]) tied++;
    if (keyWords === 1 || tied === 0) return (this.order = order);
    if (tied * 8 > n) {
      // Not hashes: every word, least significant first.
      let a = order;
      for (let i = 0; i < n; i++) a[i] = i;
      let b = scratch;
      for (let k = keyWords - 1; k >= 0; k--)
        for (const shift of [0, 16]) {
          const next = this.radixPass(a, b, count, k, shift);
          if (next === b) [a, b] = [b, a];
        }
      return (this.order = a);
    }
    for (let i = 0; i < n;) {
      let j = i + 1;
      while (j < n && buf[order[j]! * width] === buf[order[i]! * width]) j++;
      if (j - i > 1) order.subarray(i, j).sort(cmp);
      i = j;
    }
    return (this.order = order);
  }

  /** Records x and y compared by key, then by the order pushed. */
  private compare(x: number, y: number): number {
    const { buf, width, keyWords } = this;
    const ox = x * width;
    const oy = y * width;
    for (let k = 0; k < keyWords; k++) {
      const a = buf[ox + k]!;
      const b = buf[oy + k]!;
      if (a !== b) return a < b ? -1 : 1;
    }
    return x - y;
  }

  /**
   * One stable counting-sort pass of `order` by 16 bits (at `shift`) of key word k, into `into`: returns
   * `into`, or `order` itself when every record has the same digit (nothing moves).
   */
  private radixPass(
    order: Uint32Array,
    into: Uint32Array,
    count: Uint32Array,
    k: number,
    shift: number,
  ): Uint32Array {
    const { buf, width } = this;
    const n = order.length;
    count.fill(0);
    for (let i = 0, at = k; i < n; i++, at += width) count[(buf[at]! >>> shift) & 0xffff]!++;
    if (count[(buf[k]! >>> shift) & 0xffff] === n) return order;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const x = order[i]!;
      into[count[(buf[x * width + k]! >>> shift) & 0xffff]!++] = x;
    }
    return into;
  }

  /** Writes the buffer as a sorted run and empties it. */
  private flush(): void {
    if (this.len === 0) return;
    const order = this.sortBuffer();
    const path = this.dir.file();
    const fd = openSync(path, 'w');
    try {
      const { width, buf } = this;
      const block = new Uint32Array(BLOCK_RECORDS * width);
      for (let start = 0; start < this.len; start += BLOCK_RECORDS) {
        const end = Math.min(this.len, start + BLOCK_RECORDS);
        for (let i = start; i < end; i++)
          block.set(buf.subarray(order[i]! * width, (order[i]! + 1) * width), (i - start) * width);
        writeSync(fd, block, 0, (end - start) * width * 4);
      }
    } finally {
      closeSync(fd);
    }
    this.runs.push({ path, n: this.len });
    this.len = 0;
    this.order = undefined;
    // Keep the full buffer: it fills again at once.
  }

  /**
   * Once records have spilled, writes what the buffer holds as one more run and frees the buffer: for a
   * list that is done filling for a while (one side of the diff while the other side is read), so that the
   * two do not hold a full buffer each. Below the budget nothing changes.
   */
  pause(): void {
    if (this.runs.length === 0) return;
    this.flush();
    this.buf = new Uint32Array(Math.min(this.cap, 1024) * this.width);
  }

  /** The records in key order. Spilled records are merged from their runs (the buffer becomes one more). */
  reader(): RecordReader {
    if (this.runs.length > 0) {
      this.flush();
      // The merge's blocks take the buffer's place, in half its size: the diff merges both sides' lists at
      // once (matchIds), and they then hold one budget between them, as while filling (see pause).
      this.buf = new Uint32Array(0);
      return mergeRuns(this.runs, this.width, this.keyWords, Math.ceil(this.cap / 2), this.dir);
    }
    const order = this.sortBuffer();
    const { buf, width } = this;
    let i = -1;
    const rec = new Uint32Array(width);
    return {
      rec,
      next(): boolean {
        if (++i >= order.length) return false;
        // Word by word: a subarray per record was most of what reading the anchors allocated.
        const at = order[i]! * width;
        for (let k = 0; k < width; k++) rec[k] = buf[at + k]!;
        return true;
      },
    };
  }

  /** Frees the memory (the runs stay until the SpillDir is closed). */
  clear(): void {
    this.buf = new Uint32Array(0);
    this.len = 0;
    this.order = undefined;
  }
}

/** A k-way merge of sorted runs, each read in blocks that share `budgetRecords` between them. */
function mergeRuns(
  runs: ReadonlyArray<{ path: string; n: number }>,
  width: number,
  keyWords: number,
  budgetRecords: number,
  dir: SpillDir,
): RecordReader {
  const blockRecords = Math.max(256, Math.floor(budgetRecords / runs.length));
  const src = runs.map((r) => ({
    fd: dir.open(r.path, 'r'),
    left: r.n,
    pos: 0,
    block: new Uint32Array(Math.min(blockRecords, Math.max(1, r.n)) * width),
    at: 0,
    have: 0,
  }));
  const fill = (s: (typeof src)[number]): boolean => {
    if (s.at < s.have) return true;
    if (s.left === 0) {
      dir.closeFd(s.fd);
      s.fd = -1;
      return false;
    }
    const count = Math.min(s.left, s.block.length / width);
    const bytes = count * width * 4;
    let got = 0;
    const view = Buffer.from(s.block.buffer, s.block.byteOffset, bytes);
    while (got < bytes) {
      const k = readSync(s.fd, view, got, bytes - got, s.pos + got);
      if (k === 0) throw new Error('spill run ended early');
      got += k;
    }
    s.pos += bytes;
    s.left -= count;
    s.at = 0;
    s.have = count;
    return true;
  };
  const less = (x: number, y: number): boolean => {
    const a = src[x]!;
    const b = src[y]!;
    const oa = a.at * width;
    const ob = b.at * width;
    for (let k = 0; k < keyWords; k++) {
      const u = a.block[oa + k]!;
      const v = b.block[ob + k]!;
      if (u !== v) return u < v;
    }
    return x < y;
  };
  // A binary min-heap of run numbers.
  const heap: number[] = [];
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  src.forEach((s, i) => {
    if (fill(s)) heap.push(i);
  });
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  const rec = new Uint32Array(width);
  return {
    rec,
    next(): boolean {
      if (heap.length === 0) return false;
      const top = heap[0]!;
      const s = src[top]!;
      rec.set(s.block.subarray(s.at * width, (s.at + 1) * width));
      s.at++;
      if (!fill(s)) {
        heap[0] = heap[heap.length - 1]!;
        heap.pop();
      }
      if (heap.length > 0) down(0);
      return true;
    },
  };
}

/**
 * An append-only list of 32-bit integers read back at any index, e.g. backwards: in memory up to a budget,
 * then in a file (one block cached for reading).
 */
export class IntLog {
  n = 0;
  private chunk = new Int32Array(1024);
  private readonly max: number;
  private chunkStart = 0;
  private fd = -1;
  private cache: Int32Array | undefined;
  private cacheStart = -1;
  constructor(
    budgetBytes: number,
    private readonly dir: SpillDir,
  ) {
    // The memory chunk grows up to half the budget; reading back from the file takes a block as large.
    this.max = Math.max(1024, Math.floor(budgetBytes / 8));
  }
  push(v: number): void {
    if (this.n - this.chunkStart === this.chunk.length) {
      if (this.chunk.length < this.max) {
        const c = new Int32Array(Math.min(this.max, this.chunk.length * 2));
        c.set(this.chunk);
        this.chunk = c;
      } else {
        if (this.fd < 0) this.fd = this.dir.open(this.dir.file(), 'w+');
        writeSync(this.fd, this.chunk, 0, this.chunk.byteLength, this.chunkStart * 4);
        this.chunkStart = this.n;
      }
    }
    this.chunk[this.n++ - this.chunkStart] = v;
  }
  get(i: number): number {
    if (i >= this.chunkStart) return this.chunk[i - this.chunkStart]!;
    // Spilled entries: the chunk is full-size by then, and every chunk written is.
    const size = this.max;
    const start = Math.floor(i / size) * size;
    if (this.cacheStart !== start) {
      this.cache ??= new Int32Array(size);
      readSync(this.fd, this.cache, 0, size * 4, start * 4);
      this.cacheStart = start;
    }
    return this.cache![i - start]!;
  }
  close(): void {
    if (this.fd >= 0) this.dir.closeFd(this.fd);
    this.fd = -1;
    this.cache = undefined;
    this.chunk = new Int32Array(0);
  }
}
