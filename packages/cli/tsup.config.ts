import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  // A bin, not a library: one ESM entry with its shebang kept by tsup.
  entry: ['src/kiln.ts'],
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'node20',
  define: { __KILN_CLI_VERSION__: JSON.stringify(version) },
  // Resolved at run time from node_modules, so the published CLI uses the installed core/binding.
  external: ['@kiln/core', '@kiln/onnx', '@kiln/calibrate', '@kiln/timing-cache', '@kiln/binding', 'cli-progress'],
});
