/**
 * The CLI's two start-up shortcuts (issue 6): the fast path that runs plain `status` / `commit` without
 * commander, and the registry that registers only the command file a command is in.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parseFastPath } from '../../src/cli/fast-path.js';
import {
  COMMAND_FILE_OF,
  COMMAND_FILES,
  commandFiles,
  commandWord,
  registerCommands,
  type CommandFile,
} from '../../src/cli/registry.js';

const commander = createRequire(import.meta.url)('commander') as typeof import('commander');

describe('fast path', () => {
  it('takes the plain forms of status', () => {
    expect(parseFastPath(['status'])).toEqual({ command: 'status', g: {}, opts: {} });
    expect(parseFastPath(['status', '--json', '-s'])).toEqual({
      command: 'status',
      g: {},
      opts: { json: true, short: true },
    });
    expect(parseFastPath(['-C', '/r', 'status', '--short'])).toEqual({
      command: 'status',
      g: { C: '/r' },
      opts: { short: true },
    });
    expect(parseFastPath(['-C/a', '-C', '/b', 'status'])?.g).toEqual({ C: '/b' }); // the last -C wins
  });

  it('takes the plain forms of commit, the message as commander reads it', () => {
    expect(parseFastPath(['commit', '-a', '-m', 'msg'])).toEqual({
      command: 'commit',
      g: {},
      opts: { message: 'msg', all: true },
    });
    expect(parseFastPath(['commit', '--all', '--message=a b', '--json', '--allow-empty'])?.opts).toEqual({
      message: 'a b',
      all: true,
      json: true,
      allowEmpty: true,
    });
    expect(parseFastPath(['commit', '-m', '-a'])?.opts).toEqual({ message: '-a' }); // a value, not a flag
    expect(parseFastPath(['commit', '-m', 'one', '-m', 'two'])?.opts).toEqual({ message: 'two' });
    expect(parseFastPath(['commit', '-m', ''])?.opts).toEqual({ message: '' }); // core refuses it
  });

  it('leaves everything else to commander', () => {
    for (const args of [
      [],
      ['--help'],
      ['-V'],
      ['log'],
      ['status', '--help'],
      ['status', 'extra'],
      ['status', '--'],
      ['status', '--bogus'],
      ['commit', '-a'], // commander reports the missing -m
      ['commit', '-am', 'x'],
      ['commit', '-m'],
      ['commit', '-mx'],
      ['commit', '-m', 'x', 'extra'],
      ['-C'],
      ['-C', '/r'],
      ['--json', 'status'],
    ]) {
      expect(parseFastPath(args), args.join(' ')).toBeUndefined();
    }
  });
});

describe('command registry', () => {
  /** The top-level commands a command file really registers. */
  const registered = async (files: readonly CommandFile[]): Promise<string[]> => {
    const program = new commander.Command('strata');
    await registerCommands(program, () => ({}), files);
    return program.commands.map((c) => c.name());
  };

  it('names the file of every command each file registers, and no other', async () => {
    const table = Object.entries(COMMAND_FILE_OF);
    for (const file of Object.keys(COMMAND_FILES) as CommandFile[]) {
      const names = await registered([file]);
      expect(names.length).toBeGreaterThan(0);
      expect(names.sort(), file).toEqual(
        table
          .filter(([, f]) => f === file)
          .map(([c]) => c)
          .sort(),
      );
    }
  });

  it('finds the command word after -C DIR; anything else registers every file', async () => {
    expect(commandWord(['status'])).toBe('status');
    expect(commandWord(['-C', 'dir', 'log', '-n', '1'])).toBe('log');
    expect(commandWord(['-Cdir', 'push'])).toBe('push');
    expect(commandWord(['--help'])).toBeUndefined();
    expect(commandWord([])).toBeUndefined();
    expect(commandFiles(['-C', 'x', 'lock', 'add'])).toEqual(['pin']);
    expect(commandFiles(['add', '.'])).toEqual(['worktree']);
    const all = Object.keys(COMMAND_FILES);
    for (const args of [[], ['--help'], ['help', 'status'], ['stauts'], ['--version'], ['-x', 'log']])
      expect(commandFiles(args), args.join(' ')).toEqual(all);
    expect((await registered(commandFiles(['--help']))).length).toBe(Object.keys(COMMAND_FILE_OF).length);
  });
});
