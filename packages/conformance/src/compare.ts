/**
 * Output comparison against an oracle tensor: dtype, shape, then values.
 * Floats: |actual - expected| <= atol + rtol * |expected| (numpy.testing.assert_allclose's rule),
 * NaN matches NaN, infinities must match exactly. Integers and bools: exact.
 */
import type { Tensor } from '@kiln/core';

export interface Tolerance { rtol: number; atol: number }

/** What any tensor-like result needs for comparison (Kiln's Tensor and onnxruntime's both fit). */
export interface TensorLike { type: string; dims: readonly number[]; data: ArrayLike<number | bigint> }

const FLOAT_TYPES = new Set(['float32', 'float64', 'float16']);

/** IEEE half bits → number (Kiln and onnxruntime store float16 as Uint16 bit patterns). */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Returns null when equal within tolerance, else a one-line description of the first mismatch. */
export function compareTensors(name: string, actual: TensorLike | Tensor, expected: TensorLike | Tensor, tol: Tolerance): string | null {
  if (actual.type !== expected.type) return `${name}: dtype ${actual.type}, expected ${expected.type}`;
  const ad = [...actual.dims];
  const ed = [...expected.dims];
  if (ad.length !== ed.length || ad.some((d, i) => d !== ed[i])) return `${name}: shape [${ad.join(',')}], expected [${ed.join(',')}]`;
  const a = actual.data;
  const e = expected.data;
  if (a.length !== e.length) return `${name}: ${a.length} elements, expected ${e.length}`;
  const isFloat = FLOAT_TYPES.has(expected.type);
  const isHalf = expected.type === 'float16';
  let bad = 0;
  let first = '';
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    if (isFloat) {
      const x = isHalf ? halfToNumber(a[i] as number) : (a[i] as number);
      const y = isHalf ? halfToNumber(e[i] as number) : (e[i] as number);
      // Infinities (either side) must match exactly: inf - inf tolerances would otherwise accept -inf vs inf.
      const ok = Number.isNaN(y) ? Number.isNaN(x)
        : x === y || (Number.isFinite(y) && Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y));
      if (ok) continue;
      const err = Math.abs(x - y);
      if (!(err <= worst)) worst = err;
      if (bad++ === 0) first = `[${i}] ${x} vs ${y}`;
    } else if (a[i] !== e[i]) {
      if (bad++ === 0) first = `[${i}] ${String(a[i])} vs ${String(e[i])}`;
    }
  }
  if (bad === 0) return null;
  const tolText = isFloat ? ` (rtol ${tol.rtol}, atol ${tol.atol}; max abs err ${worst})` : ' (exact)';
  return `${name}: ${bad}/${e.length} values differ${tolText}; first ${first}`;
}
