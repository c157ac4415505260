import { SHARED_DATA } from '../helpers/shared-data.js';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ok, snapshot, strata, tempDir } from './helpers.js';

const DATA = SHARED_DATA;

/** A deterministic pseudo-random buffer (seeded, so two repos get the same bytes). */
function prng(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function populate(dir: string): void {
  copyFileSync(join(DATA, 'gsm8k-test.jsonl'), join(dir, 'gsm8k-test.jsonl'));
  mkdirSync(join(dir, 'data', 'prefs'), { recursive: true });
  writeFileSync(
    join(dir, 'data', 'prefs', 'hh-rlhf.jsonl'),
    gunzipSync(readFileSync(join(DATA, 'hh-rlhf-harmless-base-test.jsonl.gz'))),
  );
  writeFileSync(join(dir, 'data', 'random.bin'), prng(700_000, 42));
  writeFileSync(join(dir, 'data', 'empty.txt'), '');
  writeFileSync(join(dir, 'data', 'no-newline.jsonl'), '{"a":1}\n{"a":2}');
  mkdirSync(join(dir, 'données', '日本語'), { recursive: true });
  writeFileSync(join(dir, 'données', '日本語', 'émoji 🎉.csv'), 'id,text\n1,"multi\nline"\n2,plain\n');
}

describe('repository round trip (issue 2 acceptance)', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    ok(dir, ['init']);
    populate(dir);
  });

  it(
    'commits, branches, edits and switches back and forth restoring every byte',
    { timeout: 300_000 },
    () => {
      ok(dir, ['add', '.']);
      ok(dir, ['commit', '-m', 'v1']);
      const v1 = snapshot(dir);
      expect(v1.size).toBe(6);
      expect(strata(dir, ['status', '--json']).stdout).toContain('"unstaged":[]');

      ok(dir, ['switch', '-c', 'edit']);
      // Edit one example in place, append, delete a file, add a file.
      const p = join(dir, 'gsm8k-test.jsonl');
      const text = readFileSync(p, 'utf8').replace('Janet', 'JANET');
      writeFileSync(p, text);
      appendFileSync(join(dir, 'data', 'no-newline.jsonl'), '\n{"a":3}\n');
      ok(dir, ['rm', 'data/random.bin']);
      writeFileSync(join(dir, 'data', 'new.jsonl'), '{"new":true}\n');
      ok(dir, ['add', '.']);
      ok(dir, ['commit', '-m', 'v2']);
      const v2 = snapshot(dir);
      expect(v2.has('data/random.bin')).toBe(false);

      for (let i = 0; i < 2; i++) {
        ok(dir, ['switch', 'main']);
        expect(snapshot(dir)).toEqual(v1);
        ok(dir, ['switch', 'edit']);
        expect(snapshot(dir)).toEqual(v2);
      }
      const fsck = JSON.parse(ok(dir, ['fsck', '--json']));
      expect(fsck.problems).toEqual([]);
    },
  );

  it('two repositories committing the same files get the same tree hash', () => {
    const a = tempDir();
    const b = tempDir();
    for (const d of [a, b]) {
      ok(d, ['init']);
      populate(d);
      ok(d, ['add', '.']);
    }
    ok(a, ['commit', '-m', 'one message']);
    ok(b, ['commit', '-m', 'another message'], { STRATA_AUTHOR: 'Someone Else <else@example.com>' });
    const ta = ok(a, ['rev-parse', 'HEAD^{tree}']).trim();
    const tb = ok(b, ['rev-parse', 'HEAD^{tree}']).trim();
    expect(ta).toMatch(/^[0-9a-f]{64}$/);
    expect(ta).toBe(tb);
    expect(ok(a, ['rev-parse', 'HEAD']).trim()).not.toBe(ok(b, ['rev-parse', 'HEAD']).trim());
  });

  it('cat streams a file byte-identical, and chunk names are the BLAKE3 of their bytes', () => {
    const out = strata(dir, ['cat', 'main:gsm8k-test.jsonl']);
    expect(out.code).toBe(0);
    const want = readFileSync(join(DATA, 'gsm8k-test.jsonl'));
    expect(createHash('sha256').update(out.stdout).digest('hex')).toBe(
      createHash('sha256').update(want).digest('hex'),
    );
    expect(strata(dir, ['cat', 'main:nope.jsonl']).code).toBe(4);
    expect(existsSync(join(dir, '.strata', 'index.sqlite'))).toBe(true);
  });
});
