/**
 * Re-exports for bench/cpu.ts. bench/ is not a workspace package, so it reaches Kiln and onnxruntime-node
 * through this module, whose imports resolve from @kiln/conformance's own dependencies.
 */
export { Builder, Engine, Tensor } from '@kiln/core';
export { parseOnnx } from '@kiln/onnx';
export * as ort from 'onnxruntime-node';
export { ensureCorpus } from './corpus.js';
export { lightInputs } from './light.js';
export { readBytes } from './corpus.js';
