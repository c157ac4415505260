/**
 * The one table from error codes to process exit codes (documented in docs/CLI.md). Scripts may rely on
 * these numbers; add codes, never renumber.
 */
import { redact, StrataError } from '../core/errors.js';
import type { ErrorCode } from '../storage/errors.js';
import { stdio } from './output.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export const EXIT_CODES: Record<ErrorCode, number> = {
  NOTHING_TO_COMMIT: 1,
  VERIFY_FAILED: 1,
  COMMAND_FAILED: 11,
  BAD_INPUT: 2,
  BAD_REVISION: 2,
  NOT_A_REPOSITORY: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  NON_FAST_FORWARD: 5,
  ALREADY_EXISTS: 5,
  DIRTY_WORKTREE: 6,
  INTEGRITY: 7,
  IO: 8,
  NETWORK: 8,
  UNSUPPORTED_VERSION: 9,
  UNSAFE_PATH: 10,
  ABORTED: 130,
  INTERNAL: EXIT_INTERNAL,
};

/**
 * Reports an error a command ended with and returns its exit code: a StrataError as `strata: MESSAGE [CODE]`
 * on stderr (and, with `json`, a `{"type":"error"}` line on stdout), a reader gone (EPIPE) as success, anything
 * else as an internal error.
 */
export function reportError(e: unknown, json: boolean): number {
  if (e instanceof StrataError) {
    const { stdout, stderr } = stdio();
    if (json) stdout.write(JSON.stringify({ type: 'error', error: e.toJSON() }) + '\n');
    if (!e.data.reported || !json) stderr.write(`strata: ${e.message} [${e.code}]\n`);
    return EXIT_CODES[e.code] ?? EXIT_INTERNAL;
  }
  if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0;
  stdio().stderr.write(`strata: internal error: ${redact((e as Error)?.stack ?? String(e))}\n`);
  return EXIT_INTERNAL;
}
