/**
 * End to end through the real CLI (node dist/cli/main.js; `npm run build` first): push to moto and to a
 * directory, clone, ls-remote, fetch/pull, two processes pushing at once, and no credential in any output.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto, type Moto } from '../helpers/moto.js';
import { expectSameFiles, jsonl, tmp, writeFiles } from './helpers.js';
import { CLI, runCli, type CliResult } from '../core/helpers.js';

// Fake keys: moto accepts any; none of them may ever show up in output.
const AWS = {
  AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE7777',
  AWS_SECRET_ACCESS_KEY: 'fakeSecretKeyDoNotPrint/0123456789abcdefXYZ',
  AWS_SESSION_TOKEN: 'fakeSessionTokenDoNotPrint42',
  AWS_REGION: 'us-east-1',
};
const SECRETS = Object.values(AWS).filter((v) => v.length > 12);

let moto: Moto;
const outputs: string[] = [];

type Run = CliResult;

async function strata(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await runCli(cwd, args, {
    ...AWS,
    AWS_ENDPOINT_URL: moto.endpoint,
    STRATA_NO_PROGRESS: '1',
    ...env,
  });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function ok(cwd: string, args: string[]): Promise<Run> {
  const r = await strata(cwd, args);
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
  // No credential in any output of any command of this file.
  const all = outputs.join('\n');
  for (const s of SECRETS) expect(all.includes(s), `secret ${s.slice(0, 6)}… in output`).toBe(false);
});

describe.each([
  ['s3', () => `s3://${moto.bucket}/cli-${Math.random().toString(36).slice(2, 8)}`],
  ['file', () => `file://${join(tmp('cli-remote'), 'r')}`],
])('strata CLI with a %s remote', (_n, makeUrl) => {
  it('remote add, push, clone, ls-remote, fetch and pull', async () => {
    const a = tmp('cli-a');
    const url = makeUrl();
    await ok(a, ['init']);
    writeFiles(a, { 'data/train.jsonl': jsonl(400_000, 21), 'notes.txt': 'hi\n' });
    await ok(a, ['add', '.']);
    await ok(a, ['commit', '-m', 'one']);
    await ok(a, ['remote', 'add', 'origin', url]);
    const list = await ok(a, ['remote', 'list', '-v', '--json']);
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'origin', url }]);
    const p = await ok(a, ['push', '--json']);
    expect(JSON.parse(p.stdout)).toMatchObject({ refs: [{ ref: 'refs/heads/main', status: 'created' }] });
    const again = await ok(a, ['push', 'origin', 'main', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ refs: [{ status: 'up-to-date' }], objects: 0 });

    const parent = tmp('cli-b');
    await ok(parent, ['clone', url, 'b']);
    const b = join(parent, 'b');
    expectSameFiles(a, b);
    expect((await ok(b, ['fsck'])).code).toBe(0);
    const ls = await ok(b, ['ls-remote']);
    expect(ls.stdout).toMatch(/^[0-9a-f]{64}\trefs\/heads\/main$/m);

    writeFiles(a, { 'notes.txt': 'hello\n', 'data/more.jsonl': jsonl(100_000, 22) });
    await ok(a, ['add', '.']);
    await ok(a, ['commit', '-m', 'two']);
    await ok(a, ['push']);
    const f = await ok(b, ['fetch', '--json']);
    expect(JSON.parse(f.stdout).refs).toHaveLength(1);
    const pl = await ok(b, ['pull', '--json']);
    expect(JSON.parse(pl.stdout)).toMatchObject({ status: 'fast-forward' });
    expectSameFiles(a, b);

    // Diverged: a clear non-fast-forward error (exit 5) that says how to merge.
    writeFiles(a, { 'notes.txt': 'from a\n' });
    await ok(a, ['commit', '-a', '-m', 'a3']);
    await ok(a, ['push']);
    writeFiles(b, { 'notes.txt': 'from b\n' });
    await ok(b, ['commit', '-a', '-m', 'b3']);
    const bad = await strata(b, ['pull']);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/NON_FAST_FORWARD/);
    expect(bad.stderr).toMatch(/merge/);
    const rejected = await strata(b, ['push', '--json']);
    expect(rejected.code).toBe(5);
    expect(JSON.parse(rejected.stdout)).toMatchObject({ type: 'error', error: { code: 'NON_FAST_FORWARD' } });
  });

  it('two processes pushing different commits to one branch at once: one wins, the other is refused', async () => {
    const url = makeUrl();
    const base = tmp('cli-base');
    await ok(base, ['init']);
    writeFiles(base, { 'a.txt': 'base\n' });
    await ok(base, ['add', '.']);
    await ok(base, ['commit', '-m', 'base']);
    await ok(base, ['remote', 'add', 'origin', url]);
    await ok(base, ['push']);
    const dirs = [join(tmp('cli-x'), 'x'), join(tmp('cli-y'), 'y')];
    for (const [i, d] of dirs.entries()) {
      await ok(resolve(d, '..'), ['clone', url, d]);
      writeFiles(d, { [`f${i}.jsonl`]: jsonl(300_000, 30 + i) });
      await ok(d, ['add', '.']);
      await ok(d, ['commit', '-m', `from ${i}`]);
    }
    const results = await Promise.all(dirs.map((d) => strata(d, ['push', '--json'])));
    expect(results.map((r) => r.code).sort()).toEqual([0, 5]);
    const loser = results.find((r) => r.code === 5)!;
    expect(JSON.parse(loser.stdout).error.code).toBe('NON_FAST_FORWARD');
    const check = join(tmp('cli-check'), 'c');
    await ok(resolve(check, '..'), ['clone', '--all', url, check]);
    const fsck = await ok(check, ['fsck', '--json']);
    expect(fsck.stdout).toMatch(/"problems":\[\]/);
  });
});

describe('errors never show credentials', () => {
  it('a push to a missing bucket fails cleanly', async () => {
    const a = tmp('cli-err');
    await ok(a, ['init']);
    writeFiles(a, { 'x.txt': 'x\n' });
    await ok(a, ['add', '.']);
    await ok(a, ['commit', '-m', 'x']);
    await ok(a, ['remote', 'add', 'origin', 's3://no-such-bucket-here/p']);
    const r = await strata(a, ['push', '--json']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/"type":"error"/);
    const cred = await strata(a, [
      'remote',
      'add',
      'x',
      `s3://${AWS.AWS_ACCESS_KEY_ID}:${AWS.AWS_SECRET_ACCESS_KEY}@bucket/p`,
    ]);
    expect(cred.code).toBe(2);
  });
});
