import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The real datasets in shared/data (copied, never edited). CI lays shared/ beside the clone; a developer
 * checkout may sit elsewhere, so also try STRATA_SHARED_DATA and /work/shared/data. Missing data fails
 * the tests that need it rather than skipping them.
 */
function locate(): string {
  const candidates = [
    process.env.STRATA_SHARED_DATA,
    join(import.meta.dirname, '..', '..', '..', 'shared', 'data'),
    '/work/shared/data',
  ].filter((c): c is string => !!c);
  const hit = candidates.find((c) => existsSync(join(c, 'gsm8k-test.jsonl')));
  if (!hit)
    throw new Error(`shared datasets not found; looked in ${candidates.join(', ')} (set STRATA_SHARED_DATA)`);
  return hit;
}

export const SHARED_DATA = locate();
