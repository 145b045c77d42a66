/**
 * Inputs for the corpus's `light/` CNNs, reproducing onnx's backend runner
 * (`onnx/backend/test/runner/__init__.py`, `generate_dummy_data(..., random=False)`): for each graph
 * input that is not an initializer, shape = dim_value per dim (1 where the dim is symbolic), and
 * values = (np.arange(n).reshape(shape) / n).astype(np.float32), i.e. i/n computed in float64 then
 * rounded to float32. Checked against onnxruntime on light_squeezenet and light_resnet50 (exact match
 * with light_<net>_output_0.pb).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '@kiln/core';
import { readBytes } from './corpus.js';
import { summarizeModel } from './onnx-model.js';

export const LIGHT_TOLERANCE = { rtol: 1e-3, atol: 1e-4 };

export function listLightModels(corpus: string): string[] {
  return readdirSync(join(corpus, 'light'))
    .map((f) => /^light_(.+)\.onnx$/.exec(f)?.[1])
    .filter((n): n is string => !!n)
    .sort();
}

export function lightInputs(modelBytes: Uint8Array): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const input of summarizeModel(modelBytes).inputs) {
    const dims = (input.dims ?? []).map((d) => (d < 0 ? 1 : d));
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = i / n; // float64 division, float32 store: same as numpy
    feeds[input.name] = new Tensor('float32', data, dims);
  }
  return feeds;
}

export function lightPaths(corpus: string, net: string): { model: string; expected: string } {
  return { model: join(corpus, 'light', `light_${net}.onnx`), expected: join(corpus, 'light', `light_${net}_output_0.pb`) };
}

export function readLightModel(corpus: string, net: string): Uint8Array {
  return readBytes(lightPaths(corpus, net).model);
}
