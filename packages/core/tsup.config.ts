import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The native loader must never be bundled: it resolves the per-platform `.node` at run time.
  external: ['@kiln/binding'],
});
