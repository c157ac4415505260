/**
 * Which file registers each top-level command. A run loads and registers only the file its command is in
 * (a no-op `status` pays for 7 commands, not 40); anything else - no command, `--help`, `--version`,
 * `help`, an unknown word, an option before the command other than -C - registers every file, so help,
 * "did you mean" suggestions and errors are those of the whole program. test/cli/registry.test.ts checks
 * this table against what each file really registers.
 */
import type { Command } from 'commander';
import type { GlobalOpts } from './context.js';

export type Register = (program: Command, g: () => GlobalOpts) => void;

/** In the order `--help` lists them. */
export const COMMAND_FILES = {
  worktree: async () => (await import('./commands/worktree.js')).registerWorktreeCommands,
  history: async () => (await import('./commands/history.js')).registerHistoryCommands,
  refs: async () => (await import('./commands/refs.js')).registerRefCommands,
  diff: async () => (await import('./commands/diff.js')).registerDiffCommand,
  merge: async () => (await import('./commands/merge.js')).registerMergeCommand,
  pin: async () => (await import('./commands/pin.js')).registerPinCommands,
  transform: async () => (await import('./commands/transform.js')).registerTransformCommands,
  remote: async () => (await import('./commands/remote.js')).registerRemoteCommands,
  gc: async () => (await import('./commands/gc.js')).registerGcCommand,
} satisfies Record<string, () => Promise<Register>>;

export type CommandFile = keyof typeof COMMAND_FILES;

/** Top-level command → the file that registers it. */
export const COMMAND_FILE_OF: Readonly<Record<string, CommandFile>> = {
  init: 'worktree',
  add: 'worktree',
  rm: 'worktree',
  restore: 'worktree',
  commit: 'worktree',
  status: 'worktree',
  config: 'worktree',
  log: 'history',
  show: 'history',
  'rev-parse': 'history',
  cat: 'history',
  'ls-tree': 'history',
  fsck: 'history',
  branch: 'refs',
  switch: 'refs',
  checkout: 'refs',
  tag: 'refs',
  reset: 'refs',
  diff: 'diff',
  merge: 'merge',
  'cherry-pick': 'merge',
  revert: 'merge',
  pin: 'pin',
  export: 'pin',
  verify: 'pin',
  examples: 'pin',
  stats: 'pin',
  lock: 'pin',
  run: 'transform',
  trace: 'transform',
  rerun: 'transform',
  remote: 'remote',
  push: 'remote',
  fetch: 'remote',
  pull: 'remote',
  clone: 'remote',
  'ls-remote': 'remote',
  gc: 'gc',
};

/**
 * The command word of the arguments after `node main.js`: the first one that is not the global `-C DIR`
 * (`-C DIR` or `-CDIR`). Undefined when there is none or another option comes first.
 */
export function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-C') i++;
    else if (a.startsWith('-C') && a.length > 2) continue;
    else if (a.startsWith('-')) return undefined;
    else return a;
  }
  return undefined;
}

/** The files to register for these arguments: the one file of a known command word, else all of them. */
export function commandFiles(args: readonly string[]): CommandFile[] {
  const word = commandWord(args);
  const file = word !== undefined && Object.hasOwn(COMMAND_FILE_OF, word) ? COMMAND_FILE_OF[word] : undefined;
  return file ? [file] : (Object.keys(COMMAND_FILES) as CommandFile[]);
}

export async function registerCommands(
  program: Command,
  g: () => GlobalOpts,
  files: readonly CommandFile[],
): Promise<void> {
  const registers = await Promise.all(files.map((f) => COMMAND_FILES[f]()));
  for (const register of registers) register(program, g);
}
