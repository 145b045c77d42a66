/**
 * onnx-proto decodes int64 fields as long.js `Long` objects ({low, high, unsigned}); small values in
 * hand-made messages may be plain numbers. These helpers convert once, at the boundary.
 */
import { InvalidNodeError } from './errors';

type LongLike = { low: number; high: number; unsigned?: boolean };

function isLongLike(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}

/** An int64 field as a bigint (exact). Throws InvalidNodeError on anything that is not an integer. */
export function toBigInt(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new InvalidNodeError(`${what}: ${v} is not an integer`);
    return BigInt(v);
  }
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (isLongLike(v)) {
    const u = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
    return v.unsigned ? u : BigInt.asIntN(64, u);
  }
  throw new InvalidNodeError(`${what}: expected an integer, got ${typeof v}`);
}

/** An int64 field as a number; throws when it does not fit exactly (|v| > 2^53). */
export function toSafeNumber(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  const b = toBigInt(v, what);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new InvalidNodeError(`${what}: ${b} does not fit in a JS number`);
  }
  return Number(b);
}

/** An int64 attribute as a number, clamping values beyond ±2^53 (ONNX uses INT64_MAX/MIN as "to the end" in Slice). */
export function toClampedNumber(v: unknown, what: string): number {
  const b = toBigInt(v, what);
  if (b > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (b < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(b);
}
