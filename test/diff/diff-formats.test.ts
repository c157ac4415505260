import { describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { sideFromBytes, sideFromPieces } from '../../src/core/diff/index.js';
import {
  createHumanRenderer,
  renderJsonLine,
  renderNameOnly,
  renderStat,
} from '../../src/cli/diff-output.js';
import { collect, instrument, jsonl } from './helpers.js';

const rows = (
  n: number,
  f = (i: number) => ({ id: i, text: `example number ${i} with some words`, n: i * 2 }),
) => Array.from({ length: n }, (_, i) => f(i));

describe('cost', () => {
  it('shared pieces are never read; one edit reads only the pieces around it', async () => {
    const base = rows(5000);
    const edited = base.map((r) =>
      r.id === 2500 ? { ...r, text: 'example number 2500 with other words' } : r,
    );
    const b = instrument(sideFromBytes('d.jsonl', jsonl(base), { avgSize: 4096 }));
    const a = instrument(sideFromBytes('d.jsonl', jsonl(edited), { avgSize: 4096 }));
    expect(b.side.pieces.length).toBeGreaterThan(50);
    const r = await collect(b.side, a.side);
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    const c = r.changes[0]!;
    expect(c.line).toEqual({ before: 2501, after: 2501 });
    expect(c.fields?.map((f) => f.path)).toEqual(['text']);
    const sharedIds = new Set(
      b.side.pieces.map((p) => p.id).filter((id) => a.side.pieces.some((q) => q.id === id)),
    );
    for (const i of b.read) expect(sharedIds.has(b.side.pieces[i]!.id)).toBe(false);
    for (const i of a.read) expect(sharedIds.has(a.side.pieces[i]!.id)).toBe(false);
    expect(new Set(b.read).size).toBeLessThanOrEqual(2);
    expect(r.summary.cost.piecesShared).toBeGreaterThan(90);
  });

  it('identical files: nothing read', async () => {
    const s = instrument(sideFromBytes('d.jsonl', jsonl(rows(100))));
    const r = await collect(s.side, s.side);
    expect(s.read).toEqual([]);
    expect(r.summary).toMatchObject({
      status: 'unchanged',
      identical: true,
      counts: { added: 0, removed: 0, modified: 0 },
    });
  });

  it('an example moved from one changed piece to another is unchanged (no key) and keyed', async () => {
    const b = sideFromPieces('m.jsonl', 'jsonl', [
      jsonl([{ id: 1 }, { id: 2 }]),
      jsonl([{ id: 3 }]),
      jsonl([{ id: 4 }]),
    ]);
    const a = sideFromPieces('m.jsonl', 'jsonl', [
      jsonl([{ id: 1 }]),
      jsonl([{ id: 3 }]),
      jsonl([{ id: 4 }, { id: 2 }]),
    ]);
    expect((await collect(b, a)).summary.counts).toEqual({ added: 0, removed: 0, modified: 0 });
    expect((await collect(b, a, { key: ['id'] })).summary.counts).toEqual({
      added: 0,
      removed: 0,
      modified: 0,
    });
  });
});

describe('matching', () => {
  it('malformed lines become raw changes with a warning and line number, never an abort', async () => {
    const b = sideFromBytes('x.jsonl', '{"a":1}\n{"a":2}\n{"a":3}\n');
    const a = sideFromBytes('x.jsonl', '{"a":1}\n{"a":2\n{"a":3}\nnot json at all\n');
    const r = await collect(b, a);
    expect(r.summary.counts).toEqual({ added: 1, removed: 0, modified: 1 });
    expect(r.changes[0]).toMatchObject({
      kind: 'modified',
      raw: true,
      line: { before: 2, after: 2 },
      after: '{"a":2',
    });
    expect(r.changes[1]).toMatchObject({
      kind: 'added',
      raw: true,
      line: { after: 4 },
      after: 'not json at all',
    });
    expect(r.warnings.map((w) => w.line)).toEqual([2, 4]);
    expect(r.summary.warnings).toBe(2);
  });

  it('an append or a deletion (the other side all cancelled) still warns about every malformed example', async () => {
    const base = ['{"a":1}\n{"a":2}\n', '{"a":3}\n'];
    // Appended: a valid example, a malformed one, and one equal to an example already there (added again).
    const appended = sideFromPieces('x.jsonl', 'jsonl', [...base, '{"a":4}\n{"a":5\n{"a":1}\n']);
    const r = await collect(sideFromPieces('x.jsonl', 'jsonl', base), appended);
    expect(r.summary.counts).toEqual({ added: 3, removed: 0, modified: 0 });
    expect(r.summary.warnings).toBe(1);
    expect(r.warnings.map((w) => [w.side, w.line])).toEqual([['after', 5]]);
    expect(r.changes.map((c) => [c.kind, c.raw ?? false, c.after])).toEqual([
      ['added', false, { a: 4 }],
      ['added', true, '{"a":5'],
      ['added', false, { a: 1 }],
    ]);
    // The same file the other way round: a deletion.
    const d = await collect(appended, sideFromPieces('x.jsonl', 'jsonl', base));
    expect(d.summary.counts).toEqual({ added: 0, removed: 3, modified: 0 });
    expect(d.summary.warnings).toBe(1);
    expect(d.changes.map((c) => c.before)).toEqual([{ a: 4 }, '{"a":5', { a: 1 }]);
    // With --stat (no events), the count of warnings is the same.
    const stat = await collect(sideFromPieces('x.jsonl', 'jsonl', base), appended, { limit: 0 });
    expect(stat.summary.warnings).toBe(1);
    expect(stat.changes).toEqual([]);
  });

  it('duplicate keys are reported, not merged', async () => {
    const b = sideFromBytes(
      'k.jsonl',
      jsonl([
        { id: 'a', v: 1 },
        { id: 'b', v: 1 },
        { id: 'b', v: 2 },
      ]),
    );
    const a = sideFromBytes(
      'k.jsonl',
      jsonl([
        { id: 'a', v: 5 },
        { id: 'b', v: 2 },
        { id: 'b', v: 3 },
        { id: 'b', v: 4 },
      ]),
    );
    const r = await collect(b, a, { key: ['id'] });
    expect(r.summary.duplicateKeys).toEqual({ before: 1, after: 1, keys: ['b'] });
    expect(r.summary.counts).toEqual({ added: 1, removed: 0, modified: 2 });
    expect(r.changes.filter((c) => c.key === 'b').every((c) => c.duplicate)).toBe(true);
    expect(r.warnings.some((w) => w.message.includes('duplicate key "b"'))).toBe(true);
  });

  it('composite keys', async () => {
    const b = sideFromBytes(
      'k.jsonl',
      jsonl([
        { a: 1, b: 1, v: 0 },
        { a: 1, b: 2, v: 0 },
      ]),
    );
    const a = sideFromBytes(
      'k.jsonl',
      jsonl([
        { a: 1, b: 2, v: 1 },
        { a: 1, b: 1, v: 0 },
      ]),
    );
    const r = await collect(b, a, { key: ['a', 'b'] });
    expect(r.changes).toHaveLength(1);
    expect(r.changes[0]).toMatchObject({ kind: 'modified', key: [1, 2] });
  });

  it('ignoreFields removes fields before comparing', async () => {
    const b = sideFromBytes(
      'i.jsonl',
      jsonl([
        { id: 1, t: 'x', meta: { ts: 1, src: 'a' } },
        { id: 2, t: 'y', meta: { ts: 1, src: 'a' } },
      ]),
    );
    const a = sideFromBytes(
      'i.jsonl',
      jsonl([
        { id: 1, t: 'x', meta: { ts: 2, src: 'a' } },
        { id: 2, t: 'z', meta: { ts: 2, src: 'a' } },
      ]),
    );
    const r = await collect(b, a, { ignoreFields: ['meta.ts'] });
    expect(r.summary.counts).toEqual({ added: 0, removed: 0, modified: 1 });
    expect(r.changes[0]!.fields).toEqual([expect.objectContaining({ path: 't', before: 'y', after: 'z' })]);
    const k = await collect(b, a, { key: ['id'], ignoreFields: ['meta'] });
    expect(k.summary.counts.modified).toBe(1);
  });

  it('limit caps the change events, the summary counts all', async () => {
    const b = sideFromBytes('l.jsonl', jsonl(rows(50)));
    const a = sideFromBytes('l.jsonl', jsonl(rows(50, (i) => ({ id: i, text: `changed ${i}`, n: i * 2 }))));
    const r = await collect(b, a, { key: ['id'], limit: 5 });
    expect(r.changes).toHaveLength(5);
    expect(r.summary.counts.modified).toBe(50);
  });

  it('chat turns added, removed and edited', async () => {
    const conv = (turns: Array<[string, string]>) => ({
      id: 7,
      messages: turns.map(([role, content]) => ({ role, content })),
    });
    const b = sideFromBytes(
      'c.jsonl',
      jsonl([
        conv([
          ['system', 'be nice'],
          ['user', 'hi there'],
          ['assistant', 'hello, how can I help?'],
        ]),
      ]),
    );
    const a = sideFromBytes(
      'c.jsonl',
      jsonl([
        conv([
          ['user', 'hi there'],
          ['assistant', 'hello, how may I help?'],
          ['user', 'thanks'],
        ]),
      ]),
    );
    const r = await collect(b, a, { key: ['id'] });
    const f = r.changes[0]!.fields!;
    expect(f.map((x) => [x.path, x.kind])).toEqual([
      ['messages[0]', 'removed'],
      ['messages[1].content', 'changed'],
      ['messages[2]', 'added'],
    ]);
    expect(f[1]!.words!.filter((w) => w.removed || w.added).map((w) => w.value)).toEqual(['can', 'may']);
  });
});

describe('formats', () => {
  it('CSV with quoted newlines, header-aware, ragged rows warned', async () => {
    const b = sideFromPieces('t.csv', 'csv', [
      'id,text\n',
      '1,"multi\nline ""quoted"""\n2,plain\n',
      '3,"a, b"\n',
    ]);
    const a = sideFromPieces('t.csv', 'csv', [
      'id,text\n',
      '1,"multi\nline ""changed"""\n2,plain\n',
      '3,"a, b"\n4,x,extra\n',
    ]);
    const r = await collect(b, a, { key: ['id'] });
    expect(r.summary.counts).toEqual({ added: 1, removed: 0, modified: 1 });
    const m = r.changes.find((c) => c.kind === 'modified')!;
    expect(m).toMatchObject({
      key: '1',
      line: { before: 2, after: 2 },
      after: { id: '1', text: 'multi\nline "changed"' },
    });
    const added = r.changes.find((c) => c.kind === 'added')!;
    expect(added).toMatchObject({ raw: true, after: '4,x,extra', line: { after: 6 } });
    expect(r.warnings).toHaveLength(1);
  });

  it('TSV and a changed CSV header', async () => {
    const b = sideFromPieces('t.tsv', 'tsv', ['a\tb\n', '1\t2\n']);
    const a = sideFromPieces('t.tsv', 'tsv', ['a\tc\n', '1\t2\n']);
    const r = await collect(b, a);
    expect(r.warnings[0]!.message).toContain('header changed');
    expect(r.changes[0]!.fields?.map((f) => [f.path, f.kind])).toEqual([
      ['b', 'removed'],
      ['c', 'added'],
    ]);
  });

  it('parquet, row by row across row groups', async () => {
    const mk = (ids: number[], text: (i: number) => string) =>
      new Uint8Array(
        parquetWriteBuffer({
          columnData: [
            { name: 'id', data: ids, type: 'INT32' },
            { name: 'text', data: ids.map(text), type: 'STRING' },
          ],
          rowGroupSize: 100,
        }),
      );
    const ids = Array.from({ length: 1000 }, (_, i) => i);
    const b = sideFromBytes(
      'p.parquet',
      mk(ids, (i) => `row ${i}`),
      { avgSize: 1024 },
    );
    const after = ids.filter((i) => i !== 500);
    const a = sideFromBytes(
      'p.parquet',
      mk(after, (i) => (i === 42 ? 'row forty-two' : `row ${i}`)),
      { avgSize: 1024 },
    );
    const r = await collect(b, a, { key: ['id'] });
    expect(r.summary.counts).toEqual({ added: 0, removed: 1, modified: 1 });
    expect(r.changes[0]).toMatchObject({ kind: 'modified', key: 42, index: { before: 42, after: 42 } });
    expect(r.changes[1]).toMatchObject({ kind: 'removed', key: 500, before: { id: 500, text: 'row 500' } });
    const u = await collect(b, a);
    expect(u.summary.counts).toEqual({ added: 0, removed: 1, modified: 1 });
  });

  it('JSON arrays, text lines, binary files, added and removed files', async () => {
    const j = await collect(
      sideFromBytes('a.json', JSON.stringify([{ a: 1, b: 2 }, { a: 2 }])),
      sideFromBytes('a.json', JSON.stringify([{ b: 2, a: 1 }, { a: 3 }, { a: 4 }], null, 2)),
    );
    expect(j.summary.counts).toEqual({ added: 1, removed: 0, modified: 1 });
    expect(j.changes[0]).toMatchObject({ kind: 'modified', index: { before: 1, after: 1 } });
    const t = await collect(
      sideFromBytes('r.txt', 'one\ntwo\nthree\n'),
      sideFromBytes('r.txt', 'one\ntwo too\nthree\n'),
    );
    expect(t.changes[0]).toMatchObject({
      kind: 'modified',
      before: 'two',
      after: 'two too',
      line: { before: 2 },
    });
    const bin = await collect(sideFromBytes('x.bin', 'abc'), sideFromBytes('x.bin', 'abcd'));
    expect(bin.changes).toEqual([
      {
        type: 'change',
        path: 'x.bin',
        kind: 'modified',
        binary: true,
        before: { size: 3 },
        after: { size: 4 },
      },
    ]);
    // In the human form, the change line says it all: no example counts for a file without examples.
    expect(bin.events.map(createHumanRenderer({ color: false })).join('')).toBe(
      'diff --strata a/x.bin b/x.bin\nBinary file modified: a/x.bin (3 bytes) → b/x.bin (4 bytes)\n',
    );
    const added = await collect(null, sideFromBytes('n.jsonl', jsonl(rows(3))));
    expect(added.summary).toMatchObject({ status: 'added', counts: { added: 3, removed: 0, modified: 0 } });
    const removed = await collect(sideFromBytes('n.jsonl', jsonl(rows(3))), null);
    expect(removed.summary).toMatchObject({
      status: 'removed',
      counts: { added: 0, removed: 3, modified: 0 },
    });
  });
});

describe('order of changes', () => {
  it('in file order: a removed example after the modified one before it in its gap, before the added ones', async () => {
    const before = '{"id":1,"s":10}\n{"id":2,"s":20}\n{"id":3,"s":30}\n{"id":4,"s":40}\n';
    const after = '{"id":1,"s":10}\n{"id":2,"s":25}\n{"id":4,"s":40}\n{"id":5,"s":50}\n';
    const shape = (r: Awaited<ReturnType<typeof collect>>) =>
      r.changes.map((c) => [c.kind, c.line?.before ?? null, c.line?.after ?? null]);
    for (const key of [undefined, ['id']]) {
      const r = await collect(
        sideFromBytes('t.jsonl', before),
        sideFromBytes('t.jsonl', after),
        key ? { key } : {},
      );
      expect(shape(r)).toEqual([
        ['modified', 2, 2],
        ['removed', 3, null],
        ['added', null, 4],
      ]);
    }
    const csv = await collect(
      sideFromBytes('t.csv', 'id,s\n1,10\n2,20\n3,30\n4,40\n'),
      sideFromBytes('t.csv', 'id,s\n1,10\n2,25\n4,40\n5,50\n'),
    );
    expect(shape(csv)).toEqual([
      ['modified', 3, 3],
      ['removed', 4, null],
      ['added', null, 5],
    ]);
  });
});

describe('output', () => {
  const pair = async () =>
    collect(
      sideFromBytes(
        'd/x.jsonl',
        jsonl([
          { id: 1, q: 'the cat sat' },
          { id: 2, q: 'gone' },
        ]),
      ),
      sideFromBytes(
        'd/x.jsonl',
        jsonl([
          { id: 1, q: 'the dog sat' },
          { id: 3, q: 'new' },
        ]),
      ),
      { key: ['id'] },
    );

  it('JSON Lines: change and summary records as the issue specifies', async () => {
    const r = await pair();
    const lines = r.events.map((e) => JSON.parse(renderJsonLine(e)) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({
      type: 'change',
      path: 'd/x.jsonl',
      kind: 'modified',
      key: 1,
      before: { id: 1, q: 'the cat sat' },
      after: { id: 1, q: 'the dog sat' },
      fields: [{ path: 'q', kind: 'changed', before: 'the cat sat', after: 'the dog sat' }],
    });
    expect(lines.map((l) => l.kind ?? l.type)).toEqual(['modified', 'removed', 'added', 'summary']);
    expect(lines.at(-1)).toMatchObject({ type: 'summary', counts: { added: 1, removed: 1, modified: 1 } });
    expect(renderJsonLine({ type: 'change', path: 'p', kind: 'added', after: { n: 2n ** 70n } })).toBe(
      '{"type":"change","path":"p","kind":"added","after":{"n":"1180591620717411303424"}}',
    );
  });

  it('human form with and without colour, --stat, --name-only', async () => {
    const r = await pair();
    const plain = createHumanRenderer({ color: false });
    const text = r.events.map(plain).join('');
    expect(text).toContain('diff --strata a/d/x.jsonl b/d/x.jsonl\n');
    expect(text).toContain('~ q: the [-cat-]{+dog+} sat');
    expect(text).toContain('- {"id":2,"q":"gone"} (line 2, key 2)');
    expect(text).not.toContain('\x1b[');
    const coloured = r.events.map(createHumanRenderer({ color: true })).join('');
    expect(coloured).toContain('\x1b[7;31mcat\x1b[0m');
    expect(coloured).toContain('\x1b[32m+ {"id":3,"q":"new"}\x1b[0m');
    const stat = renderStat([r.summary], { color: false });
    expect(stat).toBe(
      ' d/x.jsonl | +1 -1 ~1 | 47 B → 46 B\n 1 file changed, 1 added, 1 removed, 1 modified\n',
    );
    expect(renderNameOnly(r.summary)).toBe('d/x.jsonl\n');
  });

  it('a file whose bytes changed but not its examples (reordered, keys reordered) is shown, with a note', async () => {
    const rows = [
      { id: 1, q: 'a' },
      { id: 2, q: 'b' },
    ];
    const r = await collect(
      sideFromBytes('d/x.jsonl', Buffer.from(jsonl(rows))),
      sideFromBytes('d/x.jsonl', Buffer.from(jsonl([{ q: 'b', id: 2 }, rows[0]]))),
      { key: ['id'] },
    );
    expect(r.summary).toMatchObject({ status: 'unchanged', identical: false });
    expect(r.changes).toEqual([]);
    const note = 'same examples, bytes differ: order or formatting only';
    expect(renderStat([r.summary], { color: false })).toBe(
      ` d/x.jsonl | +0 -0 ~0 | 34 B → 34 B (${note})\n 1 file changed, 0 added, 0 removed, 0 modified\n`,
    );
    expect(r.events.map(createHumanRenderer({ color: false })).join('')).toBe(
      `diff --strata a/d/x.jsonl b/d/x.jsonl\n@@ jsonl: 0 added, 0 removed, 0 modified; ${note} @@\n`,
    );
    expect(renderNameOnly(r.summary)).toBe('d/x.jsonl\n');
    // The same bytes (every piece cancels) are not a change at all.
    const same = await collect(
      sideFromBytes('d/x.jsonl', Buffer.from(jsonl(rows))),
      sideFromBytes('d/x.jsonl', Buffer.from(jsonl(rows))),
    );
    expect(same.summary.identical).toBe(true);
    expect(renderStat([same.summary], { color: false })).toBe('');
    expect(same.events.map(createHumanRenderer({ color: false })).join('')).toBe('');
  });

  it('terminal escapes and bidi overrides in data, keys, paths and parse errors are shown, not obeyed', async () => {
    const evil = '\x1b]0;pwned\x07\x1b[2J\u202ehidden\x9b31m';
    const path = 'd/\x1b[31mx.jsonl';
    const r = await collect(
      sideFromBytes(
        path,
        Buffer.from(
          jsonl([
            { id: 1, q: 'plain' },
            { id: 2, q: 'gone' },
          ]),
        ),
      ),
      sideFromBytes(
        path,
        Buffer.from(
          jsonl([
            { id: 1, q: `plain ${evil}` },
            { id: 3, [`k${evil}`]: evil },
          ]) + `{"bad": "${evil}\n`,
        ),
      ),
      { key: ['id'] },
    );
    const text = r.events.map(createHumanRenderer({ color: false })).join('');
    const stat = renderStat([r.summary], { color: false }) + renderNameOnly(r.summary);
    for (const out of [text, stat]) {
      // eslint-disable-next-line no-control-regex
      expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    }
    expect(text).toContain('\\u001b]0;pwned\\u0007');
    expect(text).toContain('\\u202ehidden\\u009b31m');
    expect(text).toContain('diff --strata a/d/\\u001b[31mx.jsonl');
    // The coloured form has only its own escapes: every ESC starts one of the renderer's SGR codes.
    const coloured = r.events.map(createHumanRenderer({ color: true })).join('');
    // eslint-disable-next-line no-control-regex
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });
});

describe('a file on one side only', () => {
  const body = '{"id":1,"t":"x","m":1}\n\n{"id":2,"t":"y"}\nnot json\n{"id":3}\n';

  it('without a key: every example in file order, malformed ones raw and warned about and counted', async () => {
    const side = sideFromBytes('a.jsonl', body, { avgSize: 64 });
    const added = await collect(null, side, { ignoreFields: ['m'] });
    expect(added.changes).toEqual([
      { type: 'change', path: 'a.jsonl', kind: 'added', after: { id: 1, t: 'x' }, line: { after: 1 } },
      { type: 'change', path: 'a.jsonl', kind: 'added', after: { id: 2, t: 'y' }, line: { after: 3 } },
      { type: 'change', path: 'a.jsonl', kind: 'added', after: 'not json', line: { after: 4 }, raw: true },
      { type: 'change', path: 'a.jsonl', kind: 'added', after: { id: 3 }, line: { after: 5 } },
    ]);
    expect(added.warnings).toEqual([
      expect.objectContaining({
        side: 'after',
        line: 4,
        message: expect.stringContaining('after: not JSON'),
      }),
    ]);
    expect(added.summary).toMatchObject({ status: 'added', counts: { added: 4 }, warnings: 1 });
    // Counting only (--stat): the same counts and warnings, no change shown; a limit shows the first ones.
    const removed = await collect(side, null, { limit: 0 });
    expect(removed.changes).toEqual([]);
    expect(removed.summary).toMatchObject({ status: 'removed', counts: { removed: 4 }, warnings: 1 });
    const first = await collect(side, null, { limit: 1 });
    expect(first.changes.map((c) => c.before)).toEqual([{ id: 1, t: 'x', m: 1 }]);
    expect(first.summary.counts.removed).toBe(4);
    // CSV (a ragged row) and JSON arrays (positions as indexes) the same way.
    const csv = await collect(null, sideFromBytes('b.csv', 'id,name\n1,"a, b"\n2,c,extra\n'), { limit: 0 });
    expect(csv.summary).toMatchObject({ counts: { added: 2 }, warnings: 1 });
    const json = await collect(sideFromBytes('d.json', '[{"a":1},{"a":2}]'), null);
    expect(json.changes.map((c) => c.index)).toEqual([{ before: 0 }, { before: 1 }]);
  });

  it('with a key: duplicates reported, counted alike whether changes are shown or only counted', async () => {
    const keyed = '{"id":1,"t":"x"}\n{"id":2}\n{"id":1,"t":"y"}\n{"t":"nokey"}\nbad\n{"id":1,"t":"x"}\n';
    const side = sideFromBytes('k.jsonl', keyed);
    const shown = await collect(null, side, { key: ['id'] });
    const counted = await collect(null, side, { key: ['id'], limit: 0 });
    for (const r of [shown, counted]) {
      expect(r.summary).toMatchObject({
        counts: { added: 6, removed: 0, modified: 0 },
        warnings: 3,
        duplicateKeys: { before: 0, after: 1, keys: [1] },
      });
    }
    expect(shown.changes.filter((c) => c.duplicate).map((c) => c.line?.after)).toEqual([1, 3, 6]);
    expect(shown.changes.map((c) => c.key)).toEqual([1, 2, 1, undefined, undefined, 1]);
    expect(shown.warnings.map((w) => w.message)).toEqual([
      'duplicate key 1: 0 before, 3 after (not merged)',
      '1 example(s) without the key field(s) id: matched by content',
      expect.stringContaining('after: not JSON'),
    ]);
    expect(counted.changes).toEqual([]);
    // Streamed up to a limit: the first changes in file order, every example counted.
    const two = await collect(side, null, { key: ['id'], limit: 2 });
    expect(two.changes.map((c) => [c.key, c.duplicate])).toEqual([
      [1, true],
      [2, undefined],
    ]);
    expect(two.summary.counts.removed).toBe(6);
  });
});
