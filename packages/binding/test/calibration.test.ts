/** The calibration surface of the raw binding: NativeContext.calibrate/calibrateSync/calibrationStats/resetCalibration. */
import { describe, expect, it } from 'vitest';
import { NativeEngine, NativeNetwork, buildPlanSync } from '../index.js';

const f32 = (values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);
const f16 = (bits: number[]): Buffer => Buffer.from(new Uint16Array(bits).buffer);

function context(dtype: 'float32' | 'float16' = 'float32', config = '{"calibration": true}') {
  const net = new NativeNetwork();
  const x = net.addInput('x', dtype, [4]);
  const [y] = net.addLayer('neg', JSON.stringify({ type: 'unary', op: 'neg' }), [x]);
  net.setTensorName(y!, 'y');
  net.markOutput(y!);
  return NativeEngine.load(buildPlanSync(net, config, 'cpu')).createContext(1);
}

describe('NativeContext calibration', () => {
  it('returns per-tensor statistics with Float64Array counts', async () => {
    const ctx = context();
    await ctx.calibrate([{ name: 'x', dtype: 'float32', dims: [4], data: f32([1, -2, 0, Number.POSITIVE_INFINITY]) }]);
    ctx.calibrateSync([{ name: 'x', dtype: 'float32', dims: [4], data: f32([0.5, 3, 0, 0]) }]);
    const stats = ctx.calibrationStats();
    expect(stats.map((s) => [s.name, s.producer, s.dtype])).toEqual([['x', 'input', 'float32'], ['y', 'unary', 'float32']]);
    const x = stats[0]!;
    expect(x.amax).toBe(3);
    expect(x.binWidth).toBe(2 / 2048); // fixed by the first batch
    expect(x.counts).toBeInstanceOf(Float64Array);
    expect(x.counts.length).toBe(3072); // grown to ceil(3 / w)
    expect(x.nonFinite).toBe(1);
    expect(Array.from(x.counts).reduce((a, b) => a + b, 0)).toBe(7);
    expect([x.counts[0], x.counts[512], x.counts[1024], x.counts[2047], x.counts[3071]]).toEqual([3, 1, 1, 1, 1]);
    ctx.resetCalibration();
    expect(ctx.calibrationStats()).toEqual([]);
  });

  it('calibrates float16 tensors and reports zeros-only tensors', () => {
    const ctx = context('float16');
    ctx.calibrateSync([{ name: 'x', dtype: 'float16', dims: [4], data: f16([0, 0x8000, 0, 0]) }]);
    const [x] = ctx.calibrationStats();
    expect(x).toMatchObject({ dtype: 'float16', amax: 0, binWidth: 0, nonFinite: 0 });
    expect(Array.from(x!.counts)).toEqual([4]);
    ctx.calibrateSync([{ name: 'x', dtype: 'float16', dims: [4], data: f16([0x3c00, 0, 0, 0]) }]); // 1.0
    const [x2] = ctx.calibrationStats();
    expect(x2!.binWidth).toBe(1 / 2048);
    expect([x2!.counts[0], x2!.counts[2047]]).toEqual([7, 1]);
  });

  it('rejects bad feeds with coded errors', async () => {
    const ctx = context();
    await expect(ctx.calibrate([])).rejects.toMatchObject({ code: 'KILN_E_INVALID_INPUT' });
    expect(() => ctx.calibrateSync([{ name: 'x', dtype: 'float32', dims: [4], data: f32([1]) }])).toThrow(
      expect.objectContaining({ code: 'KILN_E_INVALID_INPUT' }),
    );
    expect(() => ctx.calibrateSync([{ name: 'x', dtype: 'nope', dims: [4], data: f32([1, 2, 3, 4]) }])).toThrow(
      expect.objectContaining({ code: 'KILN_E_UNSUPPORTED_DTYPE' }),
    );
  });

  it('accepts int8 ranges in the builder config', () => {
    expect(() => context('float32', '{"int8": {"ranges": {"x": 2}}}')).not.toThrow();
    expect(() => context('float32', '{"int8": {"ranges": {"x": -2}}}')).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_VALUE' }));
    expect(() => context('float32', '{"calibration": 1}')).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_PROFILE' }));
  });
});
