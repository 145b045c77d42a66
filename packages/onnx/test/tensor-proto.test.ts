import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeNative, makeModel, T, valueInfo } from './helpers';
import { Network } from '@kiln/core';
import { OnnxError, parseOnnxSync, readTensorProto } from '../src/index';
import { onnx, type IAttributeProto, type ITensorProto, type IValueInfoProto } from '../src/proto';

function roundTrip(tp: ITensorProto, pad = 0) {
  const enc = onnx.TensorProto.encode(onnx.TensorProto.create(tp)).finish();
  // Place the message at an odd offset of a larger buffer, so raw_data views are unaligned.
  const buf = new Uint8Array(enc.length + pad);
  buf.set(enc, pad);
  return readTensorProto(buf.subarray(pad));
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('TensorProto decoding', () => {
  it('raw_data at an unaligned offset, for float32/int64/float16/bool', () => {
    const f = new Float32Array([1.5, -2, 3.25]);
    const r = roundTrip({ name: 'a', dataType: T.FLOAT, dims: [3], rawData: new Uint8Array(f.buffer) }, 3);
    expect(r.name).toBe('a');
    expect(r.tensor.type).toBe('float32');
    expect(Array.from(r.tensor.data as Float32Array)).toEqual([1.5, -2, 3.25]);
    const i = new BigInt64Array([-(2n ** 40n), 7n]);
    expect(Array.from(roundTrip({ dataType: T.INT64, dims: [2], rawData: new Uint8Array(i.buffer) }, 1).tensor.data as BigInt64Array)).toEqual([-(2n ** 40n), 7n]);
    const h = roundTrip({ dataType: T.FLOAT16, dims: [1, 2], rawData: new Uint8Array([0x00, 0x3c, 0x00, 0xc0]) }, 5).tensor;
    expect(h.type).toBe('float16');
    expect(h.dims).toEqual([1, 2]);
    expect(Array.from(h.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(Array.from(roundTrip({ dataType: T.BOOL, dims: [2], rawData: new Uint8Array([1, 0]) }).tensor.data as Uint8Array)).toEqual([1, 0]);
  });

  it('typed fields: float_data, double_data, int32_data (narrow types, float16 bits), int64_data, uint64_data', () => {
    expect(Array.from(roundTrip({ dataType: T.FLOAT, dims: [2], floatData: [0.5, 4] }).tensor.data as Float32Array)).toEqual([0.5, 4]);
    const d = roundTrip({ dataType: T.DOUBLE, dims: [1], doubleData: [Math.PI] }).tensor;
    expect(d.type).toBe('float64');
    expect(d.data[0]).toBe(Math.PI);
    const cases: Array<[number, string, number[], number[]]> = [
      [T.INT32, 'int32', [-5, 2147483647], [-5, 2147483647]],
      [T.INT8, 'int8', [-128, 127], [-128, 127]],
      [T.UINT8, 'uint8', [0, 255], [0, 255]],
      [T.INT16, 'int16', [-32768, 5], [-32768, 5]],
      [T.UINT16, 'uint16', [65535, 1], [65535, 1]],
      [T.BOOL, 'bool', [1, 0], [1, 0]],
      [T.FLOAT16, 'float16', [0x3c00, 0x7c00], [0x3c00, 0x7c00]],
    ];
    for (const [dt, name, input, want] of cases) {
      const t = roundTrip({ dataType: dt, dims: [2], int32Data: input }).tensor;
      expect(t.type).toBe(name);
      expect(Array.from(t.data as ArrayLike<number>)).toEqual(want);
    }
    const i64 = roundTrip({ dataType: T.INT64, dims: [3], int64Data: [-1, 0, 9007199254740993n.toString() as unknown as number] }).tensor;
    expect(Array.from(i64.data as BigInt64Array)).toEqual([-1n, 0n, 9007199254740993n]);
    const u64 = roundTrip({ dataType: T.UINT64, dims: [1], uint64Data: ['18446744073709551615' as unknown as number] }).tensor;
    expect(u64.data[0]).toBe(18446744073709551615n);
    const u32 = roundTrip({ dataType: T.UINT32, dims: [2], uint64Data: [4294967295, 3] }).tensor;
    expect(u32.type).toBe('uint32');
    expect(Array.from(u32.data as Uint32Array)).toEqual([4294967295, 3]);
    // A scalar (no dims) and an empty tensor.
    expect(roundTrip({ dataType: T.FLOAT, floatData: [2] }).tensor.dims).toEqual([]);
    expect(roundTrip({ dataType: T.FLOAT, dims: [0, 3] }).tensor.size).toBe(0);
  });

  it('size mismatches are KILN_E_ONNX_INVALID, unsupported dtypes KILN_E_ONNX_UNSUPPORTED', () => {
    expect(codeOf(() => roundTrip({ dataType: T.FLOAT, dims: [3], rawData: new Uint8Array(8) }))).toBe('KILN_E_ONNX_INVALID');
    expect(codeOf(() => roundTrip({ dataType: T.INT64, dims: [2], int64Data: [1] }))).toBe('KILN_E_ONNX_INVALID');
    expect(codeOf(() => roundTrip({ dataType: T.FLOAT, dims: [-1], floatData: [] }))).toBe('KILN_E_ONNX_INVALID');
    expect(codeOf(() => roundTrip({ dataType: T.BFLOAT16, dims: [1], int32Data: [0] }))).toBe('KILN_E_ONNX_UNSUPPORTED');
    expect(codeOf(() => roundTrip({ dataType: T.STRING, dims: [1], stringData: [new Uint8Array([65])] }))).toBe('KILN_E_ONNX_UNSUPPORTED');
    expect(codeOf(() => readTensorProto(new Uint8Array([0xff, 0xff, 0xff])))).toBe('KILN_E_ONNX_INVALID');
  });
});

describe('external data', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-ext-'));
  const modelDir = path.join(root, 'model');
  fs.mkdirSync(modelDir);
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const weights = new Float32Array([10, 20, 30, 40]);
  const blob = new Uint8Array(16 + 16);
  blob.set(new Uint8Array(weights.buffer), 16);
  fs.writeFileSync(path.join(modelDir, 'weights.bin'), blob);
  fs.writeFileSync(path.join(root, 'secret.bin'), blob);

  function external(location: string, extra: Record<string, string> = { offset: '16', length: '16' }): ITensorProto {
    return {
      name: 'w', dataType: T.FLOAT, dims: [4], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: location }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))],
    };
  }

  function writeModel(init: ITensorProto, file = 'm.onnx'): string {
    const bytes = makeModel({
      nodes: [{ op: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }],
      inputs: [valueInfo('x', T.FLOAT, [4])],
      outputs: [valueInfo('y', T.FLOAT, [4])],
      initializers: [init],
    });
    const p = path.join(modelDir, file);
    fs.writeFileSync(p, bytes);
    return p;
  }

  function load(p: string | Uint8Array, baseDir?: string) {
    const fake = new FakeNative();
    parseOnnxSync(p, { network: new Network(fake), ...(baseDir ? { baseDir } : {}) });
    return fake;
  }

  it('reads location/offset/length relative to the model folder', () => {
    const fake = load(writeModel(external('weights.bin')));
    const w = fake.tensors.find((t) => t.name === 'w')!;
    expect(Array.from(new Float32Array(w.data!.buffer))).toEqual([10, 20, 30, 40]);
    // Bytes need baseDir.
    const bytes = fs.readFileSync(path.join(modelDir, 'm.onnx'));
    expect(codeOf(() => load(bytes))).toBe('KILN_E_ONNX_EXTERNAL_DATA');
    expect(load(bytes, modelDir).tensors.some((t) => t.name === 'w')).toBe(true);
  });

  it('refuses paths that escape the folder, absolute paths, missing files and short files', () => {
    const cases: Array<[ITensorProto, RegExp]> = [
      [external('../secret.bin'), /escapes the model folder/],
      [external('sub/../../secret.bin'), /escapes the model folder/],
      [external(path.join(root, 'secret.bin')), /absolute/],
      [external('missing.bin'), /not found/],
      [external('weights.bin', { offset: '24' }), /needs 16 bytes at offset 24/],
      [external('weights.bin', { offset: '-4' }), /non-negative decimal/],
      [external('weights.bin', { length: '12' }), /does not match/],
    ];
    for (const [init, why] of cases) {
      let e: OnnxError | undefined;
      try {
        load(writeModel(init));
      } catch (err) {
        e = err as OnnxError;
      }
      expect(e?.code, String(e)).toBe('KILN_E_ONNX_EXTERNAL_DATA');
      expect(e?.message).toMatch(why);
    }
  });

  it('refuses a symbolic link that points outside the folder', () => {
    const link = path.join(modelDir, 'link.bin');
    try {
      fs.symlinkSync(path.join(root, 'secret.bin'), link);
    } catch {
      return; // no symlink permission here
    }
    expect(() => load(writeModel(external('link.bin')))).toThrow(/outside the model folder/);
  });
});
