/**
 * End to end on the CPU backend: engine statistics vs the numpy reference (Identity network), calibration of a
 * light CNN of the corpus (cache coverage and round trip), its Q/DQ ONNX in onnxruntime vs the FP32 model, and
 * the INT8 accuracy report.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { Builder, Engine, Network, Tensor } from '@kiln/core';
import { parseOnnx, supportedOps } from '@kiln/onnx';
import {
  accuracyReport,
  calibGraph,
  calibrate,
  computeRanges,
  decodeModelBytes,
  int8Available,
  openDataset,
  profileFor,
  readCalibrationCache,
  readNpy,
  scaleBits,
  writeCalibrationCache,
  writeNpy,
  writeQdqOnnx,
  type CalibrationResult,
  type TensorStats,
} from '../src/index';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const reference = JSON.parse(readFileSync(fixture('calib-reference.json'), 'utf8')) as { cases: Record<string, Record<string, number | string>> };
const SQUEEZENET = new URL('../../../../shared/onnx-backend-tests/light/light_squeezenet.onnx', import.meta.url).pathname;

/** Deterministic pseudo-random samples (LCG): calibration data written as .npy files like a user's. */
function writeSamples(dir: string, count: number, dims: number[]): void {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const n = dims.reduce((a, b) => a * b, 1);
  for (let i = 0; i < count; i++) {
    const data = new Float32Array(n).map(() => next() * 2 - 1);
    writeFileSync(join(dir, `sample_${String(i).padStart(3, '0')}.npy`), writeNpy({ dtype: 'float32', dims, data }));
  }
}

interface CalibratingContext {
  calibrate(feeds: Record<string, Tensor>): Promise<void>;
  calibrationStats(): TensorStats[];
  resetCalibration(): void;
}

describe('engine statistics vs the numpy reference (Identity network, calibration: true)', () => {
  for (const [name, ref] of Object.entries(reference.cases)) {
    it(name, async (ctx) => {
      const all = readNpy(readFileSync(fixture(ref.file as string)));
      const batchDims = all.dims.slice(1);
      const net = new Network();
      const x = net.addInput('x', 'float32', batchDims);
      net.markOutput(net.addIdentity(x, { name: 'id' }), 'y');
      const config = { backend: 'cpu' as const, calibration: true };
      const engine = await Engine.load(await Builder.build(net, config));
      const c = engine.createContext({ numThreads: 1 }) as unknown as Partial<CalibratingContext>;
      if (typeof c.calibrate !== 'function') {
        ctx.skip(); // the engine's calibration mode has not landed in this build
        return;
      }
      const per = all.data.length / all.dims[0];
      for (let b = 0; b < all.dims[0]; b++) {
        await c.calibrate!({ x: new Tensor('float32', (all.data as Float32Array).slice(b * per, (b + 1) * per), batchDims) });
      }
      const stats = c.calibrationStats!().filter((s) => s.name === 'x');
      expect(stats).toHaveLength(1);
      const s = stats[0];
      expect(s.counts.length).toBe(ref.numBins);
      expect(s.binWidth).toBeCloseTo(ref.binWidth as number, 6);
      for (const [algo, key] of [['minmax', 'minmax'], ['entropy', 'entropy'], ['percentile', 'percentile99.99']] as const) {
        const amax = computeRanges([s], algo).x;
        // Same bins → equal up to f32 rounding of the bin width.
        expect(Math.abs(amax - (ref[key] as number)) / (ref[key] as number)).toBeLessThan(1e-5);
      }
    });
  }
});

describe.skipIf(!existsSync(SQUEEZENET))('light_squeezenet on the CPU backend', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-calib-'));
  let result: CalibrationResult;
  const modelBytes = existsSync(SQUEEZENET) ? new Uint8Array(readFileSync(SQUEEZENET)) : new Uint8Array();

  beforeAll(async () => {
    writeSamples(dir, 3, [3, 224, 224]);
    result = await calibrate(SQUEEZENET, dir, { algorithm: 'entropy2' });
  }, 300_000);

  it('writes a cache covering every network input and activation, read back bit-exactly', () => {
    const graph = calibGraph(decodeModelBytes(modelBytes));
    const text = writeCalibrationCache(result.ranges, { trtVersion: '8.6.1', algorithm: 'entropy2' });
    const cache = readCalibrationCache(text);
    expect(text.startsWith('TRT-8601-EntropyCalibration2\n')).toBe(true);
    expect(Object.keys(cache.bits).sort()).toEqual([...graph.dynamic].sort());
    expect(graph.dynamic).toContain('data_0');
    for (const [name, amax] of Object.entries(result.ranges)) {
      expect(amax).toBeGreaterThan(0);
      expect(cache.bits[name]).toBe(scaleBits(amax));
    }
  });

  it('entropy2 shares scales across every Concat and MaxPool', () => {
    const graph = calibGraph(decodeModelBytes(modelBytes));
    for (const n of graph.nodes) {
      if (n.opType === 'Concat') for (const i of n.inputs) expect(result.ranges[i]).toBe(result.ranges[n.outputs[0]]);
      if (n.opType === 'MaxPool') expect(result.ranges[n.outputs[0]]).toBe(result.ranges[n.inputs[0]]);
    }
  });

  it('writes Q/DQ ONNX that onnxruntime runs, agreeing with the FP32 model (cosine ≥ 0.99)', async () => {
    const qdq = writeQdqOnnx(modelBytes, result.ranges);
    expect(qdq.opsetFrom).toBe(9);
    expect(Object.keys(qdq.weights).length).toBe(26); // every Conv weight, per channel
    expect(qdq.activations.length).toBeGreaterThan(0);
    const fp32 = await ort.InferenceSession.create(modelBytes, { logSeverityLevel: 3 });
    const int8 = await ort.InferenceSession.create(qdq.bytes, { logSeverityLevel: 3 });
    const dataset = openDataset(dir, [{ name: 'data_0', dtype: 'float32', dims: [1, 3, 224, 224] }]);
    for await (const batch of dataset) {
      const t = batch.feeds.data_0;
      const feeds = { data_0: new ort.Tensor('float32', t.data as Float32Array, [...t.dims]) };
      const a = (await fp32.run(feeds)).softmaxout_1.data as Float32Array;
      const b = (await int8.run(feeds)).softmaxout_1.data as Float32Array;
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let i = 0; i < a.length; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
      }
      expect(dot / Math.sqrt(na * nb)).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('builds an INT8 engine from the cache ranges and reports its accuracy', async (ctx) => {
    if (!(await int8Available('cpu'))) {
      ctx.skip(); // BuilderConfig.int8 has not landed in this build of the engine
      return;
    }
    const cache = readCalibrationCache(writeCalibrationCache(result.ranges, { trtVersion: '10.3.0' }));
    const ranges = Object.fromEntries(Object.entries(cache.scales).map(([k, s]) => [k, s * 127]));
    const dataset = openDataset(dir, [{ name: 'data_0', dtype: 'float32', dims: [1, 3, 224, 224] }]);
    const report = await accuracyReport(modelBytes, ranges, dataset, { batchShapes: dataset.batchShapes });
    expect(report.samples).toBe(3);
    expect(report.outputs[0].name).toBe('softmaxout_1');
    expect(report.outputs[0].cosine).toBeGreaterThan(0.9);
    expect(report.outputs[0].top1Agreement).toBeDefined();
  });
});

/** cosine of two flat arrays */
function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

// Bundled test models with real (random) weights: the Q/DQ model must stay close to FP32, and the per-channel
// axes must follow the op (Conv 0, Gemm transB=1 0, MatMul/Gemm transB=0 1).
const MODELS = [
  { name: 'small_cnn', input: 'input', dims: [2, 3, 16, 16], output: 'probs', weights: { 'conv1.w': 0, 'conv2.w': 0, 'fc.w': 0 } },
  { name: 'mlp_dynamic_batch', input: 'features', dims: [5, 32], output: 'scores', weights: { 'fc1.w': 1, 'fc2.w': 1, 'fc3.w': 1 } },
  { name: 'residual_block', input: 'x', dims: [1, 8, 12, 12], output: 'y', weights: { 'conv_a.w': 0, 'conv_b.w': 0 } },
];

describe('Q/DQ ONNX of the bundled test models in onnxruntime', () => {
  for (const m of MODELS) {
    const file = new URL(`../../../test-models/${m.name}.onnx`, import.meta.url).pathname;
    it.skipIf(!existsSync(file))(`${m.name}: every algorithm keeps cosine ≥ 0.99 against FP32`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `kiln-qdq-${m.name}-`));
      let seed = 99;
      const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
      const n = m.dims.reduce((a, b) => a * b, 1);
      const batches: Float32Array[] = [];
      for (let i = 0; i < 3; i++) {
        const data = new Float32Array(n).map(() => next() * 2 - 1);
        batches.push(data);
        writeFileSync(join(dir, `b${i}.npy`), writeNpy({ dtype: 'float32', dims: m.dims, data }));
      }
      const bytes = new Uint8Array(readFileSync(file));
      const fp32 = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
      for (const algorithm of ['entropy2', 'entropy', 'minmax', 'percentile'] as const) {
        const r = await calibrate(file, dir, { algorithm });
        const qdq = writeQdqOnnx(bytes, r.ranges);
        expect(qdq.weights).toEqual(m.weights);
        const int8 = await ort.InferenceSession.create(qdq.bytes, { logSeverityLevel: 3 });
        for (const data of batches) {
          const feeds = { [m.input]: new ort.Tensor('float32', data, m.dims) };
          const a = (await fp32.run(feeds))[m.output].data as Float32Array;
          const b = (await int8.run(feeds))[m.output].data as Float32Array;
          expect(cosine(a, b)).toBeGreaterThanOrEqual(0.99);
          // Quantization is really there: the outputs are not bit-identical.
          expect(a.some((v, i) => v !== b[i])).toBe(true);
        }
        if (algorithm === 'entropy2' && supportedOps.includes('QuantizeLinear')) {
          // Kiln builds the Q/DQ model too (explicit quantization) and agrees with onnxruntime on it.
          const parsed = await parseOnnx(qdq.bytes);
          const profile = profileFor(parsed, { [m.input]: m.dims });
          const ctx = (await Engine.load(await Builder.build(parsed.network, profile ? { profiles: [profile] } : {}))).createContext();
          for (const data of batches) {
            const kiln = (await ctx.run({ [m.input]: new Tensor('float32', data, m.dims) }))[m.output].data as Float32Array;
            const ref = (await int8.run({ [m.input]: new ort.Tensor('float32', data, m.dims) }))[m.output].data as Float32Array;
            expect(cosine(kiln, ref)).toBeGreaterThanOrEqual(0.999);
          }
        }
      }
    });
  }
});
