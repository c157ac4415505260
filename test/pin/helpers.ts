import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { add, commit, Repository } from '../../src/core/index.js';

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export const tempDir = (prefix = 'strata-pin-'): string => mkdtempSync(join(tmpdir(), prefix));

/** Small chunks so that files span many chunks (and manifests many segments). */
export const SMALL_CHUNKS = { min: 64, avg: 256, max: 1024 };

import { rng } from '../helpers/prng.js';

export { rng };

/** A JSONL file of `n` examples with ids `${prefix}-${i}` and text of varying length. */
export function jsonl(prefix: string, n: number, seed = 1): string {
  const r = rng(seed);
  let s = '';
  for (let i = 0; i < n; i++) {
    const len = Math.floor(r() * 300);
    s += JSON.stringify({ id: `${prefix}-${i}`, text: 'x'.repeat(len), n: i }) + '\n';
  }
  return s;
}

export function writeFiles(root: string, files: Record<string, string | Buffer>): void {
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), c);
  }
}

/** A repository with `files` committed; returns the open repo and the commit hash. */
export async function makeRepo(
  files: Record<string, string | Buffer>,
  dir = tempDir(),
): Promise<{ repo: Repository; dir: string; commit: string }> {
  process.env.STRATA_AUTHOR = 'Test <test@example.com>';
  process.env.STRATA_NO_PROVENANCE = '1';
  const repo = Repository.init(dir, { chunking: SMALL_CHUNKS });
  writeFiles(dir, files);
  await add(repo, ['']);
  const c = await commit(repo, { message: 'data' });
  return { repo, dir, commit: c.commit };
}

export async function commitFiles(
  repo: Repository,
  files: Record<string, string | Buffer>,
  message = 'more',
): Promise<string> {
  writeFiles(repo.root, files);
  await add(repo, ['']);
  return (await commit(repo, { message })).commit;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function strata(cwd: string, args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      STRATA_AUTHOR: 'Test <test@example.com>',
      STRATA_NO_PROVENANCE: '1',
      NO_COLOR: '1',
      ...env,
    },
    maxBuffer: 1 << 30,
    timeout: 120_000, // a hung command fails the test instead of the whole run
  });
  if (r.error) throw new Error(`strata ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function ok(cwd: string, args: string[], env: Record<string, string> = {}): string {
  const r = strata(cwd, args, env);
  if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export function git(cwd: string, args: string[]): string {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'T',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 'T',
      GIT_COMMITTER_EMAIL: 't@example.com',
    },
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}
