/**
 * Runs the fast path's commands (fast-args.ts): in the whole CLI (main.ts) and in the launcher's small
 * bundle for them (fast-main.ts).
 */
import type { FastCommand } from './fast-args.js';
import { useFdSinks } from './output.js';

export { parseFastPath, type FastCommand } from './fast-args.js';

/** Runs a parsed fast-path command. */
export async function runFastPath(f: FastCommand): Promise<void> {
  useFdSinks();
  const { commitCommand, statusCommand } = await import('./commands/worktree.js');
  if (f.command === 'status') await statusCommand(f.g, f.opts);
  else await commitCommand(f.g, f.opts);
}
