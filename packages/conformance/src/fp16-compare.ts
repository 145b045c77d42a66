/**
 * The FP16 acceptance rule (docs/gpu-testing.md, "FP16 tolerance"). An FP16 engine stores activations
 * (and usually computes) in binary16, unit roundoff u = 2^-11 ≈ 4.9e-4, so elementwise rtol/atol rules
 * made for FP32 do not apply. Per output tensor, against the FP32 oracle:
 *   1. same dtype and shape; NaN/±Inf exactly where the oracle has them, finite elsewhere;
 *   2. cosine similarity of the finite values ≥ 0.999 (skipped when the oracle is all zeros);
 *   3. max |actual − expected| ≤ 1e-4 + 2e-2 · max |expected|.
 * (2) catches wrong results spread over many elements (wrong layout, missing bias, transposed weights give
 * cosines far below 0.999); (3) bounds the worst element at 2e-2 of the output's scale, about 40 u: room for
 * error growth through tens of FP16 layers, while a wrong kernel gives errors of the order of the scale itself.
 * The constants are fixed here and never loosened to make a run pass.
 */
import { halfToNumber } from './compare.js';
import type { TensorLike } from './compare.js';

export const FP16_RULE = { minCosine: 0.999, relMaxAbs: 2e-2, atol: 1e-4 } as const;

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);

function values(t: TensorLike): Float64Array {
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = t.type === 'float16' ? halfToNumber(t.data[i] as number) : Number(t.data[i]);
  return out;
}

export interface Fp16Stats { cosine: number; maxAbsErr: number; scale: number }

/** Returns null when `actual` passes the FP16 rule against `expected`, else a one-line reason. */
export function compareFp16(name: string, actual: TensorLike, expected: TensorLike, stats?: (s: Fp16Stats) => void): string | null {
  if (actual.type !== expected.type) return `${name}: dtype ${actual.type}, expected ${expected.type}`;
  const ad = [...actual.dims];
  const ed = [...expected.dims];
  if (ad.length !== ed.length || ad.some((d, i) => d !== ed[i])) return `${name}: shape [${ad.join(',')}], expected [${ed.join(',')}]`;
  if (actual.data.length !== expected.data.length) return `${name}: ${actual.data.length} elements, expected ${expected.data.length}`;
  if (!FLOAT_TYPES.has(expected.type)) {
    for (let i = 0; i < expected.data.length; i++) {
      if (actual.data[i] !== expected.data[i]) return `${name}: [${i}] ${String(actual.data[i])} vs ${String(expected.data[i])} (exact for ${expected.type})`;
    }
    return null;
  }
  const a = values(actual);
  const e = values(expected);
  let dot = 0;
  let na = 0;
  let ne = 0;
  let maxErr = 0;
  let worstAt = -1;
  let scale = 0;
  for (let i = 0; i < e.length; i++) {
    const x = a[i];
    const y = e[i];
    if (!Number.isFinite(y)) {
      if (Number.isNaN(y) ? !Number.isNaN(x) : x !== y) return `${name}: [${i}] ${x}, expected ${y}`;
      continue;
    }
    if (!Number.isFinite(x)) return `${name}: [${i}] ${x}, expected finite ${y} (FP16 overflow?)`;
    dot += x * y;
    na += x * x;
    ne += y * y;
    scale = Math.max(scale, Math.abs(y));
    const err = Math.abs(x - y);
    if (err > maxErr) { maxErr = err; worstAt = i; }
  }
  const cosine = ne === 0 ? (na === 0 ? 1 : NaN) : na === 0 ? 0 : dot / (Math.sqrt(na) * Math.sqrt(ne));
  stats?.({ cosine, maxAbsErr: maxErr, scale });
  const bound = FP16_RULE.atol + FP16_RULE.relMaxAbs * scale;
  if (ne !== 0 && !(cosine >= FP16_RULE.minCosine)) {
    return `${name}: cosine ${cosine.toFixed(6)} < ${FP16_RULE.minCosine} (max abs err ${maxErr.toPrecision(3)}, scale ${scale.toPrecision(3)})`;
  }
  if (maxErr > bound) {
    return `${name}: max abs err ${maxErr.toPrecision(3)} at [${worstAt}] (${a[worstAt]} vs ${e[worstAt]}) > ${FP16_RULE.atol} + ${FP16_RULE.relMaxAbs}·max|expected| = ${bound.toPrecision(3)}; cosine ${cosine.toFixed(6)}`;
  }
  return null;
}
