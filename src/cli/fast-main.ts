/**
 * The launcher's second bundle (dist/bin/strata-fast.cjs): the fast path's commands only (plain `status` and
 * `commit`, fast-args.ts), ~160 KB where the whole CLI (main.ts) is ~540 KB. Every start reads, hashes and
 * deserializes its bundle, so a no-op status in it took ~10 ms less (bin.ts chooses). Errors and exit codes as
 * main.ts reports them.
 */
import { enableMemoryLimit } from '../storage/memory-limit.js';
import { reportError } from './exit-codes.js';
import { parseFastPath, runFastPath } from './fast-path.js';

async function fastMain(argv: string[]): Promise<number> {
  enableMemoryLimit();
  try {
    const fast = parseFastPath(argv.slice(2));
    // (The launcher runs this bundle only for what the fast path takes.)
    if (!fast) throw new Error(`not a fast-path command: ${argv.slice(2).join(' ')}`);
    await runFastPath(fast);
    return 0;
  } catch (e) {
    return reportError(e, argv.includes('--json'));
  }
}

void fastMain(process.argv).then((code) => {
  if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
});
