/**
 * The elements of a JSON document's top-level array, found in a stream of its bytes without parsing or
 * holding the document: a structural scan (strings and their escapes, nesting depth, commas) that reports
 * each element's byte range as soon as it ends. Shared by the diff (a JSON array file is compared element
 * by element, in bounded memory) and `examples()` (a JSON array is streamed element by element).
 *
 * The scan checks the array's own structure (`[`, values separated by single commas, `]`, nothing after it
 * but white space); an element's inside is checked by whoever parses it (JSON.parse). A document whose top
 * level is not an array is one element: the whole value. The first structural error stops the scan
 * (`error`: the byte offset and what was expected there).
 */

/** A UTF-8 byte order mark, skipped at the start of a document. */
const BOM = [0xef, 0xbb, 0xbf];

const enum State {
  /** Before the document's first value (white space, a BOM). */
  Start,
  /** After `[`: a value or `]`. */
  First,
  /** After `,`: a value. */
  Value,
  /** Inside an element. */
  In,
  /** After an element: `,` or `]` (or, for a document that is not an array, the end). */
  After,
  /** After the closing `]`: white space only. */
  Done,
  /** Stopped at an error. */
  Failed,
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
/** Bytes that may start a number, `true`, `false` or `null`. */
const isScalarStart = (c: number): boolean =>
  c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e;

export interface JsonElementHandler {
  /**
   * An element's byte range [start, end) in the document and its 0-based index; with `collect`, its bytes
   * (valid during the call only: a view of the pushed buffer, or a copy when it spans pushes).
   */
  (start: number, end: number, index: number, bytes: Uint8Array | undefined): void;
}

export interface JsonArrayScanOptions {
  /** Hand each element's bytes to the handler. */
  collect?: boolean;
  /**
   * Scan a fragment of an array's inside instead of a document: elements separated by commas, no brackets
   * (what lies between two element boundaries found by an earlier scan). `offset` and `index` are the
   * document offset of the fragment's first byte and the index of its first element.
   */
  fragment?: { offset: number; index: number };
  /** Bytes an element may have when collected (default 256 MiB): beyond it the scan fails. */
  maxElementBytes?: number;
}

export class JsonArrayScanner {
  /** `array` once the document's `[` was seen; `value` for a document whose top level is another value. */
  kind: 'unknown' | 'array' | 'value' = 'unknown';
  /** The first structural error: where, and what was expected there. */
  error: { offset: number; message: string } | undefined;
  /** Elements found so far. */
  count = 0;
  private state: State = State.Start;
  /** Document offset of the next byte pushed. */
  private pos = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  /** The element in progress is a number or literal at depth 0 (it ends at the first byte that ends it). */
  private scalar = false;
  private start = -1;
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private readonly collect: boolean;
  private readonly maxElementBytes: number;
  private fragment = false;
  /** Bytes of a leading BOM matched so far. */
  private bom = 0;

  constructor(
    private readonly onElement: JsonElementHandler,
    opts: JsonArrayScanOptions = {},
  ) {
    this.collect = opts.collect ?? false;
    this.maxElementBytes = opts.maxElementBytes ?? 256 * 1024 * 1024;
    if (opts.fragment) {
      this.kind = 'array';
      this.state = State.Value;
      this.pos = opts.fragment.offset;
      this.count = opts.fragment.index;
      this.fragment = true;
    }
  }

  /** Scans the next bytes of the document. */
  push(chunk: Uint8Array): void {
    const base = this.pos;
    const n = chunk.length;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = 0;
    while (i < n && this.state !== State.Failed) {
      const c = chunk[i]!;
      switch (this.state) {
        case State.In:
          if (this.inString) {
            // The inside of a string: only `"` and `\` matter. The next `"` is found with memchr; it ends
            // the string unless an odd run of `\` precedes it.
            if (this.escape) {
              this.escape = false;
              i++;
              continue;
            }
            const q = buf.indexOf(0x22, i);
            if (q < 0) {
              let k = n;
              while (k > i && chunk[k - 1] === 0x5c) k--;
              this.escape = (n - k) % 2 === 1;
              i = n;
              continue;
            }
            let k = q;
            while (k > i && chunk[k - 1] === 0x5c) k--;
            i = q + 1;
            if ((q - k) % 2 === 1) continue;
            this.inString = false;
            if (this.depth === 0) this.finish(chunk, base, base + q + 1);
            continue;
          }
          if (this.scalar) {
            if (isWs(c) || c === 0x2c || c === 0x5d || c === 0x7d) {
              this.finish(chunk, base, base + i);
              continue; // the byte that ended it is read in State.After
            }
            i++;
            continue;
          }
          if (c === 0x22) this.inString = true;
          else if (c === 0x7b || c === 0x5b) this.depth++;
          else if (c === 0x7d || c === 0x5d) {
            if (--this.depth === 0) this.finish(chunk, base, base + i + 1);
          }
          i++;
          continue;
        case State.Start:
          if (this.bom < 3 && base + i === this.bom && c === BOM[this.bom]) {
            this.bom++;
            i++;
            continue;
          }
          if (this.bom > 0 && this.bom < 3) {
            this.fail(base + i, 'a JSON value'); // a BOM cut short
            break;
          }
          if (isWs(c)) break;
          if (c === 0x5b) {
            this.kind = 'array';
            this.state = State.First;
            break;
          }
          this.kind = 'value';
          this.begin(c, base + i, 'a JSON value');
          break;
        case State.First:
        case State.Value:
          if (isWs(c)) break;
          if (c === 0x5d && this.state === State.First) {
            this.state = State.Done;
            break;
          }
          this.begin(c, base + i, 'an array element');
          break;
        case State.After:
          if (isWs(c)) break;
          if (this.kind === 'array' && c === 0x2c) this.state = State.Value;
          else if (this.kind === 'array' && c === 0x5d && !this.fragment) this.state = State.Done;
          else
            this.fail(
              base + i,
              this.kind === 'array' ? "',' or ']' after an array element" : 'the end of the document',
            );
          break;
        case State.Done:
          if (!isWs(c)) this.fail(base + i, 'the end of the document');
          break;
      }
      i++;
    }
    if (this.state === State.In && this.collect && this.start >= 0) {
      const from = Math.max(0, this.start - base);
      const part = Buffer.from(chunk.subarray(from));
      this.carry.push(part);
      this.carryBytes += part.length;
      if (this.carryBytes > this.maxElementBytes)
        this.fail(this.start, `an element of at most ${this.maxElementBytes} bytes`);
    }
    this.pos = base + n;
  }

  /** Ends the scan: the document (or fragment) must be complete. */
  end(): void {
    if (this.state === State.Failed) return;
    if (this.state === State.In && this.scalar) this.finish(new Uint8Array(0), this.pos, this.pos);
    if (this.state === State.Start) this.fail(this.pos, 'a JSON value (the document is empty)');
    else if (this.fragment ? this.state !== State.After : this.state !== State.Done && !this.valueDone())
      this.fail(this.pos, this.state === State.In ? 'the end of an element' : "']'");
  }

  private valueDone(): boolean {
    return this.kind === 'value' && this.state === State.After;
  }

  private begin(c: number, at: number, what: string): void {
    this.start = at;
    this.carry = [];
    this.carryBytes = 0;
    this.inString = c === 0x22;
    this.escape = false;
    this.scalar = false;
    this.depth = 0;
    if (c === 0x7b || c === 0x5b) this.depth = 1;
    else if (isScalarStart(c)) this.scalar = true;
    else if (c !== 0x22) {
      this.fail(at, what);
      return;
    }
    this.state = State.In;
  }

  private finish(chunk: Uint8Array, base: number, end: number): void {
    const start = this.start;
    let bytes: Uint8Array | undefined;
    if (this.collect) {
      if (start >= base) bytes = chunk.subarray(start - base, end - base);
      else {
        this.carry.push(Buffer.from(chunk.buffer, chunk.byteOffset, end - base));
        bytes = Buffer.concat(this.carry);
      }
      this.carry = [];
      this.carryBytes = 0;
    }
    this.state = State.After;
    this.start = -1;
    this.onElement(start, end, this.count++, bytes);
  }

  private fail(offset: number, expected: string): void {
    this.error = { offset, message: `expected ${expected} at byte ${offset}` };
    this.state = State.Failed;
  }
}
