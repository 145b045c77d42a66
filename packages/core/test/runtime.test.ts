/**
 * Builds a tiny network by hand with `Network`, bakes it on the CPU backend and runs it, checking the outputs
 * against a direct JS computation of the same ONNX semantics (Conv 3×3 pad 1 + bias → Relu → Add; global
 * average pool). Needs the built addon (`pnpm --filter @kiln/binding build`).
 */
import { describe, expect, it } from 'vitest';
import { Builder, Engine, KilnError, Network, Tensor, backends, readPlanHeader } from '../src/index';

const C_IN = 2;
const C_OUT = 3;
const H = 5;
const W = 4;

function seeded(n: number, seed: number): Float32Array {
  // A fixed LCG: deterministic data without a dependency.
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

const weights = seeded(C_OUT * C_IN * 9, 1);
const bias = seeded(C_OUT, 2);
const offset = seeded(C_OUT * H * W, 3);

/** ONNX Conv (NCHW, OIHW, 3×3, pads 1, stride 1) + bias, then Relu, then + offset (broadcast over batch). */
function reference(x: Float32Array, n: number): { y: Float32Array; pooled: Float32Array } {
  const y = new Float32Array(n * C_OUT * H * W);
  const pooled = new Float32Array(n * C_OUT);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < C_OUT; o++) {
      let sum = 0;
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          let acc = bias[o]!;
          for (let c = 0; c < C_IN; c++)
            for (let ki = 0; ki < 3; ki++)
              for (let kj = 0; kj < 3; kj++) {
                const ii = i + ki - 1;
                const jj = j + kj - 1;
                if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
                acc += x[((b * C_IN + c) * H + ii) * W + jj]! * weights[((o * C_IN + c) * 3 + ki) * 3 + kj]!;
              }
          const v = Math.max(acc, 0) + offset[(o * H + i) * W + j]!;
          y[((b * C_OUT + o) * H + i) * W + j] = v;
          sum += v;
        }
      pooled[b * C_OUT + o] = sum / (H * W);
    }
  return { y, pooled };
}

function makeNetwork(): Network {
  const net = new Network();
  const x = net.addInput('x', 'float32', [-1, C_IN, H, W]);
  const w = net.addConstant(new Tensor('float32', weights, [C_OUT, C_IN, 3, 3]), 'w');
  const bv = net.addConstant(new Tensor('float32', bias, [C_OUT]), 'b');
  const conv = net.addConvolution(x, w, bv, { pads: [1, 1, 1, 1] });
  const relu = net.addActivation(conv, { kind: 'relu' });
  const off = net.addConstant(new Tensor('float32', offset, [1, C_OUT, H, W]), 'offset');
  const y = net.addElementWise(relu, off, 'add');
  const pooled = net.addPooling(y, { type: 'average', global: true });
  net.markOutput(y, 'y');
  net.markOutput(pooled, 'pooled');
  return net;
}

const profile = { x: { min: [1, C_IN, H, W], opt: [2, C_IN, H, W], max: [4, C_IN, H, W] } };

function expectClose(actual: Tensor | undefined, expected: Float32Array, dims: number[]): void {
  expect(actual).toBeDefined();
  expect(actual!.type).toBe('float32');
  expect(actual!.dims).toEqual(dims);
  const a = actual!.data as Float32Array;
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(a[i]! - expected[i]!)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(expected[i]!));
  }
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return (e as KilnError).code;
  }
  return undefined;
}

describe('build and run a hand-made network on the CPU backend', () => {
  it('reports the backends of this build', () => {
    const list = backends();
    expect(list.find((b) => b.name === 'cpu')).toEqual({ name: 'cpu', available: true });
    const cuda = list.find((b) => b.name === 'cuda');
    expect(cuda?.available).toBe(false);
    // No NVIDIA driver on the machines these tests run on (the GPU suite covers the other side).
    expect(cuda?.reason).toContain('no NVIDIA driver found');
  });

  it('builds, loads and runs (async and sync), matching the reference', async () => {
    const plan = await Builder.build(makeNetwork(), { profiles: [profile] });
    expect(plan).toBeInstanceOf(Uint8Array);
    const header = readPlanHeader(plan);
    expect(header.backend).toBe('cpu');

    const engine = await Engine.load(plan);
    expect(engine.inputNames).toEqual(['x']);
    expect(engine.outputNames).toEqual(['y', 'pooled']);
    expect(engine.info.inputs[0]!.dims).toEqual([-1, C_IN, H, W]);

    const ctx = engine.createContext({ numThreads: 2 });
    for (const n of [1, 3]) {
      const x = seeded(n * C_IN * H * W, 10 + n);
      const ref = reference(x, n);
      const out = await ctx.run({ x: new Tensor('float32', x, [n, C_IN, H, W]) });
      expectClose(out.y, ref.y, [n, C_OUT, H, W]);
      expectClose(out.pooled, ref.pooled, [n, C_OUT, 1, 1]);
      const sync = ctx.runSync({ x: new Tensor('float32', x, [n, C_IN, H, W]) });
      expectClose(sync.y, ref.y, [n, C_OUT, H, W]);
    }
  });

  it('runs several contexts of one engine concurrently', async () => {
    const engine = Engine.loadSync(Builder.buildSync(makeNetwork(), { profiles: [profile] }));
    const contexts = [engine.createContext(), engine.createContext(), engine.createContext()];
    const jobs = contexts.flatMap((ctx, k) =>
      [1, 2, 4].map(async (n) => {
        const x = seeded(n * C_IN * H * W, 100 * k + n);
        const out = await ctx.run({ x: new Tensor('float32', x, [n, C_IN, H, W]) });
        expectClose(out.y, reference(x, n).y, [n, C_OUT, H, W]);
      }),
    );
    await Promise.all(jobs);
  });

  it('rejects bad feeds before running, with coded errors', async () => {
    const engine = Engine.loadSync(Builder.buildSync(makeNetwork(), { profiles: [profile] }));
    const ctx = engine.createContext();
    expect(await codeOf(ctx.run({}))).toBe('KILN_E_INVALID_INPUT');
    expect(await codeOf(ctx.run({ x: new Tensor('float32', new Float32Array(5 * C_IN * H * W), [5, C_IN, H, W]) }))).toBe('KILN_E_INVALID_INPUT');
    expect(await codeOf(() => ctx.runSync({ x: new Tensor('float64', new Float64Array(C_IN * H * W), [1, C_IN, H, W]) }))).toBe('KILN_E_INVALID_INPUT');
  });

  it('refuses the CUDA backend and broken plans with coded errors', async () => {
    expect(await codeOf(Builder.build(makeNetwork(), { backend: 'cuda', profiles: [profile] }))).toBe('KILN_E_BACKEND_UNAVAILABLE');
    const plan = Builder.buildSync(makeNetwork(), { profiles: [profile] });
    expect(await codeOf(() => Engine.loadSync(plan.subarray(0, plan.length >> 1)))).toBe('KILN_E_CORRUPT_PLAN');
    const flipped = plan.slice();
    flipped[flipped.length - 9]! ^= 0x55;
    expect(await codeOf(Engine.load(flipped))).toMatch(/^KILN_E_(CORRUPT_PLAN|PLAN_MISMATCH)$/);
    expect(await codeOf(Engine.load('/nonexistent/kiln.plan'))).toBe('KILN_E_INVALID_INPUT');
  });

  it('rejects a dynamic network built without a profile', async () => {
    const code = await codeOf(Builder.build(makeNetwork()));
    expect(code).toBe('KILN_E_INVALID_PROFILE');
  });
});
