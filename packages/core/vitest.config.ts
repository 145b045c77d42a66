import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons with global thread pools are safest in forked workers.
    pool: 'forks',
    testTimeout: 60_000,
  },
});
