/**
 * The no-op commands people type most, `status` and `commit -a -m MSG`, parsed without commander: loading
 * commander and registering a command file is a tenth of a no-op status's CPU (issue 6). Only the plain
 * forms are taken - the flags listed below, each spelled as `--help` shows it - and everything else
 * (`-am`, `--`, an unknown flag, an argument, `--help`) returns undefined and goes through commander, so
 * its messages and errors stay commander's. The actions are the ones commander runs (commands/worktree.ts),
 * run by fast-path.ts. This file imports types only: the launcher (bin.ts) parses with it to choose the bundle.
 */
import type { GlobalOpts } from './context.js';
import type { CommitOpts, StatusOpts } from './commands/worktree.js';

export type FastCommand =
  | { command: 'status'; g: GlobalOpts; opts: StatusOpts }
  | { command: 'commit'; g: GlobalOpts; opts: CommitOpts };

/** `args` are the arguments after `node main.js`. */
export function parseFastPath(args: readonly string[]): FastCommand | undefined {
  const g: GlobalOpts = {};
  let i = 0;
  // The global -C DIR before the command (commander: the last one wins; a value may start with '-').
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-C') {
      const dir = args[++i];
      if (dir === undefined) return undefined;
      g.C = dir;
    } else if (a.startsWith('-C') && a.length > 2) g.C = a.slice(2);
    else break;
  }
  const word = args[i];
  const rest = args.slice(i + 1);
  if (word === 'status') {
    const opts: StatusOpts = {};
    for (const a of rest) {
      if (a === '-s' || a === '--short') opts.short = true;
      else if (a === '--json') opts.json = true;
      else return undefined;
    }
    return { command: 'status', g, opts };
  }
  if (word === 'commit') {
    let message: string | undefined;
    const flags: Omit<CommitOpts, 'message'> = {};
    for (let j = 0; j < rest.length; j++) {
      const a = rest[j] as string;
      if (a === '-a' || a === '--all') flags.all = true;
      else if (a === '--allow-empty') flags.allowEmpty = true;
      else if (a === '--json') flags.json = true;
      else if (a === '-m' || a === '--message') {
        // As commander: the next argument is the value, whatever it starts with.
        message = rest[++j];
        if (message === undefined) return undefined;
      } else if (a.startsWith('--message=')) message = a.slice('--message='.length);
      else return undefined;
    }
    if (message === undefined) return undefined; // commander reports the missing required option
    return { command: 'commit', g, opts: { message, ...flags } };
  }
  return undefined;
}
