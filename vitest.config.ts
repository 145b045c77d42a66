import { defineConfig } from 'vitest/config';

// Each package under packages/ is its own vitest project (its own vitest.config.ts, if any, applies there).
// `pnpm vitest run` at the root runs them all; `turbo run test` runs them package by package with build deps first.
export default defineConfig({
  test: {
    projects: ['packages/*'],
  },
});
