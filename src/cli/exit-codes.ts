/**
 * The one table from error codes to process exit codes (documented in docs/CLI.md). Scripts may rely on
 * these numbers; add codes, never renumber.
 */
import type { ErrorCode } from '../storage/errors.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export const EXIT_CODES: Record<ErrorCode, number> = {
  NOTHING_TO_COMMIT: 1,
  VERIFY_FAILED: 1,
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
