/** Helpers for the remote tests: small repositories with deterministic data, and directory comparison. */
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { add, commit, Repository } from '../../src/core/index.js';

export const tmp = (label = 'remote'): string => mkdtempSync(join(tmpdir(), `strata-${label}-`));

/** Deterministic JSONL of about `bytes` bytes (seeded, so two calls with one seed agree). */
export function jsonl(bytes: number, seed = 1): string {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'];
  const lines: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const text = Array.from(
      { length: 20 + Math.floor(rnd() * 40) },
      () => words[Math.floor(rnd() * 10)],
    ).join(' ');
    const line = JSON.stringify({ id: i, text, score: Math.round(rnd() * 1e6) }) + '\n';
    lines.push(line);
    n += line.length;
  }
  return lines.join('');
}

export function writeFiles(root: string, files: Record<string, string | Uint8Array>): void {
  for (const [p, data] of Object.entries(files)) {
    const abs = join(root, p);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, data);
  }
}

/** init (or open) a repository at `dir`, write files, add everything, commit. Returns the commit hash. */
export async function commitFiles(
  dir: string,
  files: Record<string, string | Uint8Array>,
  message = 'commit',
): Promise<string> {
  let repo: Repository;
  try {
    repo = Repository.open(dir);
  } catch {
    repo = Repository.init(dir);
  }
  try {
    writeFiles(dir, files);
    await add(repo, ['']);
    const r = await commit(repo, { message, author: { name: 't', email: 't@example.com' } });
    return r.commit;
  } finally {
    repo.close();
  }
}

/** Every regular file under dir except .strata/, as relative path → bytes. */
export function readTreeFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      if (name === '.strata') continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

export function expectSameFiles(a: string, b: string): void {
  const fa = readTreeFiles(a);
  const fb = readTreeFiles(b);
  const names = (m: Map<string, Buffer>): string[] => [...m.keys()].sort();
  if (JSON.stringify(names(fa)) !== JSON.stringify(names(fb)))
    throw new Error(`file lists differ:\n${names(fa).join(',')}\n${names(fb).join(',')}`);
  for (const [k, v] of fa) if (!v.equals(fb.get(k)!)) throw new Error(`${k} differs`);
}

/** Runs fn with an open repository and closes it. */
export async function withRepo<T>(dir: string, fn: (r: Repository) => Promise<T> | T): Promise<T> {
  const r = Repository.open(dir);
  try {
    return await fn(r);
  } finally {
    r.close();
  }
}
