/**
 * Per-tensor calibration statistics: the running max of |x| and a histogram of |x| with a fixed bin width
 * that grows by appending bins (pytorch-quantization's HistogramCalibrator, calibration.md §1.1). This is the
 * shape the engine's `ExecutionContext.calibrationStats()` returns; `HistogramCollector` is the same
 * accumulator in TypeScript, used when statistics are gathered from plain inference outputs.
 */
import { KilnError } from '@kiln/core';

export interface TensorStats {
  name: string;
  dtype: string;
  /** max |x| over every finite element seen. */
  amax: number;
  /** Width of every bin; 0 while no non-zero value was seen (no histogram yet). */
  binWidth: number;
  /** |x| histogram: bin i covers [i*w, (i+1)*w); the maximum lands in the last bin. */
  counts: Float64Array;
  /** NaN/±Inf elements, left out of amax and the histogram. */
  nonFinite: number;
  /** Producing layer type ("convolution", "concatenation", …) or "input". */
  producer: string;
}

export const DEFAULT_NUM_BINS = 2048;

/** Accumulates one tensor's |x| statistics batch by batch (never keeps the activations). */
export class HistogramCollector {
  readonly name: string;
  readonly dtype: string;
  readonly producer: string;
  readonly numBins: number;
  amax = 0;
  binWidth = 0;
  counts = new Float64Array(0);
  nonFinite = 0;
  /** Zeros seen before the first non-zero batch: they belong to bin 0 once the histogram exists. */
  #pendingZeros = 0;

  constructor(name: string, options: { dtype?: string; producer?: string; numBins?: number } = {}) {
    this.name = name;
    this.dtype = options.dtype ?? 'float32';
    this.producer = options.producer ?? 'unknown';
    this.numBins = options.numBins ?? DEFAULT_NUM_BINS;
    if (!Number.isSafeInteger(this.numBins) || this.numBins < 1) {
      throw new KilnError('KILN_E_INVALID_VALUE', `numBins must be a positive integer, got ${this.numBins}`);
    }
  }

  /** Adds one batch of values (any numeric array; float16 must be decoded to numbers first). */
  add(values: ArrayLike<number>): void {
    let max = 0;
    let finite = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      if (a === Infinity || Number.isNaN(a)) this.nonFinite++;
      else {
        finite++;
        if (a > max) max = a;
      }
    }
    if (finite === 0) return;
    if (max > this.amax) this.amax = max;
    if (this.binWidth === 0) {
      if (max === 0) {
        // A zero-width histogram is meaningless (calibration.md §1.1 c): wait for a batch with a range.
        this.#pendingZeros += finite;
        return;
      }
      this.binWidth = max / this.numBins;
      this.counts = new Float64Array(this.numBins);
      this.counts[0] += this.#pendingZeros;
      this.#pendingZeros = 0;
    } else if (max > this.binWidth * this.counts.length) {
      // Keep the width, append bins until the top edge covers the new max (pytorch-quant: ceil(max / w)).
      const grown = new Float64Array(Math.ceil(max / this.binWidth));
      grown.set(this.counts);
      this.counts = grown;
    }
    const w = this.binWidth;
    const last = this.counts.length - 1;
    const counts = this.counts;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      if (!(a < Infinity)) continue; // NaN and Inf
      const b = Math.floor(a / w);
      counts[b > last ? last : b]++;
    }
  }

  stats(): TensorStats {
    const counts = this.binWidth === 0 ? new Float64Array(0) : this.counts.slice();
    return { name: this.name, dtype: this.dtype, amax: this.amax, binWidth: this.binWidth, counts, nonFinite: this.nonFinite, producer: this.producer };
  }
}

/**
 * Merges statistics of the same tensor from several runs (e.g. several contexts): the histogram with the
 * wider range keeps its width, the other's counts are re-binned onto it by bin centre.
 */
export function mergeStats(a: TensorStats, b: TensorStats): TensorStats {
  if (a.name !== b.name) throw new KilnError('KILN_E_INVALID_VALUE', `cannot merge statistics of '${a.name}' and '${b.name}'`);
  const amax = Math.max(a.amax, b.amax);
  const nonFinite = a.nonFinite + b.nonFinite;
  if (b.binWidth === 0 || b.counts.length === 0) return { ...a, amax, nonFinite, counts: a.counts.slice() };
  if (a.binWidth === 0 || a.counts.length === 0) return { ...b, amax, nonFinite, counts: b.counts.slice() };
  const [base, other] = a.binWidth >= b.binWidth ? [a, b] : [b, a];
  const w = base.binWidth;
  let counts = base.counts.slice();
  const need = Math.ceil(amax / w);
  if (need > counts.length) {
    const grown = new Float64Array(need);
    grown.set(counts);
    counts = grown;
  }
  for (let i = 0; i < other.counts.length; i++) {
    const c = other.counts[i];
    if (c === 0) continue;
    const j = Math.min(Math.floor(((i + 0.5) * other.binWidth) / w), counts.length - 1);
    counts[j] += c;
  }
  return { ...base, amax, nonFinite, counts };
}
