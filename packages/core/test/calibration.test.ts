/**
 * The INT8 surface of @kiln/core: calibration builds and `ExecutionContext.calibrate` statistics, INT8 builds from
 * ranges, and Q/DQ layers. Needs the built addon (`pnpm --filter @kiln/binding build`).
 */
import { describe, expect, it } from 'vitest';
import { Builder, Engine, KilnError, Network, Tensor } from '../src/index';

/** x [1,1,2,4] → conv 1×1 (2 channels, weights [1, -0.5]) → relu → y */
function net(): Network {
  const n = new Network();
  const x = n.addInput('x', 'float32', [1, 1, 2, 4]);
  const w = n.addConstant(new Tensor('float32', [1, -0.5], [2, 1, 1, 1]), 'w');
  const c = n.addConvolution(x, w, null, { name: 'conv' });
  const r = n.addActivation(c, { kind: 'relu' }, { name: 'relu' });
  n.markOutput(r, 'y');
  return n;
}

const input = new Tensor('float32', [0, 1, -2, 4, 0.5, -0.25, 3, Number.NaN], [1, 1, 2, 4]);

describe('calibration', () => {
  it('collects |x| statistics for the input and every layer output', async () => {
    const engine = await Engine.load(await Builder.build(net(), { calibration: true }));
    const ctx = engine.createContext({ numThreads: 1 });
    await ctx.calibrate({ x: input });
    ctx.calibrateSync({ x: input });
    const stats = ctx.calibrationStats();
    expect(stats.map((s) => [s.name, s.producer, s.dtype])).toEqual([
      ['x', 'input', 'float32'],
      ['conv', 'convolution', 'float32'],
      ['y', 'activation', 'float32'],
    ]);
    const x = stats[0]!;
    expect(x.amax).toBe(4);
    expect(x.binWidth).toBe(4 / 2048);
    expect(x.counts).toBeInstanceOf(Float64Array);
    expect(x.counts.length).toBe(2048);
    expect(x.nonFinite).toBe(2);
    // |x| = 0, 1, 2, 4, 0.5, 0.25, 3 twice each: bins floor(|x| / w), 4 in the last bin.
    expect(x.counts[0]).toBe(2);
    expect(x.counts[512]).toBe(2);
    expect(x.counts[2047]).toBe(2);
    expect(x.counts.reduce((a, b) => a + b, 0)).toBe(14);
    // conv output channel 1 = -0.5·x: its max |.| is 2 (from x = 4), relu keeps channel 0's max 4.
    expect(stats[1]!.amax).toBe(4);
    ctx.resetCalibration();
    expect(ctx.calibrationStats()).toEqual([]);
  });

  it('checks feeds like run', async () => {
    const engine = await Engine.load(await Builder.build(net(), { calibration: true }));
    const ctx = engine.createContext();
    await expect(ctx.calibrate({})).rejects.toMatchObject({ code: 'KILN_E_INVALID_INPUT' });
    expect(() => ctx.calibrateSync({ x: new Tensor('float32', [1], [1]) })).toThrow(KilnError);
  });
});

describe('int8 builds', () => {
  it('fake-quantizes the convolution input with the given range', async () => {
    const x = new Tensor('float32', [0.3, 1, -2, 4, 0.5, -0.25, 3, 0.1], [1, 1, 2, 4]);
    const fp = (await Engine.load(await Builder.build(net()))).createContext().runSync({ x }).y!;
    // amax 2: scale 2/127; 4 and 3 saturate to 2, small values round to the grid.
    const q8 = (await Engine.load(await Builder.build(net(), { int8: { ranges: { x: 2 } } }))).createContext().runSync({ x }).y!;
    const s = 2 / 127;
    const fq = (v: number): number => Math.fround(Math.min(127, Math.max(-128, Math.round(Math.fround(v / s)))) * s);
    const xs = Array.from(x.data as Float32Array);
    const want = [...xs.map((v) => Math.max(fq(v), 0)), ...xs.map((v) => Math.max(-0.5 * fq(v), 0))];
    expect(Array.from(q8.data as Float32Array).map((v) => Number(v.toFixed(5)))).toEqual(want.map((v) => Number(v.toFixed(5))));
    expect(Array.from(fp.data as Float32Array)).not.toEqual(Array.from(q8.data as Float32Array));
  });

  it('rejects malformed int8 configs with coded errors', () => {
    expect(() => Builder.buildSync(net(), { int8: { ranges: { x: -1 } } })).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_PROFILE' }));
    expect(() => Builder.buildSync(net(), { int8: { ranges: { x: Infinity } } })).not.toThrow();
  });

  it('runs explicit QuantizeLinear / DequantizeLinear layers', async () => {
    const n = new Network();
    const x = n.addInput('x', 'float32', [4]);
    const scale = n.addConstant(new Tensor('float32', [0.5], []), 's');
    const zero = n.addConstant(new Tensor('int8', [1], []), 'z');
    const q = n.addQuantizeLinear(x, scale, zero, { name: 'q' });
    expect(q.dtype).toBe('int8');
    n.markOutput(q, 'q');
    n.markOutput(n.addDequantizeLinear(q, scale, zero, { name: 'dq' }), 'y');
    const ctx = (await Engine.load(await Builder.build(n))).createContext();
    const out = await ctx.run({ x: new Tensor('float32', [0.25, 0.75, -100, 100], [4]) });
    expect(Array.from(out.q!.data as Int8Array)).toEqual([1, 3, -128, 127]);
    expect(Array.from(out.y!.data as Float32Array)).toEqual([0, 1, -64.5, 63]);
  });
});
