#!/usr/bin/env node
/** strata's command line: parse, call core, render. Exit codes come from one table (exit-codes.ts). */
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { redact, StrataError } from '../core/errors.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerGcCommand } from './commands/gc.js';
import { registerHistoryCommands } from './commands/history.js';
import { registerMergeCommand } from './commands/merge.js';
import { registerPinCommands } from './commands/pin.js';
import { registerRefCommands } from './commands/refs.js';
import { registerRemoteCommands } from './commands/remote.js';
import { registerWorktreeCommands } from './commands/worktree.js';
import { EXIT_CODES, EXIT_INTERNAL, EXIT_USAGE } from './exit-codes.js';
import type { GlobalOpts } from './context.js';

// CommonJS packages are loaded with require(): importing them as ES modules costs a parse of their source
// for named exports (cjs-module-lexer) on every run.
const commander = createRequire(import.meta.url)('commander') as typeof import('commander');

export function buildProgram(): Command {
  const program = new commander.Command('strata')
    .description('git-like version control for ML training datasets')
    .version('0.1.0')
    .option('-C <dir>', 'run as if started in DIR')
    .showHelpAfterError()
    .exitOverride();
  const g = (): GlobalOpts => program.opts<GlobalOpts>();
  registerWorktreeCommands(program, g);
  registerHistoryCommands(program, g);
  registerRefCommands(program, g);
  registerDiffCommand(program, g);
  registerMergeCommand(program, g);
  registerPinCommands(program, g);
  registerRemoteCommands(program, g);
  registerGcCommand(program, g);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof commander.CommanderError) {
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof StrataError) {
      if (json) process.stdout.write(JSON.stringify({ type: 'error', error: e.toJSON() }) + '\n');
      if (!e.data.reported || !json) process.stderr.write(`strata: ${e.message} [${e.code}]\n`);
      return EXIT_CODES[e.code] ?? EXIT_INTERNAL;
    }
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    process.stderr.write(`strata: internal error: ${redact((e as Error)?.stack ?? String(e))}\n`);
    return EXIT_INTERNAL;
  }
}

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});
main(process.argv).then((code) => {
  // A command may have set a non-error exit status of its own (diff --exit-code).
  if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
});
