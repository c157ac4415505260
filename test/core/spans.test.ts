/**
 * Span-coded versions (docs/FORMAT.md, "Span-coded versions"), end to end through the built CLI
 * (`npm run build` first): a 1% in-place edit or a 10% deletion of a chat JSONL stores about the changed
 * examples, every version restores byte for byte (here, after a push and in a clone), content identity
 * (`content`, status, add) ignores the layout, and fsck follows spans. Plus the reader of codec-2
 * delta-coded chunks, which older repositories hold.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { add, commit, fsck, Repository } from '../../src/core/index.js';
import { readFile } from '../../src/core/object-reader.js';
import { CODEC_DELTA, decode } from '../../src/storage/codec.js';
import { hashBytes } from '../../src/storage/hash.js';
import { CLI, flipByte, ok, strata, tempDir } from './helpers.js';
import { rng } from '../helpers/prng.js';

const TARGET = 20 << 20;
const WORDS =
  'the of and a to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part'.split(
    ' ',
  );

function sentence(r: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(r() * WORDS.length)]!);
  return out.join(' ') + '.';
}

function chatLines(bytes: number): string[] {
  const r = rng(7);
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = JSON.stringify({
      id: `ex-${String(i).padStart(8, '0')}`,
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: sentence(r, 10 + Math.floor(r() * 40)) },
        { role: 'assistant', content: sentence(r, 40 + Math.floor(r() * 160)) },
      ],
      meta: { quality: Math.round(r() * 100) / 100, revision: 0 },
    });
    lines.push(line);
    size += line.length + 1;
  }
  return lines;
}

/** 1% of the lines, at scattered positions, edited in place (same length or not: here a changed revision). */
function edit(lines: string[]): string[] {
  const r = rng(99);
  const out = [...lines];
  const n = Math.max(1, Math.floor(lines.length / 100));
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(r() * lines.length));
  for (const i of picked) out[i] = out[i]!.replace('"revision":0', '"revision":1').replace(' the ', ' THE ');
  return out;
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
// What a version stores is its pack bytes, which the seeded data makes the same on every run (give or take
// a commit's timestamp). The SQLite index and its write-ahead log, whose size at any moment depends on
// checkpoints, are left out: with them the growth varied by tens of KB between runs.
const duBytes = (dir: string): number => {
  const r = spawnSync('du', ['-sb', join(dir, '.strata', 'packs')], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0]);
};
const catHash = (dir: string, rev: string): string => {
  const r = spawnSync(process.execPath, [CLI, 'cat', rev], {
    cwd: dir,
    maxBuffer: 1 << 30,
    env: { ...process.env, STRATA_NO_PROVENANCE: '1' },
  });
  if (r.status !== 0) throw new Error(`cat ${rev}: ${String(r.stderr)}`);
  return sha(r.stdout);
};

/** 10% of the lines deleted at scattered positions. */
function drop(lines: string[]): string[] {
  const r = rng(7);
  return lines.filter(() => r() >= 0.1);
}

let lines: string[];
let v0: string;
let v1: string;
let v2: string;
let v3: string;
let dir: string;
const grew: Record<string, number> = {};

const commitVersion = (name: string, text: string): void => {
  const before = duBytes(dir);
  writeFileSync(join(dir, 'chat.jsonl'), text);
  ok(dir, ['commit', '-a', '-m', name]);
  grew[name] = duBytes(dir) - before;
};

beforeAll(() => {
  lines = chatLines(TARGET);
  v0 = lines.join('\n') + '\n';
  const edited = edit(lines);
  v1 = edited.join('\n') + '\n';
  const dropped = drop(edited);
  v2 = dropped.join('\n') + '\n';
  // v3: v2 with another 1% edited — most of its chunks were span-coded in v2, never stored whole.
  const r = rng(5);
  v3 =
    dropped
      .map((l) => (r() < 0.01 ? l.replace(' a ', ' A ').replace('"revision":', '"revision":2') : l))
      .join('\n') + '\n';
  dir = tempDir('strata-spans-');
  ok(dir, ['init']);
  writeFileSync(join(dir, 'chat.jsonl'), v0);
  ok(dir, ['add', 'chat.jsonl']);
  ok(dir, ['commit', '-m', 'v0']);
  grew.v0 = duBytes(dir);
  commitVersion('v1', v1);
  commitVersion('v2', v2);
}, 180_000);

const manifestOf = (d: string, rev: string): { content?: string; segments?: unknown; spans?: unknown } => {
  const repo = Repository.open(d);
  try {
    const h = ok(d, ['rev-parse', `${rev}:chat.jsonl`]).trim();
    return repo.objects.manifest(h);
  } finally {
    repo.close();
  }
};

describe('span-coded versions', () => {
  it('a 1% in-place edit stores under 2% of what v0 stored; a 10% deletion under 1%', () => {
    expect(grew.v1!).toBeLessThan(0.02 * grew.v0!);
    expect(grew.v2!).toBeLessThan(0.01 * grew.v0!);
    expect(manifestOf(dir, 'HEAD~1').content).toMatch(/^[0-9a-f]{64}$/);
    expect(manifestOf(dir, 'HEAD').content).toMatch(/^[0-9a-f]{64}$/);
  });

  it('every version restores byte for byte and fsck is clean', () => {
    expect(catHash(dir, 'HEAD~2:chat.jsonl')).toBe(sha(v0));
    expect(catHash(dir, 'HEAD~1:chat.jsonl')).toBe(sha(v1));
    expect(catHash(dir, 'HEAD:chat.jsonl')).toBe(sha(v2));
    const f = strata(dir, ['fsck', '--json']);
    expect(f.code).toBe(0);
    expect(JSON.parse(f.stdout.split('\n')[0]!).problems).toEqual([]);
  });

  it('content identity ignores the layout: `content` is the manifest a fresh repository stores', () => {
    const fresh = tempDir('strata-spans-fresh-');
    ok(fresh, ['init']);
    writeFileSync(join(fresh, 'chat.jsonl'), v1);
    ok(fresh, ['add', 'chat.jsonl']);
    ok(fresh, ['commit', '-m', 'v1']);
    const direct = ok(fresh, ['rev-parse', 'HEAD:chat.jsonl']).trim();
    expect(manifestOf(fresh, 'HEAD').content).toBeUndefined();
    expect(manifestOf(dir, 'HEAD~1').content).toBe(direct);
  });

  it('a touched but unchanged file is clean, and adding it again changes nothing', () => {
    const p = join(dir, 'chat.jsonl');
    const later = new Date(Date.now() + 5000);
    utimesSync(p, later, later);
    const s = JSON.parse(ok(dir, ['status', '--json']).split('\n')[0]!) as { unstaged: unknown[] };
    expect(s.unstaged).toEqual([]);
    const head = ok(dir, ['rev-parse', 'HEAD']).trim();
    ok(dir, ['add', 'chat.jsonl']);
    expect(strata(dir, ['commit', '-m', 'nothing']).code).not.toBe(0);
    expect(ok(dir, ['rev-parse', 'HEAD']).trim()).toBe(head);
  });

  it('an edit of a span-coded version is span-coded against it too', () => {
    commitVersion('v3', v3);
    expect(catHash(dir, 'HEAD:chat.jsonl')).toBe(sha(v3));
    expect(catHash(dir, 'HEAD~1:chat.jsonl')).toBe(sha(v2));
    expect(grew.v3!).toBeLessThan(0.02 * grew.v0!);
  });

  it('add --like stores a copy under a new name as a change to the tracked file', () => {
    const head = ok(dir, ['rev-parse', 'HEAD']).trim();
    const before = duBytes(dir);
    try {
      writeFileSync(join(dir, 'copy.jsonl'), v3.replace(' the ', ' teh '));
      ok(dir, ['add', '--like', 'chat.jsonl', 'copy.jsonl']);
      ok(dir, ['commit', '-m', 'copy']);
      expect(duBytes(dir) - before).toBeLessThan(0.02 * grew.v0!);
      expect(catHash(dir, 'HEAD:copy.jsonl')).toBe(sha(v3.replace(' the ', ' teh ')));
      expect(strata(dir, ['add', '--like', 'nope.jsonl', 'copy.jsonl']).code).not.toBe(0);
    } finally {
      // The next tests count commits back from HEAD.
      ok(dir, ['reset', '--hard', head]);
    }
  });

  it('push to a file:// remote and clone give identical bytes for every version', () => {
    const remote = `file://${join(tempDir('strata-spans-remote-'), 'r')}`;
    ok(dir, ['remote', 'add', 'origin', remote]);
    ok(dir, ['push']);
    const parent = tempDir('strata-spans-clone-');
    ok(parent, ['clone', '--all', remote, 'b']);
    const b = join(parent, 'b');
    expect(sha(readFileSync(join(b, 'chat.jsonl')))).toBe(sha(v3));
    expect(catHash(b, 'HEAD~1:chat.jsonl')).toBe(sha(v2));
    expect(catHash(b, 'HEAD~2:chat.jsonl')).toBe(sha(v1));
    expect(catHash(b, 'HEAD~3:chat.jsonl')).toBe(sha(v0));
    expect(strata(b, ['fsck']).code).toBe(0);
  });

  it('a flipped byte in an old chunk that a newer version spans into makes fsck name it', () => {
    // Runs last: it corrupts the repository.
    const repo = Repository.open(dir);
    let old = '';
    let packPath = '';
    let at = 0;
    try {
      const m = repo.objects.manifest(ok(dir, ['rev-parse', 'HEAD~2:chat.jsonl']).trim());
      const v0chunks = new Set([...repo.objects.spans(m)].map((s) => s[0]));
      const m2 = repo.objects.manifest(ok(dir, ['rev-parse', 'HEAD~1:chat.jsonl']).trim());
      old = [...repo.objects.spans(m2)].find((s) => v0chunks.has(s[0]) && s[1] > 0)![0];
      const loc = repo.db.findObject(old)!;
      packPath = join(dir, '.strata', 'packs', `${repo.db.packName(loc.pack)}.pack`);
      at = loc.offset + Math.floor(loc.length / 2);
    } finally {
      repo.close();
    }
    expect(statSync(packPath).size).toBeGreaterThan(at);
    flipByte(packPath, at);
    const r = strata(dir, ['fsck', '--json']);
    expect(r.code).toBe(7);
    const problems = JSON.parse(r.stdout.split('\n')[0]!).problems as { object?: string; message: string }[];
    expect(problems.some((p) => p.object === old)).toBe(true);
  });
});

describe('LocalPacks delta chunks (in process)', () => {
  it('assemble and verify; readEncodedFull gives a full copy; a missing base is named', () => {
    const d = tempDir('strata-delta-unit-');
    const repo = Repository.init(d);
    let bh = '';
    let h = '';
    try {
      const base = Buffer.from('0123456789'.repeat(100));
      const want = Buffer.concat([base.subarray(10, 510), Buffer.from('new bytes\n'), base.subarray(600)]);
      bh = repo.objects.putChunk(base);
      const packs = repo.objects.packs;
      h = hashBytes(want);
      packs.putDelta(h, want.length, [
        { kind: 'ref', base: bh, offset: 10, length: 500 },
        { kind: 'lit', data: Buffer.from('new bytes\n') },
        { kind: 'ref', base: bh, offset: 600, length: 400 },
      ]);
      repo.objects.flush();
      expect(repo.db.findObject(h)?.codec).toBe(CODEC_DELTA);
      expect(Buffer.from(packs.get(h).data).equals(want)).toBe(true);
      const full = packs.readEncodedFull(h);
      expect(full.codec).not.toBe(CODEC_DELTA);
      expect(Buffer.from(decode(full.codec, full.bytes)).equals(want)).toBe(true);
      expect(() =>
        packs.putDelta(hashBytes(Buffer.from('zz')), 2, [{ kind: 'ref', base: h, offset: 0, length: 2 }]),
      ).toThrow(/not a chunk stored in full/);
    } finally {
      repo.close();
    }
    // A fresh reader (no cached base), with the base's index row gone.
    const again = Repository.open(d);
    try {
      again.db.prep('DELETE FROM objects WHERE hash = ?').run(bh);
      expect(() => again.objects.packs.get(h)).toThrow(new RegExp(`${h}.*delta base ${bh} is missing`));
    } finally {
      again.close();
    }
  });
});

describe('span-coded versions, randomized (in process)', () => {
  it('twelve versions of random edits, deletions, insertions, duplicates and moves all read back exactly', async () => {
    const d = tempDir('strata-spans-random-');
    const repo = Repository.init(d, { chunking: { min: 256, avg: 1024, max: 4096 } });
    const r = rng(2024);
    const word = (): string => WORDS[Math.floor(r() * WORDS.length)]!;
    const line = (): string => {
      const n = 1 + Math.floor(r() * 30);
      return JSON.stringify({ id: Math.floor(r() * 1e9), text: Array.from({ length: n }, word).join(' ') });
    };
    let cur = Array.from({ length: 3000 }, line);
    const texts: string[] = [];
    const commits: string[] = [];
    try {
      for (let v = 0; v < 12; v++) {
        if (v > 0) {
          const next: string[] = [];
          for (const l of cur) {
            const x = r();
            if (x < 0.03) continue; // deleted
            if (x < 0.06) next.push(l.replace(/"text":"(\w+)/, '"text":"$1 edited'));
            else next.push(l);
            if (x > 0.98) next.push(line()); // inserted
            if (x > 0.995) next.push(cur[Math.floor(r() * cur.length)]!); // a duplicate of any line
            if (x > 0.4 && x < 0.41) next.push('short'); // under the minimum record size
          }
          // a block moved elsewhere
          const at = Math.floor(r() * next.length);
          const block = next.splice(at, 40);
          next.splice(Math.floor(r() * next.length), 0, ...block);
          cur = next;
        }
        const text = cur.join('\n') + (v % 3 === 2 ? '' : '\n');
        texts.push(text);
        writeFileSync(join(d, 'data.jsonl'), text);
        await add(repo, ['data.jsonl']);
        commits.push((await commit(repo, { message: `v${v}` })).commit);
      }
      let spanCoded = 0;
      for (const [v, c] of commits.entries()) {
        const entry = repo.objects.tree(repo.objects.commit(c).tree).entries[0]!;
        const m = repo.objects.manifest(entry.hash);
        if (m.content) spanCoded++;
        const parts: Uint8Array[] = [];
        for await (const b of readFile(repo.objects, m)) parts.push(Uint8Array.prototype.slice.call(b));
        expect(sha(Buffer.concat(parts)), `v${v}`).toBe(sha(texts[v]!));
      }
      expect(spanCoded).toBeGreaterThan(6);
      expect((await fsck(repo)).problems).toEqual([]);
    } finally {
      repo.close();
    }
  }, 120_000);
});
