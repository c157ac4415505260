/**
 * One temporary directory per test run: every test (and every process a test starts) makes its temporary
 * directories under it through os.tmpdir(), and it is removed when the run ends, so a run leaves nothing
 * behind in the system's temporary directory, whatever a test forgot to clean up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'strata-tests-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(dir, { recursive: true, force: true });
  };
}
