import { describe, expect, it } from 'vitest';
import { validateFeeds } from '../src/validate';
import { Tensor } from '../src/tensor';
import type { IoInfo } from '../src/info';

const image: IoInfo = { name: 'image', dtype: 'float32', dims: [-1, 3, 4, 4], profiles: [[[1, 3, 4, 4], [2, 3, 4, 4], [4, 3, 4, 4]]] };
const scale: IoInfo = { name: 'scale', dtype: 'int64', dims: [2], profiles: [] };

const img = (n: number): Tensor => new Tensor('float32', new Float32Array(n * 48), [n, 3, 4, 4]);
const sc = (): Tensor => new Tensor('int64', [1n, 2n], [2]);

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected an error');
}

describe('validateFeeds', () => {
  it('accepts feeds inside the profile, in plan order', () => {
    const out = validateFeeds([image, scale], { scale: sc(), image: img(3) });
    expect(out.map(([n]) => n)).toEqual(['image', 'scale']);
  });

  it('names missing and unknown inputs', () => {
    let e = errorOf(() => validateFeeds([image, scale], { image: img(1) }));
    expect(e.code).toBe('KILN_E_INVALID_INPUT');
    expect(e.message).toContain("missing input 'scale'");
    e = errorOf(() => validateFeeds([image, scale], { image: img(1), scale: sc(), extra: sc() }));
    expect(e.message).toContain("unknown input 'extra'");
    expect(e.message).toContain('image, scale');
  });

  it('checks dtype, rank and static dims', () => {
    let e = errorOf(() => validateFeeds([scale], { scale: new Tensor('int32', [1, 2]) }));
    expect(e.message).toBe("input 'scale' must be int64, got int32");
    e = errorOf(() => validateFeeds([image], { image: new Tensor('float32', new Float32Array(48), [3, 4, 4]) }));
    expect(e.message).toContain('must have rank 4');
    e = errorOf(() => validateFeeds([image], { image: new Tensor('float32', new Float32Array(64), [1, 4, 4, 4]) }));
    expect(e.message).toContain('dimension 1 must be 3');
  });

  it('checks dynamic dims against the optimization profiles', () => {
    const e = errorOf(() => validateFeeds([image], { image: img(5) }));
    expect(e.code).toBe('KILN_E_INVALID_INPUT');
    expect(e.message).toContain('outside the plan');
    expect(e.message).toContain('[1, 3, 4, 4]..[4, 3, 4, 4]');
  });

  it('requires one profile shared by all inputs', () => {
    const a: IoInfo = { name: 'a', dtype: 'float32', dims: [-1], profiles: [[[1], [1], [2]], [[3], [3], [4]]] };
    const b: IoInfo = { name: 'b', dtype: 'float32', dims: [-1], profiles: [[[1], [1], [2]], [[3], [3], [4]]] };
    const t = (n: number): Tensor => new Tensor('float32', new Float32Array(n), [n]);
    expect(validateFeeds([a, b], { a: t(4), b: t(3) })).toHaveLength(2);
    const e = errorOf(() => validateFeeds([a, b], { a: t(1), b: t(4) }));
    expect(e.message).toContain('same profile');
  });

  it('accepts onnxruntime-like tensor objects and rejects other values', () => {
    expect(validateFeeds([scale], { scale: { type: 'int64', data: new BigInt64Array(2), dims: [2] } })).toHaveLength(1);
    expect(errorOf(() => validateFeeds([scale], { scale: [1, 2] })).message).toContain('must be a Tensor');
    expect(errorOf(() => validateFeeds([scale], null)).code).toBe('KILN_E_INVALID_INPUT');
  });
});
