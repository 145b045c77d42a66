/** Turns per-tensor statistics into an amax per tensor with one of the four calibrators. */
import { KilnError } from '@kiln/core';
import type { TensorStats } from '../stats';
import { entropyAmax, type EntropyOptions } from './entropy';
import { DEFAULT_PERCENTILE, percentileAmax } from './percentile';
import { shareScales, type GraphNode } from './share';

export { entropyAmax, entropyDivergences, expandQuantized, klDivergence, klDivergenceDirect } from './entropy';
export type { EntropyOptions, EntropyResult } from './entropy';
export { percentileAmax, DEFAULT_PERCENTILE } from './percentile';
export { shareScales, POOLING_OPS } from './share';
export type { GraphNode } from './share';

export type Algorithm = 'entropy2' | 'entropy' | 'minmax' | 'percentile';
export const ALGORITHMS: readonly Algorithm[] = ['entropy2', 'entropy', 'minmax', 'percentile'];

export interface CalibratorOptions {
  entropy?: EntropyOptions;
  /** Percentile for 'percentile' (default 99.99). */
  percentile?: number;
  /** Graph nodes (op type, inputs, outputs by tensor name) for entropy2's scale sharing. */
  graph?: readonly GraphNode[];
  /** entropy2 only: set false to skip scale sharing. Default true. */
  shareScales?: boolean;
}

export function isAlgorithm(v: unknown): v is Algorithm {
  return typeof v === 'string' && (ALGORITHMS as readonly string[]).includes(v);
}

/** amax of one tensor; 0 for a tensor that was all zeros (its scale then encodes as 0). */
export function tensorAmax(stats: TensorStats, algorithm: Algorithm, options: CalibratorOptions = {}): number {
  if (algorithm === 'minmax' || stats.binWidth === 0 || stats.counts.length === 0) return stats.amax;
  if (algorithm === 'percentile') return percentileAmax(stats.counts, stats.binWidth, options.percentile ?? DEFAULT_PERCENTILE);
  return entropyAmax(stats.counts, stats.binWidth, options.entropy).amax;
}

/** amax of every tensor: `{name: amax}` in the order of `stats`. */
export function computeRanges(stats: readonly TensorStats[], algorithm: Algorithm, options: CalibratorOptions = {}): Record<string, number> {
  if (!isAlgorithm(algorithm)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `unknown calibration algorithm '${String(algorithm)}'; use one of ${ALGORITHMS.join(', ')}`);
  }
  const ranges: Record<string, number> = {};
  for (const s of stats) ranges[s.name] = tensorAmax(s, algorithm, options);
  if (algorithm === 'entropy2' && (options.shareScales ?? true) && options.graph) return shareScales(ranges, options.graph);
  return ranges;
}
