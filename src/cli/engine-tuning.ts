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
import { setV8Flag } from '../storage/v8-flags.js';

/** Functions with more bytecode than this are never optimized (V8's default is 60 KiB). */
export const MAX_OPTIMIZED_BYTECODE = 16 * 1024;

let tuned = false;

/** (The bin puts V8's default back before it writes the command's code cache: storage/v8-flags.ts.) */
export function tuneEngineForDiff(): void {
  if (tuned || process.env.STRATA_V8_TUNING === '0') return;
  tuned = true;
  setV8Flag(`--max-optimized-bytecode-size=${MAX_OPTIMIZED_BYTECODE}`, '--max-optimized-bytecode-size=61440');
}
