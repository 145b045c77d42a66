import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Keep the default forks pool: the addon's rayon pool is process-global.
    pool: 'forks',
    testTimeout: 120_000,
  },
});
