#!/usr/bin/env node
/** strata's command line: parse, call core, render. Exit codes come from one table (exit-codes.ts). */
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { enableMemoryLimit } from '../storage/memory-limit.js';
import { EXIT_USAGE, reportError } from './exit-codes.js';
import type { GlobalOpts } from './context.js';
import { parseFastPath, runFastPath } from './fast-path.js';

// CommonJS packages are loaded with require(): importing them as ES modules costs a parse of their source
// for named exports (cjs-module-lexer) on every run. commander is loaded only when the fast path
// (fast-path.ts: plain `status` and `commit`) does not take the command.
let commanderModule: typeof import('commander') | undefined;
const loadCommander = (): typeof import('commander') =>
  (commanderModule ??= createRequire(import.meta.url)('commander') as typeof import('commander'));

/**
 * The program with the commands of `args` (the arguments after `node main.js`) registered: only the file
 * that holds their command, or every command when there is no known command word (registry.ts).
 */
export async function buildProgram(args: readonly string[] = []): Promise<Command> {
  const program = new (loadCommander().Command)('strata')
    .description('git-like version control for ML training datasets')
    .version('0.1.0')
    .option('-C <dir>', 'run as if started in DIR')
    .showHelpAfterError()
    .exitOverride();
  const g = (): GlobalOpts => program.opts<GlobalOpts>();
  const { commandFiles, registerCommands } = await import('./registry.js');
  await registerCommands(program, g, commandFiles(args));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  // Commit and diff keep resident memory near a soft limit (storage/memory-limit.ts; docs/CLI.md "Memory").
  enableMemoryLimit();
  try {
    const fast = parseFastPath(argv.slice(2));
    if (fast) await runFastPath(fast);
    else {
      // (Not for the fast path: it writes with FdSinks, and setting up process.stdout costs what it saves.)
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(0);
      });
      await (await buildProgram(argv.slice(2))).parseAsync(argv);
    }
    return 0;
  } catch (e) {
    if (commanderModule && e instanceof commanderModule.CommanderError) {
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    return reportError(e, json);
  }
}

main(process.argv).then((code) => {
  // A command may have set a non-error exit status of its own (diff --exit-code).
  if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
});
