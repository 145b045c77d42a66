/** The raw binding against the built addon: argument handling, conversions and the KILN_E_ error codes. */
import { describe, expect, it } from 'vitest';
import { NativeEngine, NativeNetwork, backends, buildPlan, buildPlanSync, readPlanHeader } from '../index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return (e as { code?: string }).code;
  }
  return undefined;
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
const relu = JSON.stringify({ type: 'activation', activation: { kind: 'relu' } });

describe('NativeNetwork', () => {
  it('adds inputs and constants and reports them', () => {
    const net = new NativeNetwork();
    const x = net.addInput('x', 'float32', [-1, 3]);
    expect(net.tensorInfo(x)).toEqual({ name: 'x', dtype: 'float32', dims: [-1, 3], isConstant: false });
    const c = net.addConstant('c', 'float32', [2], f32([1.5, -2]));
    expect(net.tensorInfo(c).isConstant).toBe(true);
    const v = net.constantValue(c)!;
    expect(v.dtype).toBe('float32');
    expect(v.dims).toEqual([2]);
    expect(Array.from(new Float32Array(v.data.buffer.slice(v.data.byteOffset, v.data.byteOffset + 8)))).toEqual([1.5, -2]);
    expect(net.constantValue(x)).toBeNull();
    expect(net.numTensors).toBe(2);
    expect(net.numLayers).toBe(0);
  });

  it('adds layers from LayerKind JSON, with null for absent inputs', () => {
    const net = new NativeNetwork();
    const x = net.addInput('x', 'float32', [2, 3]);
    const [y] = net.addLayer('act', relu, [x]);
    expect(net.tensorInfo(y!)).toMatchObject({ dtype: 'float32', dims: [2, 3] });
    net.setTensorName(y!, 'y');
    net.markOutput(y!);
    expect(net.tensorInfo(y!).name).toBe('y');
    expect(net.numLayers).toBe(1);
  });

  it('throws coded errors for bad arguments', () => {
    const net = new NativeNetwork();
    expect(codeOf(() => net.addInput('x', 'complex64', [1]))).toBe('KILN_E_UNSUPPORTED_DTYPE');
    const x = net.addInput('x', 'float32', [2]);
    expect(codeOf(() => net.addInput('x', 'float32', [2]))).toBe('KILN_E_INVALID_NETWORK');
    expect(codeOf(() => net.addConstant('c', 'float32', [3], f32([1, 2])))).toBe('KILN_E_INVALID_INPUT');
    expect(codeOf(() => net.addConstant('c', 'float32', [-3], f32([1, 2])))).toBe('KILN_E_INVALID_INPUT');
    expect(codeOf(() => net.addLayer('bad', '{"type":"noSuchLayer"}', [x]))).toBe('KILN_E_INVALID_NETWORK');
    expect(codeOf(() => net.addLayer('bad', relu, [99]))).toBe('KILN_E_INVALID_NETWORK');
    expect(codeOf(() => net.tensorInfo(99))).toBe('KILN_E_INVALID_NETWORK');
    expect(codeOf(() => net.markOutput(99))).toBe('KILN_E_INVALID_NETWORK');
    const err = (() => {
      try {
        net.addInput('y', 'complex64', [1]);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a throw');
    })();
    expect(err.message).toContain("unknown dtype 'complex64'");
  });
});

describe('backends, builder and engine errors', () => {
  // These tests run on machines without an NVIDIA driver (CI); the GPU suite covers the other side.
  it('lists cpu as available and cuda as unavailable here, with the reason', () => {
    const list = backends();
    expect(list.map((b) => b.name)).toEqual(['cpu', 'cuda']);
    expect(list[0]!.available).toBe(true);
    expect(list[1]!.available).toBe(false);
    expect(list[1]!.reason).toMatch(/^no NVIDIA driver found \(libcuda\.so could not be loaded\)/);
  });

  it('refuses the cuda backend (sync throw, async rejection) with KILN_E_BACKEND_UNAVAILABLE', async () => {
    const net = new NativeNetwork();
    const x = net.addInput('x', 'float32', [2]);
    net.markOutput(net.addLayer('act', relu, [x])[0]!);
    expect(codeOf(() => buildPlanSync(net, '{}', 'cuda'))).toBe('KILN_E_BACKEND_UNAVAILABLE');
    await expect(buildPlan(net, '{}', 'cuda')).rejects.toMatchObject({ code: 'KILN_E_BACKEND_UNAVAILABLE' });
    await expect(buildPlan(net, '{"profiles": 3}', 'cpu')).rejects.toMatchObject({ code: 'KILN_E_INVALID_PROFILE' });
  });

  it('refuses bytes that are not a plan', () => {
    const junk = new Uint8Array(64).fill(7);
    expect(codeOf(() => NativeEngine.load(junk))).toMatch(/^KILN_E_/);
    expect(codeOf(() => readPlanHeader(junk))).toMatch(/^KILN_E_/);
    expect(codeOf(() => NativeEngine.load(new Uint8Array(0)))).toMatch(/^KILN_E_/);
  });

  it('builds and runs a one-layer network, sync and async, with byte-exact tensors', async () => {
    const net = new NativeNetwork();
    const x = net.addInput('x', 'float32', [2, 2]);
    const [y] = net.addLayer('act', relu, [x]);
    net.setTensorName(y!, 'y');
    net.markOutput(y!);
    const plan = buildPlanSync(net, '', 'cpu');
    expect(readPlanHeader(plan).backend).toBe('cpu');
    const engine = NativeEngine.load(plan);
    const info = JSON.parse(engine.infoJson) as { inputs: Array<{ name: string }>; outputs: Array<{ name: string }> };
    expect(info.inputs.map((i) => i.name)).toEqual(['x']);
    expect(info.outputs.map((o) => o.name)).toEqual(['y']);
    const ctx = engine.createContext(1);
    const input = { name: 'x', dtype: 'float32', dims: [2, 2], data: Buffer.from(f32([-1, 2, -3, 4])) };
    for (const out of [ctx.runSync([input]), await ctx.run([input])]) {
      expect(out).toHaveLength(1);
      expect(out[0]!.name).toBe('y');
      expect(out[0]!.dims).toEqual([2, 2]);
      expect(Array.from(new Float32Array(Uint8Array.from(out[0]!.data).buffer))).toEqual([0, 2, 0, 4]);
    }
    // A bad input rejects the promise with a coded error rather than throwing synchronously.
    await expect(ctx.run([{ ...input, data: Buffer.alloc(3) }])).rejects.toMatchObject({ code: 'KILN_E_INVALID_INPUT' });
  });
});
