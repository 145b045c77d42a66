import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests spawn the built CLI, which loads the native addon: keep them in forks.
    pool: 'forks',
    testTimeout: 120_000,
  },
});
