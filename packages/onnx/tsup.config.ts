import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // onnx-proto is CommonJS with its own protobufjs; @kiln/core carries the native loader: never bundle either.
  external: ['@kiln/core', '@kiln/binding', 'onnx-proto'],
});
