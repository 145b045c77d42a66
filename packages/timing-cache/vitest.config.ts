import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Test against the workspace sources, not possibly stale dists.
    alias: {
      '@kiln/core': fileURLToPath(new URL('../core/src/index.ts', import.meta.url)),
      '@kiln/onnx': fileURLToPath(new URL('../onnx/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
  },
});
