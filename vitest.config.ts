import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files at a time (vitest's default on 2 cores is one): many tests wait on child processes, disk
    // syncs and the S3 server, so the second core runs another file meanwhile. Whole CI run 16m58s against
    // ~18m45s estimated one at a time (clean clone of 94642c3, quiet machine).
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
