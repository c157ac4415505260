/**
 * Whether a line of a JSONL file parses, without parsing it: a byte-level check of the JSON grammar that
 * builds nothing (JSON.parse of every line of a deletion's removed examples, only to warn about the
 * malformed ones, cost more in garbage collection than in parsing).
 *
 * It agrees with `JSON.parse(new TextDecoder().decode(bytes))` (records.ts parseJsonLine) where it says
 * true: a leading BOM is dropped as the decoder drops it, bytes from 0x80 are accepted only inside strings
 * (the non-fatal decoder turns any of them into characters, valid there and never outside), and ASCII bytes
 * decode to themselves. It may say false for text JSON.parse takes (never, by design, but a caller must not
 * rely on it): callers then parse, which also gives the error message.
 */

import { bufferView } from '../../storage/buffer-view.js';

/** Object or array still open, innermost last (1: object, 2: array); grows as needed. */
let stack = new Uint8Array(64);

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** End of the escape whose backslash is at `i` (`\uXXXX` or one of `"\/bfnrt`), or -1. */
function escapeEnd(b: Uint8Array, i: number, n: number): number {
  const e = b[i + 1];
  if (e === 0x75) {
    if (i + 6 > n) return -1;
    for (let k = 2; k < 6; k++) if (!isHex(b[i + k]!)) return -1;
    return i + 6;
  }
  const simple =
    e === 0x22 ||
    e === 0x5c ||
    e === 0x2f ||
    e === 0x62 ||
    e === 0x66 ||
    e === 0x6e ||
    e === 0x72 ||
    e === 0x74;
  return simple ? i + 2 : -1;
}

/** End of the string whose opening quote is at `i`, or -1. */
function stringEnd(b: Uint8Array, i: number, n: number): number {
  i++;
  while (i < n) {
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c !== 0x5c) {
      i++;
      continue;
    }
    i = escapeEnd(b, i, n);
    if (i < 0) return -1;
  }
  return -1;
}

/** Where the next backslash at or after a position is, for stringSkip (-2: not looked for yet). */
let nextBackslash = -2;

/**
 * End of the string whose opening quote is at `i`, found with Buffer#indexOf (memchr) for its quote and
 * backslashes: escapes are checked, the other bytes are not (a raw control character passes).
 */
function stringSkip(b: Buffer, i: number, n: number): number {
  let p = i + 1;
  for (;;) {
    const q = b.indexOf(0x22, p);
    if (q < 0) return -1;
    if (nextBackslash !== n && nextBackslash < p) {
      const at = b.indexOf(0x5c, p);
      nextBackslash = at < 0 ? n : at;
    }
    if (nextBackslash >= q) return q + 1;
    p = escapeEnd(b, nextBackslash, n);
    if (p < 0) return -1;
  }
}

/** End of the number starting at `i`, or -1. */
function numberEnd(b: Uint8Array, i: number, n: number): number {
  if (b[i] === 0x2d) i++;
  if (i >= n) return -1;
  if (b[i] === 0x30) i++;
  else if (b[i]! >= 0x31 && b[i]! <= 0x39) while (i < n && isDigit(b[i]!)) i++;
  else return -1;
  if (i < n && b[i] === 0x2e) {
    i++;
    const f = i;
    while (i < n && isDigit(b[i]!)) i++;
    if (i === f) return -1;
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    const f = i;
    while (i < n && isDigit(b[i]!)) i++;
    if (i === f) return -1;
  }
  return i;
}

/** End of the literal `word` (ASCII) at `i`, or -1. */
function literalEnd(b: Uint8Array, i: number, n: number, word: string): number {
  if (i + word.length > n) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** Whether `bytes` (a line, with or without its line break) is one JSON text as JSON.parse reads it. */
export function isJsonText(bytes: Uint8Array): boolean {
  return scanJson(bytes, undefined, undefined);
}

/**
 * isJsonText, and where the values of some top-level members are: for each name of `keys` (UTF-8), its
 * value's [start, end) in `ranges` (2 per key; -1 when absent or the text is not an object; the last
 * member of a name, as JSON.parse keeps). False also when a top-level member's name has an escape (it
 * might spell one of `keys`): the caller then parses. A key read this way costs a scan, not a content id.
 */
export function jsonTopLevel(
  bytes: Uint8Array,
  keys: ReadonlyArray<Uint8Array>,
  ranges: Int32Array,
): boolean {
  ranges.fill(-1);
  return scanJson(bytes, keys, ranges);
}

/**
 * jsonTopLevel that checks the structure but not what strings hold: a string is skipped natively to its
 * closing quote, its escapes checked, its other bytes not (a raw control character, which JSON.parse
 * refuses, passes). For keying the lines of a large region (a shuffle): a line that passes wrongly is one
 * that JSON.parse refuses yet whose key was read; if it takes part in a change it is parsed then (and
 * reported as a raw line, with its warning); if its bytes are the same on both sides it is unchanged, as it
 * would be anyway. In the 1 GiB keyed shuffle diff: 4.5 s of CPU against the full check's 7.6 s.
 */
export function jsonTopLevelLoose(
  bytes: Uint8Array,
  keys: ReadonlyArray<Uint8Array>,
  ranges: Int32Array,
): boolean {
  ranges.fill(-1);
  const b = bufferView(bytes);
  nextBackslash = -2;
  return scanJson(b, keys, ranges, true);
}

/**
 * jsonTopLevelLoose for a line whose only use is its key (an unchanged line, diff-file.ts KeyPresence): the
 * scan stops once every key's value was found and no later byte spells a key's name in quotes (`quoted`:
 * the names with their quotes), which a later member of that name (JSON.parse keeps the last) would need.
 * The rest of the line is not checked: true does not mean the line is JSON.
 */
export function jsonTopLevelKeys(
  bytes: Uint8Array,
  keys: ReadonlyArray<Uint8Array>,
  ranges: Int32Array,
  quoted: ReadonlyArray<Uint8Array>,
): boolean {
  ranges.fill(-1);
  const b = bufferView(bytes);
  nextBackslash = -2;
  return scanJson(b, keys, ranges, true, quoted);
}

/** Every key's value found, and no key's quoted name after `at`. */
function allFoundLast(b: Buffer, at: number, ranges: Int32Array, quoted: ReadonlyArray<Uint8Array>): boolean {
  for (let k = 0; k < quoted.length; k++) if (ranges[2 * k]! < 0) return false;
  for (const q of quoted) if (b.indexOf(q, at) >= 0) return false;
  return true;
}

/** The index in `keys` of the name in b[from, to), or -1. */
function keyIndex(b: Uint8Array, from: number, to: number, keys: ReadonlyArray<Uint8Array>): number {
  for (let k = 0; k < keys.length; k++) {
    const name = keys[k]!;
    if (name.length !== to - from) continue;
    let i = 0;
    while (i < name.length && b[from + i] === name[i]) i++;
    if (i === name.length) return k;
  }
  return -1;
}

function scanJson(
  bytes: Uint8Array,
  keys: ReadonlyArray<Uint8Array> | undefined,
  ranges: Int32Array | undefined,
  loose = false,
  /** jsonTopLevelKeys: stop early. */
  quoted?: ReadonlyArray<Uint8Array>,
): boolean {
  const str = loose ? (b: Uint8Array, i: number, n: number) => stringSkip(b as Buffer, i, n) : stringEnd;
  const b = bytes;
  const n = b.length;
  let i = n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  let top = 0;
  /** The member of the top-level object whose value is being read, if its name is one of `keys`. */
  let member = -1;
  let valueAt = 0;
  // Each turn reads one value (after a key and its colon, when in an object), then what follows it.
  for (;;) {
    while (i < n && isWs(b[i]!)) i++;
    if (i >= n) return false;
    const c = b[i]!;
    let opened = false;
    if (c === 0x7b || c === 0x5b) {
      i++;
      while (i < n && isWs(b[i]!)) i++;
      if (b[i] === (c === 0x7b ? 0x7d : 0x5d))
        i++; // empty
      else {
        if (top === stack.length) {
          const next = new Uint8Array(stack.length * 2);
          next.set(stack);
          stack = next;
        }
        stack[top++] = c === 0x7b ? 1 : 2;
        opened = true;
      }
    } else if (c === 0x22) i = str(b, i, n);
    else if (c === 0x74) i = literalEnd(b, i, n, 'true');
    else if (c === 0x66) i = literalEnd(b, i, n, 'false');
    else if (c === 0x6e) i = literalEnd(b, i, n, 'null');
    else i = numberEnd(b, i, n);
    if (i < 0) return false;
    if (!opened) {
      // After a value: close what ends here, until a comma asks for the next value.
      for (;;) {
        if (member >= 0 && top === 1) {
          ranges![2 * member] = valueAt;
          ranges![2 * member + 1] = i;
          member = -1;
          if (quoted && allFoundLast(b as Buffer, i, ranges!, quoted)) return true;
        }
        while (i < n && isWs(b[i]!)) i++;
        if (top === 0) return i === n;
        const d = b[i];
        if (d === 0x2c) {
          i++;
          break;
        }
        if (d !== (stack[top - 1] === 1 ? 0x7d : 0x5d)) return false;
        top--;
        i++;
      }
    }
    // In an object, the next value comes after its key.
    if (top > 0 && stack[top - 1] === 1) {
      while (i < n && isWs(b[i]!)) i++;
      if (b[i] !== 0x22) return false;
      const from = i + 1;
      i = str(b, i, n);
      if (i < 0) return false;
      if (keys && top === 1) {
        for (let k = from; k < i - 1; k++) if (b[k] === 0x5c) return false;
        member = keyIndex(b, from, i - 1, keys);
      }
      while (i < n && isWs(b[i]!)) i++;
      if (b[i] !== 0x3a) return false;
      i++;
      while (i < n && isWs(b[i]!)) i++;
      if (top === 1) valueAt = i;
    }
  }
}
