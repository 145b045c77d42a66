import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Test against the workspace sources of @kiln/core, not its (possibly stale) dist.
    conditions: ['source'],
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
