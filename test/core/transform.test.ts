// `strata run` commits a transform's outputs with a record of the run (command, inputs at the commit they
// were read from, outputs, code commit), and `strata trace` follows those records back. Real git repository
// for the code, real child processes for the commands.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repository } from '../../src/core/repository.js';
import { runTransform, type TransformRecord } from '../../src/core/transform.js';
import { git } from '../pin/helpers.js';
import { ok, strata, tempDir } from './helpers.js';

const NODE = process.execPath;
/** Provenance on (the helpers turn it off by default). */
const ENV = { STRATA_NO_PROVENANCE: '' };

/** A dataset inside a git repository holding two transform scripts. */
function setup(): string {
  const dir = tempDir('strata-run-');
  git(dir, ['init', '-q', '-b', 'main']);
  writeFileSync(join(dir, '.gitignore'), 'data/\n');
  // clean.js: keeps examples whose text is shorter than 20 characters; features.js: adds a length field.
  writeFileSync(
    join(dir, 'clean.js'),
    `const fs = require('fs');
const lines = fs.readFileSync('data/raw.jsonl', 'utf8').split('\\n').filter(Boolean);
fs.writeFileSync('data/clean.jsonl', lines.filter((l) => JSON.parse(l).text.length < 20).map((l) => l + '\\n').join(''));
console.log('clean: wrote data/clean.jsonl');
`,
  );
  writeFileSync(
    join(dir, 'features.js'),
    `const fs = require('fs');
fs.mkdirSync('data/features', { recursive: true });
const lines = fs.readFileSync('data/clean.jsonl', 'utf8').split('\\n').filter(Boolean);
fs.writeFileSync('data/features/len.jsonl', lines.map((l) => { const e = JSON.parse(l); e.len = e.text.length; return JSON.stringify(e) + '\\n'; }).join(''));
`,
  );
  git(dir, ['add', '.']);
  git(dir, ['commit', '-q', '-m', 'scripts']);
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'data', 'raw.jsonl'),
    '{"id":1,"text":"short"}\n{"id":2,"text":"a much longer text than the limit"}\n{"id":3,"text":"tiny"}\n',
  );
  ok(dir, ['init']);
  ok(dir, ['add', 'data']);
  ok(dir, ['commit', '-m', 'raw'], ENV);
  return dir;
}

const rev = (dir: string, spec: string): string => ok(dir, ['rev-parse', spec]).trim();
interface Shown {
  message: string;
  parents: string[];
  meta: { code?: { commit: string; dirty: boolean }; transform: TransformRecord };
}
const showJson = (dir: string, r = 'HEAD'): Shown => JSON.parse(ok(dir, ['show', r, '--json']));

describe('strata run', () => {
  it('commits the outputs with the command, the inputs as read, the outputs and the code commit', () => {
    const dir = setup();
    const base = rev(dir, 'HEAD');
    const r = strata(
      dir,
      ['run', '-i', 'data/raw.jsonl', '-o', 'data/clean.jsonl', '--', NODE, 'clean.js'],
      ENV,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('clean: wrote data/clean.jsonl'); // the command's own output
    expect(readFileSync(join(dir, 'data', 'clean.jsonl'), 'utf8')).toBe(
      '{"id":1,"text":"short"}\n{"id":3,"text":"tiny"}\n',
    );
    const c = showJson(dir);
    expect(c.parents).toEqual([base]);
    expect(c.message).toBe(`run: ${NODE} clean.js`);
    expect(c.meta.code).toMatchObject({ commit: git(dir, ['rev-parse', 'HEAD']), dirty: false });
    expect(c.meta.transform).toMatchObject({
      command: [NODE, 'clean.js'],
      cwd: '',
      base,
      inputs: [{ path: 'data/raw.jsonl', kind: 'file', hash: rev(dir, `${base}:data/raw.jsonl`) }],
      outputs: [{ path: 'data/clean.jsonl', kind: 'file', hash: rev(dir, 'HEAD:data/clean.jsonl') }],
    });
    // Only the output is in the commit; log shows the run.
    expect(ok(dir, ['show', 'HEAD'])).toMatch(/A\tdata\/clean\.jsonl/);
    expect(ok(dir, ['log', '-n', '1'])).toContain(`Run:    ${NODE} clean.js`);
  });

  it('trace follows runs back to their sources, and names inputs changed since a run; rerun makes a stale output again', () => {
    const dir = setup();
    ok(dir, ['run', '-i', 'data/raw.jsonl', '-o', 'data/clean.jsonl', '--', NODE, 'clean.js'], ENV);
    const run1 = rev(dir, 'HEAD');
    ok(
      dir,
      ['run', '-i', 'data/clean.jsonl', '-o', 'data/features', '-m', 'features', '--', NODE, 'features.js'],
      ENV,
    );
    const run2 = rev(dir, 'HEAD');
    expect(showJson(dir).meta.transform.outputs).toEqual([
      { path: 'data/features', kind: 'tree', hash: rev(dir, 'HEAD:data/features') },
    ]);

    const t = JSON.parse(ok(dir, ['trace', 'data/features/len.jsonl', '--json']));
    expect(t).toMatchObject({
      path: 'data/features/len.jsonl',
      commit: run2,
      message: 'features',
      staleInputs: [],
    });
    expect(t.transform.command).toEqual([NODE, 'features.js']);
    expect(t.inputs).toHaveLength(1);
    expect(t.inputs[0]).toMatchObject({ path: 'data/clean.jsonl', commit: run1 });
    expect(t.inputs[0].transform.command).toEqual([NODE, 'clean.js']);
    expect(t.inputs[0].inputs[0]).toMatchObject({
      path: 'data/raw.jsonl',
      message: 'raw',
      transform: null,
      inputs: [],
    });
    const human = ok(dir, ['trace', 'data/features/len.jsonl']);
    expect(human).toContain(`$ ${NODE} features.js`);
    expect(human).toContain('(a source: not made by strata run)');

    // New raw data: clean.jsonl is now stale (its input changed since the run); features is not (its own
    // input did not change).
    writeFileSync(join(dir, 'data', 'raw.jsonl'), '{"id":1,"text":"short"}\n{"id":4,"text":"new"}\n');
    ok(dir, ['commit', '-a', '-m', 'more raw']);
    const s = JSON.parse(ok(dir, ['trace', 'data/clean.jsonl', '--json']));
    expect(s.staleInputs).toEqual([
      {
        path: 'data/raw.jsonl',
        was: rev(dir, `${run1}:data/raw.jsonl`),
        now: rev(dir, 'HEAD:data/raw.jsonl'),
      },
    ]);
    expect(ok(dir, ['trace', 'data/clean.jsonl'])).toContain(
      'stale: input data/raw.jsonl changed since the run',
    );
    expect(JSON.parse(ok(dir, ['trace', 'data/features', '--json'])).staleInputs).toEqual([]);
    // At the run's own revision nothing is stale.
    expect(JSON.parse(ok(dir, ['trace', 'data/clean.jsonl', run1, '--json'])).staleInputs).toEqual([]);
    // A path nothing has: NOT_FOUND.
    expect(strata(dir, ['trace', 'data/nope.jsonl']).code).toBe(4);

    // rerun: the stale output made again by its recorded command from the inputs as HEAD has them.
    const again = JSON.parse(ok(dir, ['rerun', 'data/clean.jsonl', '--json']));
    expect(again).toMatchObject({ rerun: run1, commit: rev(dir, 'HEAD') });
    expect(readFileSync(join(dir, 'data', 'clean.jsonl'), 'utf8')).toBe(
      '{"id":1,"text":"short"}\n{"id":4,"text":"new"}\n',
    );
    const fresh = JSON.parse(ok(dir, ['trace', 'data/clean.jsonl', '--json']));
    expect(fresh).toMatchObject({ commit: again.commit, staleInputs: [] });
    expect(fresh.transform.command).toEqual([NODE, 'clean.js']);
    // Again with nothing changed: nothing to commit. A source has no run to repeat: NOT_FOUND.
    expect(JSON.parse(ok(dir, ['rerun', 'data/clean.jsonl', '--json'])).commit).toBeNull();
    expect(strata(dir, ['rerun', 'data/raw.jsonl']).code).toBe(4);
  });

  it('a run again with the same inputs commits nothing; with other inputs it is recorded; a directory output commits deletions under it', () => {
    const dir = setup();
    ok(dir, ['run', '-i', 'data/raw.jsonl', '-o', 'data/clean.jsonl', '--', NODE, 'clean.js'], ENV);
    const head = rev(dir, 'HEAD');
    const again = strata(dir, [
      'run',
      '-i',
      'data/raw.jsonl',
      '-o',
      'data/clean.jsonl',
      '--json',
      '--',
      NODE,
      'clean.js',
    ]);
    expect(again.code, again.stderr).toBe(0);
    // --json: stdout is the result alone; the command's output went to stderr.
    const res = JSON.parse(again.stdout);
    expect(res.commit).toBeNull();
    expect(again.stderr).toContain('clean: wrote');
    expect(rev(dir, 'HEAD')).toBe(head);
    // New raw data that the filter drops: clean.jsonl comes out the same, but from other inputs. Made again,
    // that is recorded (a commit with no file change), so that trace names this run and nothing is stale.
    writeFileSync(
      join(dir, 'data', 'raw.jsonl'),
      readFileSync(join(dir, 'data', 'raw.jsonl'), 'utf8') +
        '{"id":5,"text":"another text far too long to keep"}\n',
    );
    ok(dir, ['commit', '-a', '-m', 'longer raw']);
    expect(JSON.parse(ok(dir, ['trace', 'data/clean.jsonl', '--json'])).staleInputs).toHaveLength(1);
    const remade = JSON.parse(
      ok(dir, ['run', '-i', 'data/raw.jsonl', '-o', 'data/clean.jsonl', '--json', '--', NODE, 'clean.js']),
    );
    expect(remade.commit).toBe(rev(dir, 'HEAD'));
    expect(showJson(dir).message).toBe(`run: ${NODE} clean.js (outputs unchanged)`);
    const t = JSON.parse(ok(dir, ['trace', 'data/clean.jsonl', '--json']));
    expect(t).toMatchObject({ commit: remade.commit, staleInputs: [] });
    expect(t.inputs[0]).toMatchObject({ path: 'data/raw.jsonl', message: 'longer raw' });
    const after = rev(dir, 'HEAD');

    mkdirSync(join(dir, 'data', 'out'));
    writeFileSync(join(dir, 'data', 'out', 'old.txt'), 'old\n');
    expect(rev(dir, 'HEAD')).toBe(after);
    ok(dir, ['add', 'data/out']);
    ok(dir, ['commit', '-m', 'old out']);
    writeFileSync(
      join(dir, 'swap.js'),
      `const fs = require('fs'); fs.rmSync('data/out/old.txt'); fs.writeFileSync('data/out/new.txt', 'new\\n');`,
    );
    ok(dir, ['run', '-i', 'data/raw.jsonl', '-o', 'data/out', '--', NODE, 'swap.js']);
    const files = ok(dir, ['ls-tree', '-r', 'HEAD', 'data/out']);
    expect(files).toContain('data/out/new.txt');
    expect(files).not.toContain('old.txt');
  });

  it('refuses inputs that are not committed, and commits nothing when the command fails or misbehaves', async () => {
    const dir = setup();
    const head = rev(dir, 'HEAD');
    // The command line: what only it checks (the command after --, paths outside the tree), exit codes.
    expect(strata(dir, ['run', '-o', 'data/x', NODE, 'clean.js']).code).toBe(2);
    expect(strata(dir, ['run', '-o', '../outside', '--', NODE, 'clean.js']).code).toBe(10);
    const fail = strata(dir, ['run', '-o', 'data/x.jsonl', '--', NODE, '-e', 'process.exit(3)']);
    expect(fail.code).toBe(11);
    expect(fail.stderr).toContain('exited with status 3: nothing committed [COMMAND_FAILED]');

    // The rest through the library (the same code, without a process per case).
    const repo = Repository.open(dir);
    try {
      const go = (inputs: string[], outputs: string[], command: string[], force = false) =>
        runTransform(repo, { inputs, outputs, command, stdio: 'ignore', force });
      const io = [['data/raw.jsonl'], ['data/clean.jsonl']] as const;
      const code = async (p: Promise<unknown>): Promise<string> =>
        p.then(
          () => 'ok',
          (e: { code?: string }) => e.code ?? String(e),
        );
      // No output, overlapping or nested paths, no command: BAD_INPUT.
      expect(await code(go(['data/raw.jsonl'], [], [NODE, 'clean.js']))).toBe('BAD_INPUT');
      expect(await code(go(['data'], ['data/clean.jsonl'], [NODE, 'clean.js']))).toBe('BAD_INPUT');
      expect(await code(go([], ['data', 'data/x'], [NODE, 'clean.js']))).toBe('BAD_INPUT');
      expect(await code(go([], ['data/x'], []))).toBe('BAD_INPUT');

      // An input modified in the working tree, or never committed: refused before running.
      writeFileSync(join(dir, 'data', 'raw.jsonl'), '{"id":9,"text":"edited"}\n');
      expect(await code(go([...io[0]], [...io[1]], [NODE, 'clean.js']))).toBe('DIRTY_WORKTREE');
      expect(existsSync(join(dir, 'data', 'clean.jsonl'))).toBe(false); // not run
      ok(dir, ['restore', 'data/raw.jsonl']);
      writeFileSync(join(dir, 'data', 'new.jsonl'), '{}\n');
      expect(await code(go(['data/new.jsonl'], ['out.jsonl'], [NODE, 'clean.js']))).toBe('NOT_FOUND');
      // ... an untracked file inside an input directory (data/new.jsonl) makes it dirty too.
      expect(await code(go(['data'], ['out.jsonl'], [NODE, '-e', '0']))).toBe('DIRTY_WORKTREE');

      // Something staged besides the outputs would slip into the run commit: refused.
      ok(dir, ['add', 'data/new.jsonl']);
      expect(await code(go([...io[0]], [...io[1]], [NODE, 'clean.js']))).toBe('DIRTY_WORKTREE');
      ok(dir, ['rm', '--cached', 'data/new.jsonl']);

      // A failing command: COMMAND_FAILED, nothing committed, what it wrote left in place.
      const partial = [
        NODE,
        '-e',
        "require('fs').writeFileSync('data/clean.jsonl', 'partial'); process.exit(3)",
      ];
      await expect(go([...io[0]], [...io[1]], partial)).rejects.toMatchObject({
        code: 'COMMAND_FAILED',
        data: { status: 3 },
      });
      expect(readFileSync(join(dir, 'data', 'clean.jsonl'), 'utf8')).toBe('partial');
      // An output with changes no commit holds (that partial file) is not replaced without force.
      const refused = go([...io[0]], [...io[1]], [NODE, 'clean.js']);
      await expect(refused).rejects.toMatchObject({
        code: 'DIRTY_WORKTREE',
        data: { path: 'data/clean.jsonl' },
      });
      expect(await code(go([...io[0]], [...io[1]], ['/nonexistent/cmd'], true))).toBe('COMMAND_FAILED');
      // A command that did not write its output, or that changed its input: nothing committed.
      expect(await code(go([...io[0]], ['data/never.jsonl'], [NODE, '-e', '0']))).toBe('NOT_FOUND');
      const touch = go(
        [...io[0]],
        [...io[1]],
        [NODE, '-e', "require('fs').appendFileSync('data/raw.jsonl', '{}\\n')"],
        true,
      );
      await expect(touch).rejects.toMatchObject({
        code: 'DIRTY_WORKTREE',
        message: /was changed by the command/,
      });
      expect(rev(dir, 'HEAD')).toBe(head);
      // With force, the run replaces the uncommitted output and commits.
      ok(dir, ['restore', 'data/raw.jsonl']);
      const done = await go([...io[0]], [...io[1]], [NODE, 'clean.js'], true);
      expect(done.commit).toBe(rev(dir, 'HEAD'));
      expect(readFileSync(join(dir, 'data', 'clean.jsonl'), 'utf8')).toBe(
        '{"id":1,"text":"short"}\n{"id":3,"text":"tiny"}\n',
      );
    } finally {
      repo.close();
    }
  });

  it('rerun --stale runs again every out-of-date run, upstream first; a downstream run whose input came out the same is skipped', () => {
    const dir = setup();
    const run = (args: string[]): void => {
      const r = strata(dir, ['run', ...args], ENV);
      expect(r.code, r.stderr).toBe(0);
    };
    run(['-i', 'data/raw.jsonl', '-o', 'data/clean.jsonl', '--', NODE, 'clean.js']);
    run(['-i', 'data/clean.jsonl', '-o', 'data/features', '--', NODE, 'features.js']);
    expect(ok(dir, ['rerun', '--stale', '--dry-run'])).toBe('every run output is up to date\n');
    // A new short example: clean.jsonl is stale, and features (reading it) must follow.
    const raw = join(dir, 'data', 'raw.jsonl');
    writeFileSync(raw, readFileSync(raw, 'utf8') + '{"id":4,"text":"new one"}\n');
    ok(dir, ['commit', '-a', '-m', 'raw: one more'], ENV);
    const plan = JSON.parse(ok(dir, ['rerun', '--stale', '--dry-run', '--json'])) as {
      outputs: string[];
      staleInputs: { path: string }[];
      upstream: string[];
    }[];
    expect(plan.map((r) => r.outputs)).toEqual([['data/clean.jsonl'], ['data/features']]);
    expect(plan[0]!.staleInputs.map((i) => i.path)).toEqual(['data/raw.jsonl']);
    expect(plan[1]!.staleInputs).toEqual([]);
    expect(plan[1]!.upstream).toHaveLength(1);
    const before = rev(dir, 'HEAD');
    const r = strata(dir, ['rerun', '--stale'], ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(
      ok(dir, ['log', '--oneline', `${before}..HEAD`])
        .trim()
        .split('\n'),
    ).toHaveLength(2);
    expect(readFileSync(join(dir, 'data', 'features', 'len.jsonl'), 'utf8')).toContain('"id":4');
    expect(ok(dir, ['rerun', '--stale', '--dry-run'])).toBe('every run output is up to date\n');
    // A long example, which clean.js drops: clean.jsonl comes out the same (recorded, nothing changed), and
    // features is not run again.
    writeFileSync(
      raw,
      readFileSync(raw, 'utf8') + '{"id":5,"text":"a text far too long to be kept by clean"}\n',
    );
    ok(dir, ['commit', '-a', '-m', 'raw: a long one'], ENV);
    const again = rev(dir, 'HEAD');
    const out = ok(dir, ['rerun', '--stale'], ENV);
    expect(out).toContain('data/features: up to date after the runs before it');
    const runs = ok(dir, ['log', '--oneline', `${again}..HEAD`])
      .trim()
      .split('\n');
    expect(runs).toHaveLength(1);
    expect(ok(dir, ['rerun', '--stale', '--dry-run'])).toBe('every run output is up to date\n');
    expect(strata(dir, ['rerun']).code).toBe(2);
    expect(strata(dir, ['rerun', 'data/clean.jsonl', '--stale']).code).toBe(2);
  });

  it('rerun refuses to replace an output changed by hand since its run (CONFLICT, nothing run) unless --force', () => {
    const dir = setup();
    // split.js: one run, two outputs.
    writeFileSync(
      join(dir, 'split.js'),
      `const fs = require('fs');
const lines = fs.readFileSync('data/raw.jsonl', 'utf8').split('\\n').filter(Boolean);
fs.writeFileSync('data/a.jsonl', lines.filter((l) => JSON.parse(l).id % 2).map((l) => l + '\\n').join(''));
fs.writeFileSync('data/b.jsonl', lines.filter((l) => !(JSON.parse(l).id % 2)).map((l) => l + '\\n').join(''));
`,
    );
    git(dir, ['add', 'split.js']);
    git(dir, ['commit', '-q', '-m', 'split']);
    const r0 = strata(
      dir,
      ['run', '-i', 'data/raw.jsonl', '-o', 'data/a.jsonl', '-o', 'data/b.jsonl', '--', NODE, 'split.js'],
      ENV,
    );
    expect(r0.code, r0.stderr).toBe(0);
    const runCommit = rev(dir, 'HEAD');
    // b.jsonl fixed by hand and committed; then the input changes.
    writeFileSync(join(dir, 'data', 'b.jsonl'), '{"id":2,"text":"fixed by hand"}\n');
    ok(dir, ['commit', '-a', '-m', 'hand fix of b'], ENV);
    const hand = rev(dir, 'HEAD');
    const raw = join(dir, 'data', 'raw.jsonl');
    writeFileSync(raw, readFileSync(raw, 'utf8') + '{"id":5,"text":"five"}\n');
    ok(dir, ['commit', '-a', '-m', 'raw: five'], ENV);
    const plan = JSON.parse(ok(dir, ['rerun', '--stale', '--dry-run', '--json'])) as {
      commit: string;
      outputs: string[];
      replaced: { path: string; by: string }[];
    }[];
    expect(plan.map((p) => [p.commit, p.outputs, p.replaced])).toEqual([
      [runCommit, ['data/a.jsonl'], [{ path: 'data/b.jsonl', by: hand }]],
    ]);
    expect(ok(dir, ['rerun', '--stale', '--dry-run'])).toContain(
      `output data/b.jsonl was changed since by ${hand.slice(0, 12)}`,
    );
    const head = rev(dir, 'HEAD');
    for (const args of [
      ['rerun', '--stale'],
      ['rerun', 'data/a.jsonl'],
    ]) {
      const r = strata(dir, args, ENV);
      expect(r.code).toBe(5); // CONFLICT
      expect(r.stderr).toContain('would replace data/b.jsonl');
      expect(rev(dir, 'HEAD')).toBe(head);
      expect(readFileSync(join(dir, 'data', 'b.jsonl'), 'utf8')).toBe('{"id":2,"text":"fixed by hand"}\n');
    }
    const forced = strata(dir, ['rerun', '--stale', '--force'], ENV);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(join(dir, 'data', 'a.jsonl'), 'utf8')).toContain('"id":5');
    expect(readFileSync(join(dir, 'data', 'b.jsonl'), 'utf8')).not.toContain('fixed by hand');
  });
});
