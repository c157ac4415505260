/**
 * Errors with stable codes. Every layer throws these; the CLI maps `code` to an exit code in one table
 * (src/cli/exit-codes.ts) and tests assert `code`, never message text.
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'NON_FAST_FORWARD'
  | 'INTEGRITY'
  | 'BAD_INPUT'
  | 'BAD_REVISION'
  | 'NOT_A_REPOSITORY'
  | 'UNSUPPORTED_VERSION'
  | 'DIRTY_WORKTREE'
  | 'NOTHING_TO_COMMIT'
  | 'UNSAFE_PATH'
  | 'IO'
  | 'NETWORK'
  | 'ABORTED'
  | 'VERIFY_FAILED'
  | 'INTERNAL';

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StrataError';
    this.code = code;
    this.data = data;
  }

  toJSON(): { code: ErrorCode; message: string; data: Record<string, unknown> } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

export const notFound = (what: string, data: Record<string, unknown> = {}): StrataError =>
  new StrataError('NOT_FOUND', `${what} not found`, data);

export const isStrataError = (e: unknown, code?: ErrorCode): e is StrataError =>
  e instanceof StrataError && (code === undefined || e.code === code);

/** Throws ABORTED if the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new StrataError('ABORTED', 'operation aborted', {}, { cause: signal.reason });
}
