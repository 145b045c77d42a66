/**
 * Gathering per-tensor statistics by running the model on calibration batches.
 *
 * A plan built with `calibration: true` keeps every tensor, and `ExecutionContext.calibrate()` accumulates the
 * |x| statistics where the tensors live (no activations copied out).
 */
import { Builder, Engine, type BuilderConfig, type ShapeRange } from '@kiln/core';
import { parseOnnx } from '@kiln/onnx';
import type { Batch, Dataset } from './dataset/index';
import { calibGraph, decodeModelBytes, type CalibGraph } from './graph';
import type { TensorStats } from './stats';

export interface CollectOptions {
  backend?: 'cpu' | 'cuda';
  numThreads?: number;
  /** Called after every batch. */
  onBatch?: (done: number, batch: Batch) => void;
}

export interface CollectResult {
  stats: TensorStats[];
  graph: CalibGraph;
  batches: number;
}

/** One profile covering the dataset's batch shapes: dynamic dims from 1 up to the first batch's size. */
export function profileFor(model: { inputs: Array<{ name: string; dims: number[] }> }, batchShapes: Record<string, number[]>): Record<string, ShapeRange> | undefined {
  const profile: Record<string, ShapeRange> = {};
  for (const input of model.inputs) {
    if (!input.dims.some((d) => d < 0)) continue;
    const shape = batchShapes[input.name];
    if (!shape) continue;
    profile[input.name] = { min: shape.map((d, i) => (input.dims[i] < 0 ? 1 : d)), opt: [...shape], max: [...shape] };
  }
  return Object.keys(profile).length > 0 ? profile : undefined;
}

async function buildEngine(bytes: Uint8Array, source: string, config: BuilderConfig & { calibration?: boolean }, batchShapes: Record<string, number[]>): Promise<Engine> {
  const model = await parseOnnx(bytes, { baseDir: source });
  const profile = profileFor(model, batchShapes);
  const cfg = { ...config, ...(profile ? { profiles: [profile] } : {}) };
  return Engine.load(await Builder.build(model.network, cfg));
}

/**
 * Runs every batch of `dataset` (or `batches`, a sub-range) and returns the statistics of every network input
 * and every activation (dynamic float tensor) of the ONNX graph, named by ONNX tensor names.
 * @param baseDir folder that external data of the model is relative to
 */
export async function collectStats(modelBytes: Uint8Array, dataset: Dataset, options: CollectOptions & { baseDir?: string; batches?: AsyncIterable<Batch> } = {}): Promise<CollectResult> {
  const model = decodeModelBytes(modelBytes);
  const graph = calibGraph(model);
  const wanted = new Set(graph.dynamic);
  const backend = options.backend ?? 'cpu';
  const baseDir = options.baseDir ?? process.cwd();
  const batches = options.batches ?? dataset;
  let done = 0;
  // Statistics of FP32 values, as on the CPU: no TF32 rounding in the CUDA engine's convolutions and GEMMs.
  const engine = await buildEngine(modelBytes, baseDir, { backend, calibration: true, ...(backend === 'cuda' ? { tf32: false } : {}) }, dataset.batchShapes);
  const ctx = engine.createContext({ numThreads: options.numThreads ?? 0 });
  ctx.resetCalibration();
  for await (const batch of batches) {
    await ctx.calibrate(batch.feeds);
    options.onBatch?.(++done, batch);
  }
  // Keep the ONNX tensors: composed ops add internal tensors TensorRT would never name.
  const stats = ctx.calibrationStats().filter((s) => wanted.has(s.name));
  return { stats: orderLike(stats, graph.dynamic), graph, batches: done };
}

function orderLike(stats: TensorStats[], order: string[]): TensorStats[] {
  const rank = new Map(order.map((n, i) => [n, i]));
  return [...stats].sort((a, b) => (rank.get(a.name) ?? Infinity) - (rank.get(b.name) ?? Infinity));
}
