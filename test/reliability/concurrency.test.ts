/**
 * Concurrency (issue 8): two processes committing in one repository, two processes pushing one branch
 * (directory remote and S3/moto), readers streaming a revision while a writer commits, and the repository
 * lock's behaviour when its owner died (SIGKILL, zombie, empty lock of an older version).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, commit, fsck, open, Repository, status, type Hash } from '../../src/core/index.js';
import { addRemote, clone, openRemoteStore, push, RemoteObjectReader } from '../../src/core/remote/index.js';
import { LocalObjectReader } from '../../src/core/object-reader.js';
import { CLI } from '../core/helpers.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type Moto } from '../helpers/moto.js';
import { SHARED_DATA } from '../helpers/shared-data.js';
import { CHILD_ENV, revisionContent, sha256 } from './crash-harness.js';

const root = join(tmpdir(), `strata-concurrency-${process.pid}`);
let moto: Moto;
let seq = 0;
const fresh = (label: string): string => {
  const d = join(root, `${label}-${seq++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

interface Run {
  code: number;
  stdout: string;
  out: Buffer;
  stderr: string;
  /** The error code from `strata: MESSAGE [CODE]`, if any. */
  error: string | null;
}

/** Runs the CLI asynchronously (so that several run at once). */
function run(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...CHILD_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        out: Buffer.concat(out),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr,
        error: /\[([A-Z_]+)\]\s*$/.exec(stderr.trim())?.[1] ?? null,
      }),
    );
  });
}

const dataset = (bytes: number, from = 0): Buffer => {
  const b = readFileSync(join(SHARED_DATA, 'gsm8k-train.jsonl'));
  const start = from ? b.indexOf(0x0a, from) + 1 : 0;
  return b.subarray(start, b.lastIndexOf(0x0a, start + bytes) + 1);
};

async function withRepo<T>(dir: string, fn: (r: Repository) => Promise<T> | T): Promise<T> {
  const r = Repository.open(dir);
  try {
    return await fn(r);
  } finally {
    r.close();
  }
}

async function commitAll(dir: string, message: string): Promise<Hash> {
  return withRepo(dir, async (r) => {
    await add(r, ['']);
    return (await commit(r, { message })).commit;
  });
}

/** A repository with one commit of ~1 MB. */
async function baseRepo(): Promise<string> {
  const dir = fresh('repo');
  Repository.init(dir).close();
  writeFileSync(join(dir, 'train.jsonl'), dataset(700_000));
  writeFileSync(
    join(dir, 'test.jsonl'),
    readFileSync(join(SHARED_DATA, 'gsm8k-test.jsonl')).subarray(0, 300_000),
  );
  await commitAll(dir, 'base');
  return dir;
}

/** First-parent history from HEAD (newest first). */
const history = (r: Repository): Hash[] => {
  const out: Hash[] = [];
  for (let c = r.db.getRef('refs/heads/main') as Hash | undefined; c; c = r.objects.commit(c).parents[0])
    out.push(c);
  return out;
};

/** fsck clean, SQLite integrity ok, the commit graph table agrees with the objects. */
async function consistent(dir: string): Promise<void> {
  await withRepo(dir, async (r) => {
    expect((await fsck(r)).problems).toEqual([]);
    expect(r.db.prep('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    const h = history(r);
    const rows = r.db.prep('SELECT COUNT(*) AS n FROM commits').get() as { n: number };
    expect(rows.n).toBe(h.length);
    const st = await status(r);
    expect(st.staged).toEqual([]);
    expect(st.unstaged).toEqual([]);
  });
}

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  moto = await startMoto();
  Object.assign(process.env, CHILD_ENV, {
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
  });
}, 60_000);

afterAll(async () => {
  await moto?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('two processes committing in one repository', () => {
  it(
    'one commits, the other waits its turn or fails with a clear "locked" CONFLICT; nothing is lost',
    { timeout: 180_000 },
    async () => {
      const dir = await baseRepo();
      let lockedOut = 0;
      for (let round = 0; round < 5; round++) {
        const before = await withRepo(dir, (r) => history(r));
        // Enough new data that the first one is still hashing while the second starts.
        appendFileSync(join(dir, 'train.jsonl'), dataset(600_000, 700_000 + round * 600_000));
        const [a, b] = await Promise.all([
          run(dir, ['commit', '-a', '--allow-empty', '-m', `A${round}`]),
          run(dir, ['commit', '-a', '--allow-empty', '-m', `B${round}`]),
        ]);
        const outcomes = [a, b];
        for (const o of outcomes) {
          // Success, or the lock's refusal: exit 5, CONFLICT, saying it is locked. Nothing else.
          if (o.code !== 0) {
            expect(o.code, o.stderr).toBe(5);
            expect(o.error).toBe('CONFLICT');
            expect(o.stderr).toMatch(/repository is locked by process \d+/);
          }
        }
        const winners = outcomes.filter((o) => o.code === 0).length;
        expect(winners).toBeGreaterThanOrEqual(1);
        // The loser re-runs and succeeds.
        for (const [o, m] of [
          [a, `A${round}`],
          [b, `B${round}`],
        ] as const) {
          if (o.code === 5) {
            lockedOut++;
            const again = await run(dir, ['commit', '-a', '--allow-empty', '-m', m]);
            expect(again.code, again.stderr).toBe(0);
          }
        }
        // Both commits are in one chain on top of the previous head: neither overwrote the other.
        await withRepo(dir, (r) => {
          const h = history(r);
          expect(h.slice(2)).toEqual(before);
          const msgs = h
            .slice(0, 2)
            .map((c) => r.objects.commit(c).message)
            .sort();
          expect(msgs).toEqual([`A${round}`, `B${round}`]);
        });
        await consistent(dir);
      }
      console.log(`[concurrency] commit: ${lockedOut} of 5 rounds had one process refused by the lock`);
      expect(lockedOut).toBeGreaterThan(0);
    },
  );

  it(
    'a lock left by a SIGKILLed commit, by a zombie, or by an old empty lock file is broken; a live or fresh one is not',
    { timeout: 60_000 },
    async () => {
      const dir = await baseRepo();
      const lock = join(dir, '.strata', 'lock');
      // A zombie: `sleep 0.2` exits, and its parent (by then exec'd into `sleep 6`) never reaps it.
      const zombie = await new Promise<number>((resolve) => {
        const sh = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 6'], {
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        sh.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
      });
      await new Promise((r) => setTimeout(r, 600));
      expect(readFileSync(`/proc/${zombie}/stat`, 'utf8')).toMatch(/\) Z /);
      writeFileSync(lock, `${zombie}\n`); // the format older versions wrote: still understood
      const r1 = await run(dir, ['commit', '--allow-empty', '-m', 'after zombie']);
      expect(r1.code, r1.stderr).toBe(0);

      // An empty lock (an older strata killed between creating and writing it): broken once it is old.
      writeFileSync(lock, '');
      const fresh = await run(dir, ['commit', '--allow-empty', '-m', 'x']);
      expect(fresh.error).toBe('CONFLICT');
      const old = (Date.now() - 60_000) / 1000;
      utimesSync(lock, old, old);
      const r2 = await run(dir, ['commit', '--allow-empty', '-m', 'after empty lock']);
      expect(r2.code, r2.stderr).toBe(0);

      // A live owner keeps it.
      writeFileSync(
        lock,
        JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'live', time: Date.now() }),
      );
      const r3 = await run(dir, ['commit', '--allow-empty', '-m', 'y']);
      expect(r3.code).toBe(5);
      expect(r3.stderr).toContain(`locked by process ${process.pid}`);
      rmSync(lock);

      // Four processes racing to break one dead owner's lock: never two holders at once (every commit
      // lands in one chain, each process either commits or is refused by the lock).
      writeFileSync(lock, JSON.stringify({ pid: zombie, host: hostname(), nonce: 'dead', time: Date.now() }));
      const before = await withRepo(dir, (r) => history(r));
      const racers = await Promise.all(
        [0, 1, 2, 3].map((i) => run(dir, ['commit', '--allow-empty', '-m', `racer ${i}`])),
      );
      for (const o of racers) if (o.code !== 0) expect(o.error, o.stderr).toBe('CONFLICT');
      const won = racers.filter((o) => o.code === 0).length;
      expect(won).toBeGreaterThanOrEqual(1);
      await withRepo(dir, (r) => expect(history(r).slice(won)).toEqual(before));
      await consistent(dir);
    },
  );
});

/** Two clones of one remote, each with its own new commit on main. */
async function twoClones(url: string, settings: { endpoint?: string }): Promise<[string, string]> {
  const src = fresh('src');
  Repository.init(src).close();
  writeFileSync(join(src, 'train.jsonl'), dataset(300_000));
  await commitAll(src, 'base');
  await withRepo(src, async (r) => {
    addRemote(r, 'origin', url, settings);
    await push(r, { remote: 'origin', refs: ['main'] });
  });
  const a = fresh('a');
  const b = fresh('b');
  await clone(url, a, { settings });
  await clone(url, b, { settings });
  writeFileSync(join(a, 'a.jsonl'), dataset(400_000, 400_000));
  writeFileSync(join(b, 'b.jsonl'), dataset(400_000, 900_000));
  await commitAll(a, 'from a');
  await commitAll(b, 'from b');
  return [a, b];
}

describe.each([
  ['directory remote', () => ({ url: fresh('remote'), settings: {} })],
  [
    'S3 remote (moto)',
    () => ({ url: `s3://${moto.bucket}/race-${seq++}`, settings: { endpoint: moto.endpoint } }),
  ],
])('two processes pushing one branch, %s', (_name, remote) => {
  it(
    'exactly one wins; the other gets NON_FAST_FORWARD; the remote branch names a complete commit',
    { timeout: 120_000 },
    async () => {
      for (let round = 0; round < 3; round++) {
        const { url, settings } = remote();
        const [a, b] = await twoClones(url, settings);
        const heads = await Promise.all(
          [a, b].map((d) => withRepo(d, (r) => r.db.getRef('refs/heads/main')!)),
        );
        const [ra, rb] = await Promise.all([
          run(a, ['push', 'origin', 'main']),
          run(b, ['push', 'origin', 'main']),
        ]);
        const results = [ra, rb];
        expect(results.filter((o) => o.code === 0).length, `${ra.stderr}\n${rb.stderr}`).toBe(1);
        const loser = results.find((o) => o.code !== 0)!;
        expect(loser.code, loser.stderr).toBe(5);
        expect(loser.error).toBe('NON_FAST_FORWARD');
        const winner = heads[results.findIndex((o) => o.code === 0)]!;
        // The remote: the winner's commit, every object of it readable and verified, every index
        // naming a pack that exists.
        const store = openRemoteStore(url, settings);
        try {
          const keys: string[] = [];
          for await (const k of store.list('packs/')) keys.push(k);
          for (const k of keys.filter((x) => x.endsWith('.idx')))
            expect(keys).toContain(k.replace(/\.idx$/, '.pack'));
          const ref = JSON.parse(Buffer.from(await store.get('refs/heads/main')).toString()) as {
            commit: string;
          };
          expect(ref.commit).toBe(winner);
          const remoteContent = await revisionContent(await RemoteObjectReader.open(store), winner);
          const winnerDir = winner === heads[0] ? a : b;
          const localContent = await withRepo(winnerDir, (r) =>
            revisionContent(new LocalObjectReader(r.objects), winner),
          );
          expect(remoteContent).toEqual(localContent);
        } finally {
          await store.close?.();
        }
        // A fresh clone of the remote is complete and clean.
        const c = fresh('check');
        await clone(url, c, { settings, all: true });
        await withRepo(c, async (r) => {
          expect((await fsck(r)).problems).toEqual([]);
          expect(r.db.getRef('refs/heads/main')).toBe(winner);
        });
      }
    },
  );
});

describe('a reader streaming a revision while a writer commits', () => {
  it('gets exactly the old bytes (library open(pin) and `strata cat`)', { timeout: 120_000 }, async () => {
    const dir = await baseRepo();
    const old = await withRepo(dir, (r) => r.db.getRef('refs/heads/main') as Hash);
    const want = sha256(readFileSync(join(dir, 'train.jsonl')));
    for (let round = 0; round < 3; round++) {
      // The writer rewrites the file the readers read, and commits it.
      writeFileSync(join(dir, 'train.jsonl'), dataset(900_000, 300_000 * (round + 1)));
      const writer = run(dir, ['commit', '-a', '-m', `writer ${round}`]);
      const cat = run(dir, ['cat', `${old}:train.jsonl`]).then((o) => {
        expect(o.code, o.stderr).toBe(0);
        return sha256(o.out);
      });
      // In process: after the first piece, wait until the writer holds the lock (or is done), then go on
      // slowly, so the stream stays open across the writer's commit.
      let writerDone = false;
      void writer.then(() => (writerDone = true));
      const rev = await open({ location: dir, commit: old });
      const h = createHash('sha256');
      let first = true;
      try {
        for await (const piece of rev.bytes('train.jsonl')) {
          h.update(piece);
          if (first) {
            first = false;
            while (!writerDone && !existsSync(join(dir, '.strata', 'lock')))
              await new Promise((r) => setTimeout(r, 5));
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        await rev.close();
      }
      const w = await writer;
      expect(w.code, w.stderr).toBe(0);
      expect(h.digest('hex')).toBe(want);
      expect(await cat).toBe(want);
    }
    await consistent(dir);
  });
});
