/** Latency statistics for bench/trtexec reports. */

export interface LatencyStats {
  min: number;
  mean: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** Percentile by the nearest-rank method on an ascending array (what trtexec reports). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

export function latencyStats(samples: readonly number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || NaN);
  return {
    min: s.length ? s[0] : NaN,
    mean,
    median: median(s),
    p90: percentile(s, 90),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : NaN,
  };
}

export interface ValueStats {
  min: number;
  max: number;
  mean: number;
  std: number;
  nonFinite: number;
}

/** Summary of a tensor's values for `kiln run`; NaN/Inf are counted and left out of the rest. */
export function valueStats(values: ArrayLike<number | bigint>): ValueStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  let nonFinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSq += v * v;
    n++;
  }
  if (n === 0) return { min: NaN, max: NaN, mean: NaN, std: NaN, nonFinite };
  const mean = sum / n;
  return { min, max, mean, std: Math.sqrt(Math.max(0, sumSq / n - mean * mean)), nonFinite };
}
