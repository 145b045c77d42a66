import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpy, writeNpy, type NpyArray, type NpyDType } from '../src/npy';
import { fromHalfBits, toHalfBits } from '../src/half';

const SAMPLES: Record<NpyDType, NpyArray['data']> = {
  float32: Float32Array.from([0, -1.5, 3.25, 1e30, -0, 7, Number.NaN, Infinity]),
  float64: Float64Array.from([0, -1.5, Math.PI, 1e300, -0, 7, Number.NaN, -Infinity]),
  float16: Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000, 0x3555]),
  int8: Int8Array.from([-128, -1, 0, 1, 2, 3, 100, 127]),
  uint8: Uint8Array.from([0, 1, 2, 3, 4, 128, 254, 255]),
  int16: Int16Array.from([-32768, -1, 0, 1, 2, 3, 300, 32767]),
  uint16: Uint16Array.from([0, 1, 2, 3, 4, 5, 40000, 65535]),
  int32: Int32Array.from([-2147483648, -1, 0, 1, 2, 3, 70000, 2147483647]),
  uint32: Uint32Array.from([0, 1, 2, 3, 4, 5, 3000000000, 4294967295]),
  int64: BigInt64Array.from([-(2n ** 63n), -1n, 0n, 1n, 2n, 3n, 2n ** 40n, 2n ** 63n - 1n]),
  uint64: BigUint64Array.from([0n, 1n, 2n, 3n, 4n, 5n, 2n ** 40n, 2n ** 64n - 1n]),
  bool: Uint8Array.from([0, 1, 1, 0, 0, 0, 1, 1]),
};

function hasNumpy(): boolean {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function header(dict: string, major: number): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const body = new TextEncoder().encode(dict);
  const total = Math.ceil((prefix + body.length + 1) / 64) * 64;
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  out.set(body, prefix);
  out.fill(0x20, prefix + body.length, total - 1);
  out[total - 1] = 0x0a;
  return out;
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  const r = new Uint8Array(a.length + b.length);
  r.set(a);
  r.set(b, a.length);
  return r;
};

describe('npy', () => {
  for (const [dtype, data] of Object.entries(SAMPLES) as Array<[NpyDType, NpyArray['data']]>) {
    it(`round-trips ${dtype}`, () => {
      const bytes = writeNpy({ dtype, dims: [2, 4], data });
      expect((bytes.length - data.byteLength) % 64).toBe(0);
      const back = readNpy(bytes);
      expect(back.dtype).toBe(dtype);
      expect(back.dims).toEqual([2, 4]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
    });
  }

  it('handles scalars, 1-D and empty arrays', () => {
    expect(readNpy(writeNpy({ dtype: 'float32', dims: [], data: Float32Array.from([5]) }))).toMatchObject({ dims: [] });
    const one = writeNpy({ dtype: 'int32', dims: [3], data: Int32Array.from([1, 2, 3]) });
    expect(new TextDecoder().decode(one.subarray(10, 70))).toContain("'shape': (3,)");
    expect(readNpy(writeNpy({ dtype: 'float32', dims: [0, 3], data: new Float32Array(0) })).dims).toEqual([0, 3]);
  });

  it('reads version 2.0 and 3.0 headers', () => {
    const data = new Uint8Array(Float32Array.from([1, 2, 3]).buffer);
    for (const major of [2, 3]) {
      const a = readNpy(concat(header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", major), data));
      expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3]);
    }
  });

  it('refuses fortran order, big-endian, bad magic and wrong sizes with coded errors', () => {
    const data = new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer);
    const cases: Array<[Uint8Array, RegExp]> = [
      [concat(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 1), data), /fortran_order/],
      [concat(header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", 1), data), /big-endian/],
      [concat(header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 1), data), /unsupported .npy dtype/],
      [concat(header("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 1), data), /needs 20/],
      [header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 4), /format version 4/],
      [new Uint8Array([1, 2, 3]), /magic/],
      [header("{'descr': '<f4'}", 1), /malformed/],
    ];
    for (const [bytes, msg] of cases) {
      expect(() => readNpy(bytes, 'x.npy')).toThrow(msg);
      try {
        readNpy(bytes, 'x.npy');
      } catch (e) {
        expect((e as { code: string }).code).toBe('KILN_E_INVALID_INPUT');
      }
    }
  });

  it('converts half floats', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.333251953125]) {
      expect(fromHalfBits(toHalfBits(v))).toBe(v);
    }
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN)))).toBe(true);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
  });

  it.skipIf(!hasNumpy())('agrees with numpy both ways', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-npy-'));
    for (const [dtype, data] of Object.entries(SAMPLES) as Array<[NpyDType, NpyArray['data']]>) {
      writeFileSync(join(dir, `${dtype}.npy`), writeNpy({ dtype, dims: [4, 2], data }));
    }
    const script = `
import numpy as np, sys, os
d = sys.argv[1]
names = ${JSON.stringify(Object.keys(SAMPLES))}
np_names = {'float32':'<f4','float64':'<f8','float16':'<f2','int8':'|i1','uint8':'|u1','int16':'<i2','uint16':'<u2','int32':'<i4','uint32':'<u4','int64':'<i8','uint64':'<u8','bool':'|b1'}
for n in names:
    a = np.load(os.path.join(d, n + '.npy'))
    assert a.dtype.str == np_names[n], (n, a.dtype.str)
    assert a.shape == (4, 2), a.shape
    np.save(os.path.join(d, n + '.back.npy'), a)
np.lib.format.write_array(open(os.path.join(d, 'v3.npy'), 'wb'), np.arange(6, dtype='<i4').reshape(2, 3), version=(3, 0))
np.save(os.path.join(d, 'fortran.npy'), np.asfortranarray(np.ones((2, 3), dtype='<f4')))
`;
    execFileSync('python3', ['-c', script, dir]);
    for (const [dtype, data] of Object.entries(SAMPLES) as Array<[NpyDType, NpyArray['data']]>) {
      const back = readNpy(new Uint8Array(readFileSync(join(dir, `${dtype}.back.npy`))));
      expect(back.dtype).toBe(dtype);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
    }
    const v3 = readNpy(new Uint8Array(readFileSync(join(dir, 'v3.npy'))));
    expect(v3.dims).toEqual([2, 3]);
    expect(Array.from(v3.data as Int32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => readNpy(new Uint8Array(readFileSync(join(dir, 'fortran.npy'))))).toThrow(/fortran_order/);
  });
});
