import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // @kiln/core carries the native loader: never bundle it. env-paths is ESM-only, so it is bundled
  // (tiny, no dependencies) to keep the CommonJS build loadable on Node 20 without require(esm).
  external: ['@kiln/core', '@kiln/binding', 'proper-lockfile'],
  noExternal: ['env-paths'],
});
