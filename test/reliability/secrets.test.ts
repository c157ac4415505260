/**
 * No credential ever leaves strata: with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN set
 * to recognisable values, and credentials smuggled into remote URLs, endpoint URLs and pins, succeeding and
 * failing commands against moto and against a dead endpoint (with and without --json) never print them:
 * not in stdout, stderr, error `data`, nor in any file strata writes (reflog, config, index, lock files).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Store } from '../../src/storage/s3-store.js';
import { StrataError, redact } from '../../src/storage/errors.js';
import { startMoto, type Moto } from '../helpers/moto.js';
import { tmp, writeFiles } from '../remote/helpers.js';
import { CLI, runCli, type CliResult } from '../core/helpers.js';

// Each test spawns the CLI many times: generous on a loaded machine (no timing is asserted).
vi.setConfig({ testTimeout: 300_000 });

const SECRET = 'leakCanarySecret/Key+0123456789abcdef';
const TOKEN = 'leakCanarySessionToken_QWERTYUIOP_42';
const KEY_ID = 'AKIALEAKCANARY777777';
const URL_PASSWORD = 'leakCanaryUrlPassword9876';
const SECRETS = [SECRET, TOKEN, KEY_ID, URL_PASSWORD];
const ENV = {
  AWS_ACCESS_KEY_ID: KEY_ID,
  AWS_SECRET_ACCESS_KEY: SECRET,
  AWS_SESSION_TOKEN: TOKEN,
  AWS_REGION: 'us-east-1',
};

let moto: Moto;
let dead: string;
const outputs: { args: string[]; text: string }[] = [];
const dirs: string[] = [];

type Run = CliResult;

async function run(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await runCli(cwd, args, {
    ...ENV,
    AWS_ENDPOINT_URL: moto.endpoint,
    STRATA_NO_PROGRESS: '1',
    STRATA_AUTHOR: 'T <t@example.com>',
    ...env,
  });
  outputs.push({ args, text: r.stdout + '\n' + r.stderr });
  return r;
}

/** Runs a command twice, plain and with --json; both must exit `code`; returns the JSON run. */
async function both(
  cwd: string,
  args: string[],
  code: number,
  env: Record<string, string> = {},
): Promise<Run> {
  const plain = await run(cwd, args, env);
  expect(plain.code, `${args.join(' ')}: ${plain.stderr}`).toBe(code);
  const json = await run(cwd, [...args, '--json'], env);
  expect(json.code, `${args.join(' ')} --json: ${json.stderr}`).toBe(code);
  if (code !== 0) {
    const err = JSON.parse(json.stdout.trim().split('\n').pop()!) as {
      type: string;
      error: { code: string };
    };
    expect(err.type).toBe('error');
  }
  return json;
}

function expectNoSecret(text: string, what: string): void {
  for (const s of SECRETS) expect(text.includes(s), `${what} contains ${s.slice(0, 12)}…`).toBe(false);
}

/** A TCP port that refuses connections (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  moto = await startMoto();
  dead = `http://127.0.0.1:${await deadPort()}`;
});

afterAll(async () => {
  await moto?.stop();
  expect(outputs.length).toBeGreaterThan(30);
  for (const o of outputs) expectNoSecret(o.text, `output of strata ${o.args.join(' ')}`);
  // Nor in anything strata wrote: reflogs, config and caches in index.sqlite, lock files, packs.
  for (const d of dirs) {
    const walk = (p: string): void => {
      if (statSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
      else {
        const b = readFileSync(p);
        for (const s of SECRETS) expect(b.includes(s), `${p} contains a secret`).toBe(false);
      }
    };
    if (existsSync(d)) walk(d);
  }
});

describe('secrets never appear in output', () => {
  it('succeeding S3 commands against moto, plain and --json', async () => {
    const a = tmp('sec-a');
    const parent = tmp('sec-b');
    dirs.push(a, parent);
    const url = `s3://${moto.bucket}/secrets-${Math.random().toString(36).slice(2, 8)}`;
    await run(a, ['init']);
    writeFiles(a, { 'data.jsonl': '{"a":1}\n{"a":2}\n' });
    await both(a, ['add', '.'], 0);
    await run(a, ['commit', '-m', 'one']);
    const added = await run(a, [
      'remote',
      'add',
      'origin',
      url,
      '--endpoint-url',
      moto.endpoint,
      '--region',
      'us-east-1',
    ]);
    expect(added.code, added.stderr).toBe(0);
    await both(a, ['remote', 'list', '-v'], 0);
    await both(a, ['push'], 0);
    await both(a, ['ls-remote'], 0);
    await both(a, ['fetch'], 0);
    await both(a, ['log'], 0);
    await run(parent, ['clone', url, 'b']);
    await run(parent, ['clone', url, 'c', '--json']);
    await both(join(parent, 'b'), ['pull'], 0);
    await both(join(parent, 'b'), ['status'], 0);
    await both(join(parent, 'b'), ['fsck'], 0);
    const head = (await run(a, ['rev-parse', 'HEAD'])).stdout.trim();
    expect((await run(parent, ['export', `${url}@${head}`, '--to', 'e1'])).code).toBe(0);
    expect((await run(parent, ['export', `${url}@${head}`, '--to', 'e2', '--json'])).code).toBe(0);
    expect((await run(parent, ['cat', `${url}@${head}:data.jsonl`])).stdout).toBe('{"a":1}\n{"a":2}\n');
    // Failing pin reads against moto: a commit the remote does not have.
    await both(parent, ['export', `${url}@${'c'.repeat(64)}`, '--to', 'e3'], 4);
  }, 300_000);

  it('failing S3 commands: missing bucket, dead endpoint, credentials in the endpoint URL', async () => {
    const a = tmp('sec-fail');
    dirs.push(a);
    await run(a, ['init']);
    writeFiles(a, { 'x.txt': 'x\n' });
    await run(a, ['add', '.']);
    await run(a, ['commit', '-m', 'x']);
    await run(a, ['remote', 'add', 'nobucket', 's3://no-such-bucket-strata/p']);
    const nb = await both(a, ['push', 'nobucket'], 4);
    expect(nb.stdout).toContain('NOT_FOUND');
    // A dead endpoint: a network error after retries (one here, STRATA_S3_RETRIES: the default five take
    // ~5 s a command).
    const fast = { STRATA_S3_RETRIES: '1' };
    await run(a, ['remote', 'add', 'dead', `s3://${moto.bucket}/p`, '--endpoint-url', dead]);
    const d = await both(a, ['push', 'dead'], 8, fast);
    expect(d.stdout).toContain('NETWORK');
    await both(a, ['ls-remote', 'dead'], 8, fast);
    await both(a, ['fetch', 'dead'], 8, fast);
    expect((await run(a, ['ls-remote', 'dead'], { STRATA_S3_RETRIES: 'x' })).code).toBe(2);
    // An endpoint carrying credentials in the environment.
    const credEndpoint = `http://${KEY_ID}:${URL_PASSWORD}@127.0.0.1:${new URL(dead).port}`;
    await both(a, ['ls-remote', `s3://${moto.bucket}/p`], 8, { ...fast, AWS_ENDPOINT_URL: credEndpoint });
    await both(a, ['push', 'nobucket'], 8, { ...fast, AWS_ENDPOINT_URL: credEndpoint });
    // ... or given to remote add: refused without being echoed, and not stored.
    const r = await both(
      a,
      ['remote', 'add', 'creds', `s3://${moto.bucket}/p`, '--endpoint-url', credEndpoint],
      2,
    );
    expect(r.stdout).toContain('BAD_INPUT');
    await both(a, ['remote', 'list', '-v'], 0);
  }, 300_000);

  it('credentials in remote URLs, query strings and pins are refused and never echoed', async () => {
    const a = tmp('sec-url');
    dirs.push(a);
    await run(a, ['init']);
    const h = 'a'.repeat(64);
    for (const url of [
      `s3://${KEY_ID}:${URL_PASSWORD}@${moto.bucket}/p`,
      `s3://${moto.bucket}:${URL_PASSWORD}/p`,
      `s3://${moto.bucket}/p?X-Amz-Security-Token=${TOKEN}&X-Amz-Signature=${URL_PASSWORD}`,
      `file://user:${URL_PASSWORD}@localhost/tmp/x`,
      `file://user:${URL_PASSWORD}@remotehost/tmp/x`,
    ]) {
      const add = await run(a, ['remote', 'add', 'x', url]);
      expect(add.code, add.stderr).not.toBe(0);
      await run(a, ['remote', 'add', 'x', url, '--json']);
      await run(a, ['ls-remote', url]);
      await run(a, ['ls-remote', url, '--json']);
      await run(a, ['clone', url, 'dst']);
      await run(a, ['clone', url, 'dst', '--json']);
      await run(a, ['export', `${url}@${h}`, '--to', 'out']);
      await run(a, ['export', `${url}@${h}`, '--to', 'out', '--json']);
      await run(a, ['cat', `${url}@${h}:f`]);
    }
    expect(existsSync(join(a, 'dst'))).toBe(false);
  }, 300_000);

  it('StrataError redacts its message and data (toJSON), and S3Store errors carry no credential', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, ENV);
    try {
      const e = new StrataError('IO', `failed https://u:${URL_PASSWORD}@h/x with ${SECRET}`, {
        url: `s3://b/p?X-Amz-Credential=${KEY_ID}%2F2026&X-Amz-Security-Token=${TOKEN}`,
        nested: [{ token: TOKEN }],
        n: 3,
      });
      const shown = JSON.stringify(e.toJSON()) + e.message + String(e.stack);
      for (const s of SECRETS) expect(shown).not.toContain(s);
      expect(e.data.n).toBe(3);
      expect(redact('plain text, s3://bucket/p@' + 'b'.repeat(64))).toBe(
        'plain text, s3://bucket/p@' + 'b'.repeat(64),
      );

      const store = new S3Store({
        bucket: moto.bucket,
        prefix: 'p',
        endpoint: dead,
        credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN },
      });
      let err: unknown;
      try {
        await store.get('strata.json');
      } catch (x) {
        err = x;
      }
      expect(err).toBeInstanceOf(StrataError);
      const se = err as StrataError;
      expect(se.code).toBe('NETWORK');
      const all = JSON.stringify(se.toJSON()) + se.message + String(se.stack);
      for (const s of SECRETS) expect(all).not.toContain(s);
      store.client.destroy();
    } finally {
      for (const k of Object.keys(ENV)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
