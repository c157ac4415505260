/** The error type of the whole API, for callers that want it without loading the rest of core. */
export { StrataError, isStrataError, redact, type ErrorCode } from '../storage/errors.js';
