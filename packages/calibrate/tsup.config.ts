import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/npy.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // onnx-proto (CommonJS), sharp (native prebuilds) and the Kiln packages resolve at run time: never bundle them.
  external: ['@kiln/core', '@kiln/onnx', '@kiln/binding', 'onnx-proto', 'sharp'],
});
