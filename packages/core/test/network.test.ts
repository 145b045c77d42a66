/** The JSON each Network method emits must match the serde form of `LayerKind` (crates/kiln-core/src/layer.rs). */
import { describe, expect, it, vi } from 'vitest';

vi.mock('@kiln/binding', () => ({ NativeNetwork: class {} }));

const { Network } = await import('../src/network');
const { Tensor } = await import('../src/tensor');

class Recorder {
  tensors: Array<{ name: string; dtype: string; dims: number[]; data?: Uint8Array }> = [];
  layers: Array<{ name: string; kind: unknown; inputs: Array<number | null> }> = [];
  numLayers = 0;
  numTensors = 0;
  addInput(name: string, dtype: string, dims: number[]) {
    this.tensors.push({ name, dtype, dims });
    return this.tensors.length - 1;
  }
  addConstant(name: string, dtype: string, dims: number[], data: Uint8Array) {
    this.tensors.push({ name, dtype, dims, data: new Uint8Array(data) });
    return this.tensors.length - 1;
  }
  addLayer(name: string, kindJson: string, inputs: Array<number | null>) {
    this.layers.push({ name, kind: JSON.parse(kindJson), inputs });
    const kind = JSON.parse(kindJson) as { type: string; numOutputs?: number };
    const n = kind.type === 'split' ? kind.numOutputs! : kind.type === 'topK' ? 2 : 1;
    return Array.from({ length: n }, (_, i) => {
      this.tensors.push({ name: i ? `${name}:${i}` : name, dtype: 'float32', dims: [1, 3, 8, 8] });
      return this.tensors.length - 1;
    });
  }
  tensorInfo(id: number) {
    const t = this.tensors[id]!;
    return { name: t.name, dtype: t.dtype, dims: t.dims, isConstant: !!t.data };
  }
  constantValue(id: number) {
    const t = this.tensors[id]!;
    return t.data ? { dtype: t.dtype, dims: t.dims, data: Buffer.from(t.data) } : null;
  }
  setTensorName(id: number, name: string) {
    this.tensors[id]!.name = name;
  }
  markOutput() {}
}

describe('Network', () => {
  it('emits serde LayerKind JSON with defaults', () => {
    const rec = new Recorder();
    const net = new Network(rec);
    const x = net.addInput('x', 'float32', [-1, 3, 8, 8]);
    expect(x).toEqual({ id: 0, name: 'x', dtype: 'float32', dims: [-1, 3, 8, 8] });
    const w = net.addConstant(new Tensor('float32', new Float32Array(3 * 3 * 9), [3, 3, 3, 3]), 'w');
    const c = net.addConvolution(x, w, null, { name: 'conv', pads: [1, 1, 1, 1], paddingMode: 'explicit' });
    net.addPooling(c, { type: 'average', kernelShape: [2, 2], strides: [2, 2] });
    net.addPooling(c, { global: true, type: 'lp', p: 3 });
    net.addActivation(c, { kind: 'leakyRelu', alpha: 0.1 });
    net.addUnary(c, 'isInf', { detectNegative: false });
    net.addReduce(c, 'mean', { axes: [2, 3] });
    net.addSoftmax(c);
    net.addResize(c, { scales: w }, { mode: 'linear' });
    net.addNormalization(c, { kind: 'group', numGroups: 3, epsilon: 1e-5 }, [w, w]);
    net.addSplit(c, 3, { axis: 1 });
    net.addFill(net.addInt64Constant([2, 2]), 0, 'int64');
    expect(rec.layers.map((l) => l.kind)).toEqual([
      { type: 'convolution', strides: [], pads: [1, 1, 1, 1], dilations: [], groups: 1, paddingMode: 'explicit' },
      { type: 'pooling', pooling: { kind: 'average', countIncludePad: false }, global: false, kernelShape: [2, 2], strides: [2, 2], pads: [], dilations: [], ceilMode: false, paddingMode: 'explicit' },
      { type: 'pooling', pooling: { kind: 'lp', p: 3 }, global: true, kernelShape: [], strides: [], pads: [], dilations: [], ceilMode: false, paddingMode: 'explicit' },
      { type: 'activation', activation: { kind: 'leakyRelu', alpha: 0.1 } },
      { type: 'unary', op: 'isInf', detectPositive: true, detectNegative: false },
      { type: 'reduce', op: 'mean', axes: [2, 3], keepDims: true, noopWithEmptyAxes: false },
      { type: 'softmax', kind: 'softmax', axis: -1 },
      { type: 'resize', mode: 'linear', coordinateTransform: 'halfPixel', nearestMode: 'roundPreferFloor', cubicCoeffA: -0.75, excludeOutside: false, extrapolationValue: 0, antialias: false, axes: null, keepAspectRatioPolicy: 'stretch' },
      { type: 'normalization', normalization: { kind: 'group', numGroups: 3, epsilon: 1e-5 } },
      { type: 'split', axis: 1, numOutputs: 3 },
      { type: 'fill', value: 0, dtype: 'int64' },
    ]);
    expect(rec.layers[0]!.name).toBe('conv');
    expect(rec.layers[0]!.inputs).toEqual([0, 1, null]);
    expect(rec.layers[1]!.name).toBe('pooling_1');
    expect(rec.layers[7]!.inputs).toEqual([2, null, 1, null]);
  });

  it('reads constants back and refuses non-finite parameters with a coded error', () => {
    const net = new Network(new Recorder());
    const k = net.addInt64Constant([3, -1]);
    expect(Array.from(net.constantValue(k)!.data as BigInt64Array)).toEqual([3n, -1n]);
    const x = net.addInput('x', 'float32', [2]);
    expect(net.constantValue(x)).toBeNull();
    expect(() => net.addActivation(x, { kind: 'clip', min: -Infinity, max: 6 })).toThrow(expect.objectContaining({ code: 'KILN_E_UNSUPPORTED' }));
    expect(() => net.addPooling(x, {})).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_NETWORK' }));
  });

  it('prefixes native errors with the layer and keeps their code', () => {
    const rec = new Recorder();
    rec.addLayer = () => {
      throw Object.assign(new Error('shapes [2] and [3] do not broadcast'), { code: 'KILN_E_SHAPE_MISMATCH' });
    };
    const net = new Network(rec);
    const x = net.addInput('x', 'float32', [2]);
    expect(() => net.addElementWise(x, x, 'add', { name: 'sum' })).toThrow(
      expect.objectContaining({ code: 'KILN_E_SHAPE_MISMATCH', message: "layer 'sum' (elementWise): shapes [2] and [3] do not broadcast" }),
    );
  });
});
