/** The default lock file name, in a module of its own so the CLI can show it without loading pins. */
export const LOCK_FILE = 'strata.lock';
