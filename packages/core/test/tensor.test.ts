import { describe, expect, it } from 'vitest';
import { Tensor, dataTypeSize, shapeSize } from '../src/tensor';
import { KilnError } from '../src/errors';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return (e as KilnError).code;
  }
  return undefined;
}

describe('Tensor', () => {
  it('keeps a typed array of the right class as is', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = new Tensor('float32', data, [2, 3]);
    expect(t.data).toBe(data);
    expect(t.dims).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.type).toBe('float32');
  });

  it('defaults dims to 1-D', () => {
    expect(new Tensor('int32', new Int32Array(5)).dims).toEqual([5]);
  });

  it('converts plain arrays to the dtype class', () => {
    expect(new Tensor('float64', [1.5, 2]).data).toBeInstanceOf(Float64Array);
    const i64 = new Tensor('int64', [1n, -2n, 3n], [3]);
    expect(i64.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(i64.data as BigInt64Array)).toEqual([1n, -2n, 3n]);
    const b = new Tensor('bool', [0, 2, 1]);
    expect(Array.from(b.data as Uint8Array)).toEqual([0, 1, 1]);
    expect(Array.from(new Tensor('uint64', [4, 5]).data as BigUint64Array)).toEqual([4n, 5n]);
    expect(new Tensor('float16', [0x3c00]).data).toBeInstanceOf(Uint16Array);
  });

  it('supports scalars (dims [])', () => {
    const t = new Tensor('float32', [7], []);
    expect(t.size).toBe(1);
    expect(t.dims).toEqual([]);
  });

  it('rejects a mismatched typed array class', () => {
    expect(codeOf(() => new Tensor('float32', new Float64Array(2) as unknown as Float32Array))).toBe('KILN_E_INVALID_INPUT');
  });

  it('rejects data/dims size mismatches', () => {
    expect(codeOf(() => new Tensor('float32', new Float32Array(5), [2, 3]))).toBe('KILN_E_SHAPE_MISMATCH');
  });

  it('rejects bad dims and unknown types', () => {
    expect(codeOf(() => new Tensor('float32', [], [-1]))).toBe('KILN_E_INVALID_INPUT');
    expect(codeOf(() => new Tensor('float32', [1], [0.5]))).toBe('KILN_E_INVALID_INPUT');
    expect(codeOf(() => new Tensor('complex64' as never, [1]))).toBe('KILN_E_UNSUPPORTED_DTYPE');
    expect(codeOf(() => new Tensor('int64', [1.5]))).toBe('KILN_E_INVALID_INPUT');
  });

  it('round-trips little-endian bytes', () => {
    const t = new Tensor('int16', [1, -2, 300], [3]);
    const copy = Tensor.fromBytes('int16', t.bytes(), [3]);
    expect(Array.from(copy.data as Int16Array)).toEqual([1, -2, 300]);
    // Unaligned source bytes are copied, never viewed.
    const raw = new Uint8Array(9);
    raw.set(new Uint8Array(new Float32Array([1.25, -3]).buffer), 1);
    const f = Tensor.fromBytes('float32', raw.subarray(1), [2]);
    expect(Array.from(f.data as Float32Array)).toEqual([1.25, -3]);
    expect(codeOf(() => Tensor.fromBytes('float32', new Uint8Array(7), [2]))).toBe('KILN_E_SHAPE_MISMATCH');
  });

  it('knows element sizes and shape sizes', () => {
    expect(dataTypeSize('float16')).toBe(2);
    expect(dataTypeSize('uint64')).toBe(8);
    expect(dataTypeSize('bool')).toBe(1);
    expect(shapeSize([2, 3, 4])).toBe(24);
    expect(shapeSize([])).toBe(1);
    expect(codeOf(() => shapeSize([2 ** 40, 2 ** 40]))).toBe('KILN_E_TENSOR_TOO_LARGE');
  });
});
