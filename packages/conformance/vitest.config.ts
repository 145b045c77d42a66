import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Forked workers: a native crash (segfault/abort) in Kiln's addon fails the test file instead of
    // killing the runner, and each file gets its own addon thread pools.
    pool: 'forks',
    // The suites are CPU-bound on a 2-core machine: running files one at a time keeps per-test timings
    // predictable and stops the node-test worker pool from competing with other files.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
