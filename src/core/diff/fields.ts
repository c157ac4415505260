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

const same = (a: unknown, b: unknown): boolean => a === b || canonicalJson(a) === canonicalJson(b);

/** Word-level change objects, or undefined when the strings are too long or too far apart to be useful. */
export function wordDiff(before: string, after: string): Change[] | undefined {
  if (before.length > MAX_WORD_DIFF_CHARS || after.length > MAX_WORD_DIFF_CHARS) return undefined;
  return diffWordsWithSpace(before, after, { maxEditLength: 5_000 }) ?? undefined;
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
  if (!same(before, after)) out.push(changed(path, before, after));
}

function walkObject(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  path: string,
  out: FieldChange[],
): void {
  // Fields in the order of the before side, so that key reordering does not change the output.
  const differing: string[] = [];
  for (const k of Object.keys(before)) {
    if (!(k in after)) out.push({ path: joinKey(path, k), kind: 'removed', before: before[k] });
    else if (!same(before[k], after[k])) differing.push(k);
  }
  for (const k of Object.keys(after)) {
    if (!(k in before)) out.push({ path: joinKey(path, k), kind: 'added', after: after[k] });
  }
  const swapped = new Set<string>();
  for (let i = 0; i < differing.length; i++) {
    const a = differing[i]!;
    if (swapped.has(a)) continue;
    for (let j = i + 1; j < differing.length; j++) {
      const b = differing[j]!;
      if (swapped.has(b)) continue;
      if (same(before[a], after[b]) && same(before[b], after[a])) {
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
    if (!same(before, after)) out.push(changed(path, before, after));
    return;
  }
  const b = before.map((v) => canonicalJson(v));
  const a = after.map((v) => canonicalJson(v));
  const parts = diffArrays(b, a);
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
