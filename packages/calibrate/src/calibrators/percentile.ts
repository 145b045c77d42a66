/** Percentile calibration on the |x| histogram (pytorch-quantization, calibration.md §2). */
import { KilnError } from '@kiln/core';

export const DEFAULT_PERCENTILE = 99.99;

/**
 * amax = lower edge of the first bin whose cumulative share reaches `percentile`/100
 * (cdf = cumsum(h / Σh), left searchsorted — the same order of operations as pytorch-quant).
 */
export function percentileAmax(counts: Float64Array, binWidth: number, percentile = DEFAULT_PERCENTILE): number {
  if (!(percentile > 0 && percentile <= 100)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `percentile must be in (0, 100], got ${percentile}`);
  }
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return 0;
  const target = percentile / 100;
  let cdf = 0;
  for (let i = 0; i < counts.length; i++) {
    cdf += counts[i] / total;
    if (cdf >= target) return i * binWidth;
  }
  // Rounding left the cdf a hair below 1 with percentile 100: numpy's searchsorted returns len(cdf).
  return counts.length * binWidth;
}
