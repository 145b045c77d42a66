/** onnx-proto decodes int64 fields as long.js objects ({low, high}); small hand-made values may be numbers. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return Number(v);
  if (v && typeof v === 'object' && typeof (v as { low?: unknown }).low === 'number') {
    const { low, high } = v as { low: number; high: number };
    return high * 4294967296 + (low >>> 0);
  }
  return NaN;
}
