import { describe, expect, it } from 'vitest';
import { diffFields, wordDiff } from '../../src/core/diff/index.js';
import { mulberry32 } from '../helpers/prng.js';

const VOCAB = 'the of and to a in is you that it he was for on are as with his they at be this have from'
  .split(' ')
  .concat('answer model river stone light garden window music paper summer winter number'.split(' '));

function words(seed: number, n: number): string {
  const rnd = mulberry32(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(VOCAB[Math.floor(rnd() * VOCAB.length)]!);
  return out.join(' ') + '.';
}

/** The before and after texts a word diff spells (unchanged + removed, unchanged + added). */
function sidesOf(changes: NonNullable<ReturnType<typeof wordDiff>>): [string, string] {
  let b = '';
  let a = '';
  for (const c of changes) {
    if (!c.added) b += c.value;
    if (!c.removed) a += c.value;
  }
  return [b, a];
}

describe('wordDiff', () => {
  it('shows a few edited words of a long text', () => {
    const before = words(1, 200);
    const after = before.replace(/ river /, ' lake ').replace(/ garden /, ' yard and orchard ');
    const w = wordDiff(before, after)!;
    expect(w).toBeDefined();
    expect(sidesOf(w)).toEqual([before, after]);
    expect(w.filter((c) => c.added).map((c) => c.value.trim())).toEqual(
      expect.arrayContaining(['lake', expect.stringContaining('orchard')]),
    );
  });

  it('keeps the word diff of a text that only gained words (a socratic rewrite)', () => {
    const before = words(2, 60);
    const after = `${words(3, 40)} ${before} ${words(4, 80)}`;
    const w = wordDiff(before, after)!;
    expect(w).toBeDefined();
    expect(sidesOf(w)).toEqual([before, after]);
    expect(w.filter((c) => c.removed)).toHaveLength(0);
  });

  it('reports a rewritten text whole: no word diff of unrelated texts', () => {
    // Fewer than half of the words in common: the word diff would be noise.
    const rnd = mulberry32(5);
    const pseudo = (n: number): string =>
      Array.from({ length: n }, () => Math.floor(rnd() * 1e6).toString(36)).join(' ');
    const common = words(6, 40);
    expect(wordDiff(`${common} ${pseudo(60)}`, `${common} ${pseudo(60)}`)).toBeUndefined();
    expect(wordDiff('one', 'two')).toBeUndefined();
    // More than half in common: shown word by word.
    const w = wordDiff(`${common} ${pseudo(30)}`, `${common} ${pseudo(30)}`)!;
    expect(w.some((c) => c.added) && w.some((c) => c.removed)).toBe(true);
  });

  it('gives up on the same words in another order rather than search every edit', () => {
    const before = words(7, 400);
    const after = before.split(' ').reverse().join(' ');
    const w = wordDiff(before, after);
    if (w) expect(sidesOf(w)).toEqual([before, after]);
  });

  it('handles empty and white-space-only strings', () => {
    expect(sidesOf(wordDiff('', 'a b')!)).toEqual(['', 'a b']);
    expect(sidesOf(wordDiff('  ', 'x')!)).toEqual(['  ', 'x']);
  });
});

describe('diffFields', () => {
  it('ignores key order, at every depth', () => {
    const before = {
      id: 1,
      messages: [{ role: 'user', content: 'hi' }],
      meta: { a: 1, b: [1, { c: 2, d: 3 }] },
    };
    const after = {
      meta: { b: [1, { d: 3, c: 2 }], a: 1 },
      messages: [{ content: 'hi', role: 'user' }],
      id: 1,
    };
    expect(diffFields(before, after)).toEqual([]);
  });

  it('names the edited chat turn and the added one', () => {
    const before = {
      messages: [
        { role: 'user', content: 'What is 2 + 2?' },
        { role: 'assistant', content: '4' },
      ],
    };
    const after = {
      messages: [
        { role: 'user', content: 'What is 2 + 2?' },
        { role: 'assistant', content: 'It is 4' },
        { role: 'user', content: 'thanks' },
      ],
    };
    const f = diffFields(before, after);
    expect(f.map((c) => [c.path, c.kind])).toEqual([
      ['messages[1].content', 'changed'],
      ['messages[2]', 'added'],
    ]);
  });

  it('reports a swap of chosen and rejected once', () => {
    const f = diffFields(
      { prompt: 'p', chosen: 'good', rejected: 'bad' },
      { prompt: 'p', chosen: 'bad', rejected: 'good' },
    );
    expect(f).toEqual([{ path: 'chosen', kind: 'swapped', with: 'rejected' }]);
  });

  it('compares values as canonical JSON does', () => {
    // Equal: a bigint and the number it spells, a Date and its ISO text, NaN and null, undefined members.
    expect(diffFields({ n: 5n }, { n: 5 })).toEqual([]);
    expect(
      diffFields({ t: new Date('2024-01-02T03:04:05.000Z') }, { t: '2024-01-02T03:04:05.000Z' }),
    ).toEqual([]);
    expect(diffFields({ x: NaN }, { x: null })).toEqual([]);
    expect(diffFields({ a: 1, gone: undefined }, { a: 1 })).toEqual([]);
    // Different: an array and an object with index keys, a number and its text, 0 and false.
    expect(diffFields({ v: [1, 2] }, { v: { 0: 1, 1: 2 } })).toHaveLength(1);
    expect(diffFields({ v: 1 }, { v: '1' })).toHaveLength(1);
    expect(diffFields({ v: 0 }, { v: false })).toHaveLength(1);
    expect(diffFields({ v: [1, { a: 1 }] }, { v: [1, { a: 1, b: 2 }] })).toEqual([
      { path: 'v[1].b', kind: 'added', after: 2 },
    ]);
  });

  it('sees members named like Object.prototype properties', () => {
    const before = JSON.parse('{"a":1}') as Record<string, unknown>;
    const after = JSON.parse('{"a":1,"constructor":"x","__proto__":{"b":1}}') as Record<string, unknown>;
    expect(diffFields(before, after).map((c) => [c.path, c.kind])).toEqual([
      ['constructor', 'added'],
      ['__proto__', 'added'],
    ]);
    expect(diffFields(after, before).map((c) => [c.path, c.kind])).toEqual([
      ['constructor', 'removed'],
      ['__proto__', 'removed'],
    ]);
  });
});
