/**
 * Inside a modified example: which field paths changed. Strings are diffed by words, arrays are aligned with
 * diff's diffArrays (so chat turns show as added / removed / edited), and two sibling fields whose values were
 * exchanged (`chosen` ⇄ `rejected`) are reported once as a swap.
 */
import { diffArrays, diffWordsWithSpace, type Change } from 'diff';
import { canonicalJson, isPlainObject, joinIndex, joinKey } from './canonical.js';
import type { FieldChange } from './types.js';

/** Above this many characters on either side, strings are reported before → after without a word diff. */
const MAX_WORD_DIFF_CHARS = 200_000;
/** Above this many elements on either side, arrays that differ are reported as one changed value. */
const MAX_ARRAY_ALIGN = 20_000;

/**
 * Equal as canonical JSON (canonicalJson(a) === canonicalJson(b)), without building the texts where the
 * values tell: two strings, numbers or booleans that are not === differ (but non-finite numbers, all
 * null), and plain objects and arrays are compared member by member. Other mixes (a bigint and a number, a
 * Date and a string, undefined and null) are left to canonicalJson.
 */
export function canonicalEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta === typeof b) {
    if (ta === 'string' || ta === 'boolean') return false;
    if (ta === 'number') return !Number.isFinite(a) && !Number.isFinite(b);
  }
  // Only arrays spell as [...], and only plain objects and bytes as {...}.
  const arrays = Number(Array.isArray(a)) + Number(Array.isArray(b));
  if (arrays === 1) return false;
  if (arrays === 2) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!canonicalEqual(x[i], y[i])) return false;
    return true;
  }
  const objects = Number(isPlainObject(a)) + Number(isPlainObject(b));
  if (objects === 1 && !(a instanceof Uint8Array) && !(b instanceof Uint8Array)) return false;
  if (objects === 2) {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    let n = 0;
    for (const k of Object.keys(x)) {
      const vx = x[k];
      if (vx === undefined) continue;
      n++;
      const vy = Object.hasOwn(y, k) ? y[k] : undefined;
      if (vy === undefined || !canonicalEqual(vx, vy)) return false;
    }
    for (const k of Object.keys(y)) if (y[k] !== undefined) n--;
    return n === 0;
  }
  return canonicalJson(a) === canonicalJson(b);
}

/** The most token edits a word diff may search for (beyond, the strings are reported whole). */
const MAX_WORD_EDITS = 5_000;

/** Open-addressing table of word hashes for sharedWords (reused: it runs for every changed string). */
let wordSlots = new Int32Array(0);
let wordCounts = new Int32Array(0);

/** FNV-1a of the UTF-16 units s[from, to), never 0 (0 marks an empty slot). */
function wordHash(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h === 0 ? 1 : h;
}

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000;

/** Calls `visit` with the hash of each white-space-separated word of s; returns how many there were. */
function eachWord(s: string, visit: (h: number) => void): number {
  let n = 0;
  let i = 0;
  const len = s.length;
  while (i < len) {
    while (i < len && isSpace(s.charCodeAt(i))) i++;
    if (i >= len) break;
    const from = i;
    while (i < len && !isSpace(s.charCodeAt(i))) i++;
    visit(wordHash(s, from, i));
    n++;
  }
  return n;
}

/**
 * How many words each string has, and about how many they share (as multisets of word hashes: a collision
 * can only count a word as shared, which makes the word diff run, bounded, rather than be skipped).
 */
function sharedWords(before: string, after: string): { before: number; after: number; shared: number } {
  // A table at least 4 times the words of `before` (at most its length / 2 + 1).
  let size = 64;
  while (size < 2 * before.length + 8) size *= 2;
  if (size > wordSlots.length) {
    wordSlots = new Int32Array(size);
    wordCounts = new Int32Array(size);
  } else wordSlots.fill(0, 0, size);
  const slots = wordSlots;
  const counts = wordCounts;
  const mask = size - 1;
  const nb = eachWord(before, (h) => {
    let i = h & mask;
    while (slots[i] !== 0 && slots[i] !== h) i = (i + 1) & mask;
    if (slots[i] === 0) {
      slots[i] = h;
      counts[i] = 0;
    }
    counts[i]!++;
  });
  let shared = 0;
  const na = eachWord(after, (h) => {
    let i = h & mask;
    while (slots[i] !== 0 && slots[i] !== h) i = (i + 1) & mask;
    if (slots[i] === h && counts[i]! > 0) {
      counts[i]!--;
      shared++;
    }
  });
  return { before: nb, after: na, shared };
}

/**
 * Word-level change objects, or undefined when the strings are too long or too far apart to be useful.
 * "Too far apart": fewer than half of the shorter text's words are in the other (a rewritten text, whose
 * word diff is noise, and which costs a word diff the most: its time grows with the product of length and
 * edits, ~6 ms for two unrelated 1 KB texts; a text that only gained words, as GSM8K's socratic answers
 * did, keeps all of them), or the diff needs far more edits than the unshared words (the same words,
 * reordered). The first is decided before the diff runs, in time linear in the length; the second bounds it.
 */
export function wordDiff(before: string, after: string): Change[] | undefined {
  if (before.length > MAX_WORD_DIFF_CHARS || after.length > MAX_WORD_DIFF_CHARS) return undefined;
  const w = sharedWords(before, after);
  if (w.shared * 2 < Math.min(w.before, w.after)) return undefined;
  // diff's tokens are words, punctuation and white space: about 2-3 per word. The fewest edits are the
  // unshared words on both sides; a bound of a few times that, plus slack for punctuation and spacing.
  const least = w.before + w.after - 2 * w.shared;
  const bound = Math.min(MAX_WORD_EDITS, 8 * least + 64);
  return diffWordsWithSpace(before, after, { maxEditLength: bound }) ?? undefined;
}

function changed(path: string, before: unknown, after: unknown): FieldChange {
  const c: FieldChange = { path, kind: 'changed', before, after };
  if (typeof before === 'string' && typeof after === 'string') {
    const words = wordDiff(before, after);
    if (words) c.words = words;
  }
  return c;
}

/** Field-level changes between two versions of one example (empty when they are equal). */
export function diffFields(before: unknown, after: unknown, path = ''): FieldChange[] {
  const out: FieldChange[] = [];
  walk(before, after, path, out);
  return out;
}

function walk(before: unknown, after: unknown, path: string, out: FieldChange[]): void {
  if (isPlainObject(before) && isPlainObject(after)) return walkObject(before, after, path, out);
  if (Array.isArray(before) && Array.isArray(after)) return walkArray(before, after, path, out);
  if (!canonicalEqual(before, after)) out.push(changed(path, before, after));
}

/** An own member of the object with a value (`in` would also find Object.prototype's `constructor`...). */
const has = (o: Record<string, unknown>, k: string): boolean => Object.hasOwn(o, k) && o[k] !== undefined;

function walkObject(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  path: string,
  out: FieldChange[],
): void {
  // Fields in the order of the before side, so that key reordering does not change the output.
  const differing: string[] = [];
  for (const k of Object.keys(before)) {
    if (before[k] === undefined) continue;
    if (!has(after, k)) out.push({ path: joinKey(path, k), kind: 'removed', before: before[k] });
    else if (!canonicalEqual(before[k], after[k])) differing.push(k);
  }
  for (const k of Object.keys(after)) {
    if (!has(before, k) && after[k] !== undefined)
      out.push({ path: joinKey(path, k), kind: 'added', after: after[k] });
  }
  const swapped = new Set<string>();
  for (let i = 0; i < differing.length; i++) {
    const a = differing[i]!;
    if (swapped.has(a)) continue;
    for (let j = i + 1; j < differing.length; j++) {
      const b = differing[j]!;
      if (swapped.has(b)) continue;
      if (canonicalEqual(before[a], after[b]) && canonicalEqual(before[b], after[a])) {
        out.push({ path: joinKey(path, a), kind: 'swapped', with: joinKey(path, b) });
        swapped.add(a).add(b);
        break;
      }
    }
  }
  for (const k of differing) if (!swapped.has(k)) walk(before[k], after[k], joinKey(path, k), out);
}

function walkArray(before: unknown[], after: unknown[], path: string, out: FieldChange[]): void {
  if (before.length > MAX_ARRAY_ALIGN || after.length > MAX_ARRAY_ALIGN) {
    if (!canonicalEqual(before, after)) out.push(changed(path, before, after));
    return;
  }
  const parts = diffArrays(before, after, { comparator: canonicalEqual });
  let bi = 0;
  let ai = 0;
  let removed: number[] = [];
  let added: number[] = [];
  const flush = (): void => {
    // A removed and an added element at the same place are one edited element (an edited chat turn).
    const n = Math.min(removed.length, added.length);
    for (let k = 0; k < n; k++) walk(before[removed[k]!], after[added[k]!], joinIndex(path, added[k]!), out);
    for (const r of removed.slice(n))
      out.push({ path: joinIndex(path, r), kind: 'removed', before: before[r] });
    for (const x of added.slice(n)) out.push({ path: joinIndex(path, x), kind: 'added', after: after[x] });
    removed = [];
    added = [];
  };
  for (const part of parts) {
    const count = part.count ?? part.value.length;
    if (part.removed) for (let k = 0; k < count; k++) removed.push(bi++);
    else if (part.added) for (let k = 0; k < count; k++) added.push(ai++);
    else {
      flush();
      bi += count;
      ai += count;
    }
  }
  flush();
}
