/**
 * V8 settings of the CLI process, for commands that run the example-level diff.
 *
 * The diff engine's main generator (core/diff/diff-file.ts, `diffFileIn`: ~23 KB of bytecode) was optimized
 * and then deoptimized up to ten times a diff, as each phase reached code with no type feedback yet: each
 * TurboFan compile of it took 100-370 ms of CPU on a compiler thread (the second core, which the decoding
 * thread needs), and its zone memory stayed in that thread's malloc arena, which glibc keeps. Its hot work is
 * in the functions it calls, which are small and stay optimized; it runs unoptimized (baseline code) at no
 * cost in time. Measured on the 1 GiB bench set, alternately with and without (docs/CLI.md "Memory"): the keyed
 * shuffle's diff 346-372 -> 270-274 MB, the 10% deletion diff 6.3-6.6 -> 5.4-5.5 s, the full `--json` 1% diff
 * 4.36 -> 3.30 s. STRATA_V8_TUNING=0 leaves V8's defaults.
 *
 * A library caller keeps its own settings: this is called by the CLI's diff command only.
 */
import { setFlagsFromString } from 'node:v8';

/** Functions with more bytecode than this are never optimized (V8's default is 60 KiB). */
export const MAX_OPTIMIZED_BYTECODE = 16 * 1024;
const V8_DEFAULT = '--max-optimized-bytecode-size=61440';

/**
 * Where a tuned process leaves the function that puts V8's defaults back (globalThis: the launcher,
 * src/cli/bin.ts, is another bundle in the same realm). V8 stamps a code cache with the flags in force when it
 * is made, and refuses it under others: the launcher calls it before writing the code cache at exit, or every
 * `strata diff` refused the cache the last one wrote, compiled the whole CLI again (~20 ms) and wrote it anew.
 */
export const RESTORE_ENGINE_DEFAULTS = Symbol.for('strata.restore-engine-defaults');

let tuned = false;

export function tuneEngineForDiff(): void {
  if (tuned || process.env.STRATA_V8_TUNING === '0') return;
  tuned = true;
  setFlagsFromString(`--max-optimized-bytecode-size=${MAX_OPTIMIZED_BYTECODE}`);
  (globalThis as Record<symbol, unknown>)[RESTORE_ENGINE_DEFAULTS] = (): void =>
    setFlagsFromString(V8_DEFAULT);
}
