/**
 * Delta-coded chunks (docs/FORMAT.md, "Delta-coded chunks"), end to end through the built CLI
 * (`npm run build` first): a 1% in-place edit of a chat JSONL stores about 1% new bytes, both versions
 * restore byte for byte, object identity is unchanged, fsck follows bases, and remotes get full chunks.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Repository } from '../../src/core/index.js';
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
const duBytes = (dir: string): number => {
  const r = spawnSync('du', ['-sb', join(dir, '.strata')], { encoding: 'utf8' });
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

let v0: string;
let v1: string;
let dir: string;
let sizes: { before: number; after: number };

beforeAll(() => {
  const lines = chatLines(TARGET);
  v0 = lines.join('\n') + '\n';
  v1 = edit(lines).join('\n') + '\n';
  dir = tempDir('strata-delta-');
  ok(dir, ['init']);
  writeFileSync(join(dir, 'chat.jsonl'), v0);
  ok(dir, ['add', 'chat.jsonl']);
  ok(dir, ['commit', '-m', 'v0']);
  const before = duBytes(dir);
  writeFileSync(join(dir, 'chat.jsonl'), v1);
  ok(dir, ['commit', '-a', '-m', 'v1']);
  sizes = { before, after: duBytes(dir) };
}, 120_000);

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

describe('delta-coded chunks', () => {
  it('a 1% in-place edit grows the repository by less than 5% of the file', () => {
    const growth = sizes.after - sizes.before;
    expect(growth).toBeLessThan(0.05 * v1.length);
    const repo = Repository.open(dir);
    try {
      let deltas = 0;
      for (const loc of repo.db.iterateObjects()) if (loc.codec === CODEC_DELTA) deltas++;
      expect(deltas).toBeGreaterThan(0);
    } finally {
      repo.close();
    }
  });

  it('both versions restore byte for byte and fsck is clean', () => {
    expect(catHash(dir, 'HEAD~1:chat.jsonl')).toBe(sha(v0));
    expect(catHash(dir, 'HEAD:chat.jsonl')).toBe(sha(v1));
    const f = strata(dir, ['fsck', '--json']);
    expect(f.code).toBe(0);
    expect(JSON.parse(f.stdout.split('\n')[0]!).problems).toEqual([]);
  });

  it('object identity is unchanged: the tree equals that of a repository that committed v1 directly', () => {
    const fresh = tempDir('strata-delta-fresh-');
    ok(fresh, ['init']);
    writeFileSync(join(fresh, 'chat.jsonl'), v1);
    ok(fresh, ['add', 'chat.jsonl']);
    ok(fresh, ['commit', '-m', 'v1']);
    expect(ok(dir, ['rev-parse', 'HEAD^{tree}']).trim()).toBe(ok(fresh, ['rev-parse', 'HEAD^{tree}']).trim());
  });

  it('push to a file:// remote and clone give identical bytes (remotes get full chunks)', () => {
    const remote = `file://${join(tempDir('strata-delta-remote-'), 'r')}`;
    ok(dir, ['remote', 'add', 'origin', remote]);
    ok(dir, ['push']);
    const parent = tempDir('strata-delta-clone-');
    ok(parent, ['clone', '--all', remote, 'b']);
    const b = join(parent, 'b');
    expect(sha(readFileSync(join(b, 'chat.jsonl')))).toBe(sha(v1));
    expect(catHash(b, 'HEAD~1:chat.jsonl')).toBe(sha(v0));
    expect(strata(b, ['fsck']).code).toBe(0);
    const repo = Repository.open(b);
    try {
      for (const loc of repo.db.iterateObjects()) expect(loc.codec).not.toBe(CODEC_DELTA);
    } finally {
      repo.close();
    }
  });

  it('a flipped byte in a base chunk makes fsck name the base and the delta chunk', () => {
    // Runs last: it corrupts the repository.
    const repo = Repository.open(dir);
    let delta = '';
    let base = '';
    let packPath = '';
    let at = 0;
    try {
      for (const loc of repo.db.iterateObjects()) {
        if (loc.codec !== CODEC_DELTA) continue;
        const ref = repo.objects.packs.deltaOps(loc.hash)?.find((o) => o.kind === 'ref');
        if (ref?.kind !== 'ref') continue;
        delta = loc.hash;
        base = ref.base;
        break;
      }
      expect(delta).not.toBe('');
      const bl = repo.db.findObject(base)!;
      packPath = join(dir, '.strata', 'packs', `${repo.db.packName(bl.pack)}.pack`);
      at = bl.offset + Math.floor(bl.length / 2);
    } finally {
      repo.close();
    }
    expect(statSync(packPath).size).toBeGreaterThan(at);
    flipByte(packPath, at);
    const r = strata(dir, ['fsck', '--json']);
    expect(r.code).toBe(7);
    const problems = JSON.parse(r.stdout.split('\n')[0]!).problems as { object?: string; message: string }[];
    expect(problems.some((p) => p.object === base)).toBe(true);
    const d = problems.find((p) => p.object === delta);
    expect(d?.message).toContain(base);
  });
});
