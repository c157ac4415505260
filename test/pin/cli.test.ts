/**
 * The CLI (dist/cli/main.js, `npm run build` first): pin, cat PIN:PATH, export, verify, lock add/list/
 * verify/show --git-rev, and code provenance with a real git repository.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import { formatLock, Repository } from '../../src/core/index.js';
import { CLI, git, jsonl, ok, strata, tempDir, writeFiles } from './helpers.js';

const FILES: Record<string, string> = {
  'data/train.jsonl': jsonl('tr', 800, 1),
  'data/val.jsonl': jsonl('va', 60, 2),
  'README.txt': 'hello\n',
};

let dir: string;
let commit: string;
let pin: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('run npm run build first');
  dir = tempDir();
  writeFiles(dir, FILES);
  ok(dir, ['init']);
  ok(dir, ['add', '.']);
  ok(dir, ['commit', '-m', 'v1']);
  commit = ok(dir, ['rev-parse', 'HEAD']).trim();
  pin = ok(dir, ['pin', 'HEAD']).trim();
});

describe('pin, cat, export, verify', () => {
  it('pin prints LOCATION@<full hash>; cat PIN:PATH streams the file', () => {
    expect(pin).toBe(`${dir}@${commit}`);
    expect(ok(dir, ['pin', 'main', '--json'])).toContain(commit);
    const other = tempDir();
    expect(ok(other, ['cat', `${pin}:data/train.jsonl`])).toBe(FILES['data/train.jsonl']);
    expect(ok(dir, ['cat', `.@${commit}:data/val.jsonl`])).toBe(FILES['data/val.jsonl']);
    expect(ok(dir, ['cat', 'HEAD:README.txt'])).toBe('hello\n'); // REV:PATH still works
    const r = strata(other, ['cat', `${pin}:nope.jsonl`]);
    expect(r.code).toBe(EXIT_CODES.NOT_FOUND);
  });

  it('export materialises files, refuses a non-empty directory without --force, and refuses path escapes', () => {
    const out = join(tempDir(), 'out');
    ok(dir, ['export', pin, '--to', out]);
    for (const [p, c] of Object.entries(FILES)) expect(readFileSync(join(out, p), 'utf8')).toBe(c);
    expect(strata(dir, ['export', pin, '--to', out]).code).toBe(EXIT_CODES.ALREADY_EXISTS);
    ok(dir, ['export', 'HEAD', 'data/val.jsonl', '--to', out, '--force']); // a REV works too

    // A PATH with '..' is refused.
    const r1 = strata(dir, ['export', pin, '../x', '--to', join(tempDir(), 'o')]);
    expect(r1.code).toBe(EXIT_CODES.UNSAFE_PATH);
    // A symlinked directory inside DIR would send writes outside it: refused.
    const out2 = tempDir();
    const outside = tempDir();
    symlinkSync(outside, join(out2, 'data'));
    const r2 = strata(dir, ['export', pin, '--to', out2, '--force']);
    expect(r2.code).toBe(EXIT_CODES.UNSAFE_PATH);
    expect(existsSync(join(outside, 'train.jsonl'))).toBe(false);
  });

  it('export refuses a tree whose entry names would escape DIR (crafted objects)', () => {
    const repo = Repository.open(dir);
    let bad: string;
    try {
      const m = repo.objects.putManifest({ size: 0, format: 'binary' }, []);
      const tree = repo.objects.put({
        type: 'tree/v1',
        entries: [{ name: '..', kind: 'file', hash: m, size: 0 }],
      });
      bad = repo.objects.put({
        type: 'commit/v1',
        tree,
        parents: [],
        author: { name: 'x', email: 'x@x' },
        time: 0,
        tz: 0,
        message: 'evil',
        meta: {},
      });
      repo.objects.flush();
    } finally {
      repo.close();
    }
    const parent = tempDir();
    const r = strata(dir, ['export', `${dir}@${bad}`, '--to', join(parent, 'out')]);
    expect(r.code).toBe(EXIT_CODES.UNSAFE_PATH);
    expect(existsSync(join(parent, 'out', '..', ''))).toBe(true); // parent untouched apart from out/
  });

  it('verify passes on an exact copy and fails (VERIFY_FAILED) on one changed byte, extras, a missing file', () => {
    const out = join(tempDir(), 'v');
    ok(dir, ['export', pin, '--to', out]);
    expect(ok(dir, ['verify', out, '--pin', pin])).toContain('verified');
    const f = join(out, 'data/train.jsonl');
    const orig = readFileSync(f);
    const changed = Buffer.from(orig);
    const at = 123456 % orig.length;
    changed[at] = changed[at]! ^ 0x01;
    writeFileSync(f, changed);
    const r = strata(dir, ['verify', out, '--pin', pin, '--json']);
    expect(r.code).toBe(EXIT_CODES.VERIFY_FAILED);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.path === 'data/train.jsonl')).toMatchObject({
      status: 'changed',
      firstDifference: 123456 % orig.length,
    });
    expect(lines.find((l) => l.type === 'error')).toMatchObject({ error: { code: 'VERIFY_FAILED' } });
    writeFileSync(f, orig);
    ok(dir, ['verify', out, '--pin', pin]);
    writeFileSync(join(out, 'extra.txt'), 'x');
    expect(strata(dir, ['verify', out, '--pin', pin]).code).toBe(EXIT_CODES.VERIFY_FAILED);
    ok(dir, ['verify', out, '--pin', pin, '--allow-extra']);
    writeFileSync(f, orig.subarray(1));
    expect(strata(dir, ['verify', out, '--pin', pin, '--allow-extra']).code).toBe(EXIT_CODES.VERIFY_FAILED);
  });
});

describe('through a directory remote', () => {
  it('pin --remote fails before push; after it, cat/export/verify/lock verify read the remote', () => {
    const remoteDir = join(tempDir(), 'remote');
    mkdirSync(remoteDir);
    ok(dir, ['remote', 'add', 'disk', remoteDir]);
    const before = strata(dir, ['pin', 'HEAD', '--remote', 'disk']);
    expect(before.code).not.toBe(0);
    ok(dir, ['push', 'disk']);
    const rpin = ok(dir, ['pin', 'HEAD', '--remote', 'disk']).trim();
    expect(rpin).toBe(`${remoteDir}@${commit}`);
    const elsewhere = tempDir();
    expect(ok(elsewhere, ['cat', `file://${remoteDir}@${commit}:data/val.jsonl`])).toBe(
      FILES['data/val.jsonl'],
    );
    const out = join(tempDir(), 'r');
    ok(elsewhere, ['export', rpin, 'data', '--to', out]);
    ok(elsewhere, ['verify', out, '--pin', rpin, '--path', 'data']);
    expect(strata(elsewhere, ['verify', out, '--pin', rpin]).code).toBe(EXIT_CODES.VERIFY_FAILED); // README.txt missing
    ok(elsewhere, ['lock', 'add', 'train', rpin]);
    ok(elsewhere, ['lock', 'verify']);
  });
});

describe('lock files and code provenance (real git repository)', () => {
  it('lock add/list/verify, canonical JSON', () => {
    const code = tempDir();
    ok(code, ['lock', 'add', 'train', pin]);
    ok(code, ['lock', 'add', 'eval', `${dir}@${commit}`]);
    const text = readFileSync(join(code, 'strata.lock'), 'utf8');
    expect(text).toBe(formatLock({ version: 1, pins: { eval: pin, train: pin } }));
    expect(text.split('\n')[4]).toBe(`    "train": "${pin}"`);
    expect(ok(code, ['lock', 'list'])).toBe(`eval\t${pin}\ntrain\t${pin}\n`);
    expect(ok(code, ['lock', 'verify'])).toMatch(/ok +eval/);
    // A pin to a commit that is not there fails lock add, and lock verify reports it.
    const ghost = `${dir}@${'cd'.repeat(32)}`;
    expect(strata(code, ['lock', 'add', 'ghost', ghost]).code).toBe(EXIT_CODES.NOT_FOUND);
    writeFileSync(join(code, 'strata.lock'), formatLock({ version: 1, pins: { train: pin, ghost } }));
    const r = strata(code, ['lock', 'verify', '--json']);
    expect(r.code).toBe(EXIT_CODES.VERIFY_FAILED);
    expect(r.stdout).toContain('"ok":false');
  });

  it('lock verify catches a corrupted chunk in the pinned repository', () => {
    const d = tempDir();
    writeFiles(d, { 'x.jsonl': jsonl('x', 300, 3) });
    ok(d, ['init']);
    ok(d, ['add', '.']);
    ok(d, ['commit', '-m', 'x']);
    const p = ok(d, ['pin', 'HEAD']).trim();
    const code = tempDir();
    ok(code, ['lock', 'add', 'x', p]);
    ok(code, ['lock', 'verify']);
    // Flip a byte in the middle of the largest pack (chunk data).
    const packs = join(d, '.strata', 'packs');
    const pack = readdirSync(packs)
      .filter((n: string) => n.endsWith('.pack'))
      .map((n: string) => join(packs, n))
      .sort((a: string, b: string) => statSync(b).size - statSync(a).size)[0]!;
    const bytes = readFileSync(pack);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(pack, bytes);
    const r = strata(code, ['lock', 'verify', '--json']);
    expect(r.code).toBe(EXIT_CODES.VERIFY_FAILED);
    expect(r.stdout).toContain('INTEGRITY');
  });

  it('dataset commits record the code HEAD and dirty flag; lock show --git-rev answers what a run trained on', () => {
    const code = tempDir('strata-code-');
    git(code, ['init', '-q', '-b', 'main']);
    writeFiles(code, { 'train.py': 'print("v1")\n', '.gitignore': 'data/\n' });
    git(code, ['add', '.']);
    git(code, ['commit', '-q', '-m', 'code v1']);
    const head1 = git(code, ['rev-parse', 'HEAD']);

    // A dataset repository inside the code checkout (ignored by git), committed with provenance on.
    const data = join(code, 'data');
    mkdirSync(data);
    writeFiles(data, { 'train.jsonl': jsonl('p', 50, 1) });
    const env = { STRATA_NO_PROVENANCE: '' };
    const prov = (rev: string): { commit: string; dirty: boolean } => {
      const show = JSON.parse(ok(data, ['show', rev, '--json'], env)) as {
        meta: { code: { commit: string; dirty: boolean } };
      };
      return show.meta.code;
    };
    const run = (args: string[]): string => {
      const r = strata(data, args, env);
      if (r.code !== 0) throw new Error(r.stderr);
      return r.stdout;
    };
    run(['init']);
    run(['add', '.']);
    run(['commit', '-m', 'data v1']);
    expect(prov('HEAD')).toMatchObject({ commit: head1, dirty: false });

    // A tracked code file changes: the next dataset commit says dirty.
    writeFileSync(join(code, 'train.py'), 'print("v1 edited")\n');
    writeFiles(data, { 'train.jsonl': jsonl('p', 60, 1) });
    run(['add', '.']);
    run(['commit', '-m', 'data v2']);
    expect(prov('HEAD')).toMatchObject({ commit: head1, dirty: true });

    // The run at code commit 2 locks data v1; at code commit 3, data v2.
    const pinV1 = run(['pin', 'HEAD~1']).trim();
    const pinV2 = run(['pin', 'HEAD']).trim();
    git(code, ['checkout', '-q', '--', 'train.py']);
    ok(code, ['lock', 'add', 'train', pinV1]);
    git(code, ['add', 'strata.lock']);
    git(code, ['commit', '-q', '-m', 'train on data v1']);
    const head2 = git(code, ['rev-parse', 'HEAD']);
    ok(code, ['lock', 'add', 'train', pinV2]);
    git(code, ['commit', '-q', '-am', 'train on data v2']);
    git(code, ['tag', '-a', 'run-2', '-m', 'run 2']);
    // Uncommitted change to the lock file: lock show --git-rev ignores the working tree.
    ok(code, ['lock', 'add', 'scratch', pinV2]);

    const show = (rev: string, cwd = code, file = 'strata.lock'): Record<string, unknown> =>
      JSON.parse(ok(cwd, ['lock', 'show', '--git-rev', rev, '--file', file, '--json'])) as Record<
        string,
        unknown
      >;
    expect(show(head2)).toMatchObject({ gitCommit: head2, pins: { train: pinV1 } });
    expect(show(head2.slice(0, 8))).toMatchObject({ pins: { train: pinV1 } });
    expect(show('HEAD~1')).toMatchObject({ pins: { train: pinV1 } });
    expect(show('HEAD')).toMatchObject({ pins: { train: pinV2 } });
    expect(show('run-2')).toMatchObject({ pins: { train: pinV2 } });
    expect(show('main^')).toMatchObject({ pins: { train: pinV1 } });
    expect(Object.keys((show('HEAD') as { pins: object }).pins)).toEqual(['train']);
    expect(ok(code, ['lock', 'show', '--git-rev', 'HEAD~1'])).toContain(`train\t${pinV1}`);
    // Before the lock file existed, and a bad revision.
    expect(strata(code, ['lock', 'show', '--git-rev', head1]).code).toBe(EXIT_CODES.NOT_FOUND);
    expect(strata(code, ['lock', 'show', '--git-rev', 'nope']).code).toBe(EXIT_CODES.BAD_REVISION);
    // From a subdirectory, with --file pointing at the lock file.
    expect(show('HEAD~1', data, '../strata.lock')).toMatchObject({ pins: { train: pinV1 } });
  });
});
