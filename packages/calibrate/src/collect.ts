/**
 * Gathering per-tensor statistics by running the model on calibration batches.
 *
 * Preferred path ("engine"): a plan built with `calibration: true` keeps every tensor, and
 * `ExecutionContext.calibrate()` accumulates the |x| statistics where the tensors live (no activations copied
 * out). Where the engine does not offer calibration mode (older bindings), the fallback ("outputs") runs an
 * augmented copy of the ONNX model that exposes every activation as a graph output (calibration.md §6) and
 * histograms them here, batch by batch, with the same accumulator semantics.
 */
import { Builder, Engine, KilnError, Tensor, type BuilderConfig, type ExecutionContext, type ShapeRange } from '@kiln/core';
import { parseOnnx } from '@kiln/onnx';
import type { Batch, Dataset } from './dataset/index';
import { augmentModel, calibGraph, decodeModelBytes, type CalibGraph } from './graph';
import { HistogramCollector, type TensorStats } from './stats';

export type CollectMode = 'engine' | 'outputs';

/** The calibration-mode methods of ExecutionContext (added by the engine's calibration mode). */
interface CalibratingContext {
  calibrate(feeds: Record<string, Tensor>): Promise<void>;
  calibrationStats(): TensorStats[];
  resetCalibration(): void;
}

function hasCalibration(ctx: ExecutionContext): boolean {
  const c = ctx as unknown as Partial<CalibratingContext>;
  return typeof c.calibrate === 'function' && typeof c.calibrationStats === 'function';
}

export interface CollectOptions {
  backend?: 'cpu' | 'cuda';
  numThreads?: number;
  /** Force one path (tests); default: the engine's calibration mode when available. */
  mode?: CollectMode;
  /** Called after every batch. */
  onBatch?: (done: number, batch: Batch) => void;
}

export interface CollectResult {
  stats: TensorStats[];
  graph: CalibGraph;
  mode: CollectMode;
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

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE half bits → number (float16 tensors hold raw bits). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  u32buf[0] = ((h & 0x8000) << 16) | ((exp - 15 + 127) << 23) | (frac << 13);
  return f32buf[0];
}

function floatValues(t: Tensor): ArrayLike<number> | undefined {
  if (t.type === 'float32' || t.type === 'float64') return t.data as Float32Array;
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, halfToFloat);
  return undefined;
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
  let mode: CollectMode = options.mode ?? 'engine';
  let done = 0;

  if (mode === 'engine') {
    const engine = await buildEngine(modelBytes, baseDir, { backend, calibration: true }, dataset.batchShapes);
    const ctx = engine.createContext({ numThreads: options.numThreads ?? 0 });
    if (hasCalibration(ctx)) {
      const c = ctx as unknown as CalibratingContext;
      c.resetCalibration();
      for await (const batch of batches) {
        await c.calibrate(batch.feeds);
        options.onBatch?.(++done, batch);
      }
      // Keep the ONNX tensors: composed ops add internal tensors TensorRT would never name.
      const stats = c.calibrationStats().filter((s) => wanted.has(s.name));
      return { stats: orderLike(stats, graph.dynamic), graph, mode, batches: done };
    }
    if (options.mode === 'engine') throw new KilnError('KILN_E_UNSUPPORTED', 'this build of the engine has no calibration mode (ExecutionContext.calibrate)');
    mode = 'outputs';
  }

  const augmented = augmentModel(model, graph);
  const engine = await buildEngine(augmented, baseDir, { backend }, dataset.batchShapes);
  const ctx = engine.createContext({ numThreads: options.numThreads ?? 0 });
  const collectors = new Map<string, HistogramCollector>();
  const collector = (name: string, dtype: string): HistogramCollector => {
    let c = collectors.get(name);
    if (!c) {
      c = new HistogramCollector(name, { dtype, producer: graph.producer.get(name) ?? 'unknown' });
      collectors.set(name, c);
    }
    return c;
  };
  for await (const batch of batches) {
    for (const [name, t] of Object.entries(batch.feeds)) {
      const v = wanted.has(name) ? floatValues(t) : undefined;
      if (v) collector(name, t.type).add(v);
    }
    const outputs = await ctx.run(batch.feeds);
    for (const [name, t] of Object.entries(outputs)) {
      const v = wanted.has(name) ? floatValues(t) : undefined;
      if (v) collector(name, t.type).add(v);
    }
    options.onBatch?.(++done, batch);
  }
  const stats = [...collectors.values()].map((c) => c.stats());
  return { stats: orderLike(stats, graph.dynamic), graph, mode, batches: done };
}

function orderLike(stats: TensorStats[], order: string[]): TensorStats[] {
  const rank = new Map(order.map((n, i) => [n, i]));
  return [...stats].sort((a, b) => (rank.get(a.name) ?? Infinity) - (rank.get(b.name) ?? Infinity));
}
