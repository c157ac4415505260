/**
 * V8 flags changed while the process runs (src/cli/engine-tuning.ts, memory-limit.ts's `--expose-gc`), and
 * putting them back. V8 stamps a code cache with the flags in force when it is made and refuses it under
 * others: the bin (src/cli/bin.ts) writes a command's code cache at exit, and calls restoreV8Flags first, so
 * that the next start (which has the start-up flags) accepts it. A cache made under changed flags was refused
 * by every later run, which compiled the whole CLI again (~20 ms) and wrote it anew.
 *
 * The settings to put back are kept on globalThis: the bin is a separate bundle in the same realm.
 */
import { createRequire } from 'node:module';

const RESTORE = Symbol.for('strata.v8-flag-defaults');

const registry = (): Set<string> => {
  const g = globalThis as Record<symbol, unknown>;
  return (g[RESTORE] ??= new Set<string>()) as Set<string>;
};

const v8 = (): typeof import('node:v8') =>
  createRequire(import.meta.url)('node:v8') as typeof import('node:v8');

/** Sets `flag` (e.g. `--expose-gc`); `original` is the setting the process started with (`--no-expose-gc`). */
export function setV8Flag(flag: string, original: string): void {
  v8().setFlagsFromString(flag);
  registry().add(original);
}

/** Puts back every flag setV8Flag changed (nothing to do, and nothing loaded, when none was). */
export function restoreV8Flags(): void {
  const set = (globalThis as Record<symbol, unknown>)[RESTORE] as Set<string> | undefined;
  if (!set?.size) return;
  const api = v8();
  for (const original of set) api.setFlagsFromString(original);
  set.clear();
}
