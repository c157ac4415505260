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
  | 'COMMAND_FAILED'
  | 'INTERNAL';

/** Environment variables whose values are credentials: never shown in a message or in error data. */
const SECRET_ENV = [
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_ACCESS_KEY_ID',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
];

/**
 * Removes credentials from text: the values of the credential variables above, AWS access key ids, URL
 * user info (`//user:password@`) and presigned-URL parameters (X-Amz-Signature, -Credential,
 * -Security-Token).
 */
export function redact(text: string): string {
  let out = text.replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, '[redacted]');
  out = out.replace(/((?:X-Amz-)?(?:Signature|Credential|Security-Token))=[^&\s,"']+/gi, '$1=[redacted]');
  out = out.replace(/\/\/[^/\s@"']*@/g, '//[redacted]@');
  for (const v of SECRET_ENV) {
    const s = process.env[v];
    if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

/** `redact` applied to every string in a JSON-like value (bounded depth; other values kept). */
function redactValue(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return redact(v);
  if (!v || typeof v !== 'object' || depth > 8) return v;
  if (Array.isArray(v)) return v.map((x) => redactValue(x, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactValue(x, depth + 1);
  return out;
}

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  /** The message and every string in `data` pass through `redact`: no error ever carries a credential. */
  constructor(
    code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(redact(message), options);
    this.name = 'StrataError';
    this.code = code;
    this.data = redactValue(data) as Record<string, unknown>;
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
