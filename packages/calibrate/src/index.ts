/**
 * @kiln/calibrate — INT8 post-training calibration for Kiln: datasets (.npy, raw, images), per-tensor |x|
 * statistics, the entropy / entropy2 / minmax / percentile calibrators, TensorRT calibration caches, Kiln
 * dynamic-range JSON, Q/DQ ONNX, and INT8-vs-FP32 accuracy reports.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { computeRanges, type Algorithm, type CalibratorOptions } from './calibrators/index';
import { collectStats } from './collect';
import { openDataset, type DatasetOptions } from './dataset/index';
import { calibGraph, decodeModelBytes } from './graph';
import { parseOnnx } from '@kiln/onnx';
import type { TensorStats } from './stats';

export * from './calibrators/index';
export * from './cache';
export { HistogramCollector, mergeStats, DEFAULT_NUM_BINS, type TensorStats } from './stats';
export { collectStats, profileFor, type CollectOptions, type CollectResult } from './collect';
export { openDataset, listFiles, checkPreprocessSpec, readImage, type Dataset, type DatasetOptions, type InputSpec, type RawSpec, type Batch, type PreprocessSpec } from './dataset/index';
export { calibGraph, decodeModelBytes, type CalibGraph } from './graph';
export { writeQdqOnnx, type QdqOptions, type QdqResult } from './qdq';
export { upgradeOpset, TARGET_OPSET } from './opset';
export { accuracyReport, int8Available, formatAccuracy, type AccuracyReport, type OutputAccuracy } from './accuracy';
export { readNpy, readNpyHeader, writeNpy, NpyError, type NpyArray, type NpyDType, type NpyHeader } from './npy';

export interface CalibrateOptions extends DatasetOptions, CalibratorOptions {
  algorithm?: Algorithm;
  backend?: 'cpu' | 'cuda';
  numThreads?: number;
  onBatch?: (done: number, total: number) => void;
}

export interface CalibrationResult {
  algorithm: Algorithm;
  ranges: Record<string, number>;
  stats: TensorStats[];
  batches: number;
}

/** One call: open the dataset for the model's inputs, collect statistics, compute ranges. */
export async function calibrate(model: string | Uint8Array, data: string | Record<string, string>, options: CalibrateOptions = {}): Promise<CalibrationResult> {
  const bytes = typeof model === 'string' ? new Uint8Array(readFileSync(model)) : model;
  const baseDir = typeof model === 'string' ? path.dirname(path.resolve(model)) : undefined;
  const parsed = await parseOnnx(bytes, { baseDir });
  const dataset = openDataset(data, parsed.inputs, options);
  const algorithm = options.algorithm ?? 'entropy2';
  const collected = await collectStats(bytes, dataset, {
    backend: options.backend,
    numThreads: options.numThreads,
    baseDir,
    onBatch: (done) => options.onBatch?.(done, dataset.numBatches),
  });
  const graph = calibGraph(decodeModelBytes(bytes));
  const ranges = computeRanges(collected.stats, algorithm, { ...options, graph: options.graph ?? graph.nodes });
  return { algorithm, ranges, stats: collected.stats, batches: collected.batches };
}
