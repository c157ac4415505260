/** Shared by the gc and corruption tests: repositories built through the CLI, and direct looks at the index. */
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CLI, ok, strata } from '../core/helpers.js';
import { rng } from '../helpers/prng.js';

export const ENV = { STRATA_AUTHOR: 'T <t@example.com>', STRATA_NO_PROVENANCE: '1', NO_COLOR: '1' };

/** Deterministic random bytes (incompressible, so every chunk is distinct). */
export function bytes(n: number, seed: number): Buffer {
  const rnd = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Deterministic JSONL (a record format: re-adding an edited version stores delta-coded chunks). */
export function jsonl(n: number, seed: number, edit = -1): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    const v = i % 97 === edit ? 'EDITED' : `v${seed}`;
    out += `{"id":${i},"text":"example ${i} ${v} ${'abcdefghij'.repeat(3 + (i % 11))}"}\n`;
  }
  return out;
}

export function write(dir: string, name: string, data: string | Uint8Array): void {
  writeFileSync(join(dir, name), data);
}

export const rev = (dir: string, spec: string): string => ok(dir, ['rev-parse', spec]).trim();

/** A file's exact bytes through `cat` (which verifies every chunk); throws on a non-zero exit. */
export function catRaw(dir: string, spec: string): Buffer {
  const r = spawnSync(process.execPath, [CLI, 'cat', spec], {
    cwd: dir,
    env: { ...process.env, ...ENV },
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`strata cat ${spec} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Every file of a revision read through `cat`: path -> SHA-256 of its bytes. */
export function catAll(dir: string, commit: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of ok(dir, ['ls-tree', '-r', commit, '--json']).trim().split('\n')) {
    if (!l) continue;
    const e = JSON.parse(l) as { path: string; kind: string };
    if (e.kind === 'file') out.set(e.path, sha(catRaw(dir, `${commit}:${e.path}`)));
  }
  return out;
}

export function fsckJson(dir: string): { code: number; report: FsckJson } {
  const r = strata(dir, ['fsck', '--json']);
  const line = r.stdout.trim().split('\n')[0] ?? '{}';
  return { code: r.code, report: JSON.parse(line) as FsckJson };
}

export interface FsckJson {
  objects: number;
  packs: number;
  problems: { code: string; message: string; object?: string; pack?: string }[];
  danglingFiles: string[];
}

export function expectClean(dir: string): void {
  const f = fsckJson(dir);
  expect(f.report.problems, JSON.stringify(f.report.problems)).toEqual([]);
  expect(f.code).toBe(0);
}

export const packFiles = (dir: string): string[] =>
  readdirSync(join(dir, '.strata', 'packs'))
    .filter((f) => f.endsWith('.pack'))
    .sort();

/** A query against the repository's index.sqlite (read-only unless `write`). */
export function sql<T>(dir: string, q: string, params: unknown[] = [], write = false): T[] {
  const db = new Database(join(dir, '.strata', 'index.sqlite'), { readonly: !write, fileMustExist: true });
  try {
    const st = db.prepare(q);
    if (write) {
      st.run(...params);
      return [];
    }
    return st.all(...params) as T[];
  } finally {
    db.close();
  }
}

export const hasObject = (dir: string, hash: string): boolean =>
  sql(dir, 'SELECT 1 FROM objects WHERE hash = ?', [hash]).length > 0;

/** Reads a manifest's spans through a tiny script using the library (no CLI command prints them). */
export function spansOf(dir: string, manifest: string): string[] {
  const script = `
    import { Repository } from ${JSON.stringify(join(CLI, '..', '..', 'core', 'index.js'))};
    const repo = Repository.open(${JSON.stringify(dir)});
    const m = repo.objects.manifest(${JSON.stringify(manifest)});
    process.stdout.write(JSON.stringify([...repo.objects.spans(m)].map((s) => s[0])));
    repo.close();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as string[];
}

/** Runs the CLI in the background; resolves with its exit code (null when killed) and output. */
export function spawnCli(
  cwd: string,
  args: string[],
  opts: { env?: Record<string, string>; killAfterMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...ENV, ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t =
      opts.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
    child.on('close', (code) => {
      if (t) clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
