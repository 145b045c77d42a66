import { describe, expect, it } from 'vitest';
import { FakeNative, floatTensor, int64Tensor, makeModel, T, valueInfo } from './helpers';
import { Network } from '@kiln/core';
import { OnnxError, parseOnnxSync, supportedOps } from '../src/index';

function parse(bytes: Uint8Array) {
  const fake = new FakeNative();
  const model = parseOnnxSync(bytes, { network: new Network(fake) });
  return { fake, model };
}

const x4 = valueInfo('x', T.FLOAT, ['N', 3, 4, 5]);
const y = valueInfo('y', T.FLOAT, []);

describe('graph import', () => {
  it('claims at least 110 ops', () => {
    expect(supportedOps.length).toBeGreaterThanOrEqual(110);
    for (const op of ['Conv', 'Gemm', 'Resize', 'Upsample', 'CastLike', 'BitShift', 'GroupNormalization', 'LpPool']) expect(supportedOps).toContain(op);
    expect(supportedOps).not.toContain('If');
  });

  it('maps dynamic dims to -1 and treats initializers listed as inputs as constants', () => {
    const bytes = makeModel({
      opset: 13,
      nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }],
      inputs: [valueInfo('x', T.FLOAT, ['batch', null, 4]), valueInfo('w', T.FLOAT, [4])],
      outputs: [y],
      initializers: [floatTensor('w', [4], [1, 2, 3, 4])],
    });
    const { fake, model } = parse(bytes);
    expect(model.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [-1, -1, 4] }]);
    expect(model.opsetVersion).toBe(13);
    expect(model.producer).toBe('kiln-test');
    const w = fake.tensors.find((t) => t.name === 'w')!;
    expect(Array.from(new Float32Array(w.data!.buffer))).toEqual([1, 2, 3, 4]);
    expect(fake.layers[0]!.kind).toEqual({ type: 'elementWise', op: 'add' });
    expect(fake.tensors[fake.outputs[0]!]!.name).toBe('y');
  });

  it('inserts an Identity when a graph output is a graph input or an initializer', () => {
    const bytes = makeModel({
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['x2'] }],
      inputs: [valueInfo('x', T.FLOAT, [2])],
      outputs: [valueInfo('x2', T.FLOAT, [2]), valueInfo('c', T.FLOAT, [1])],
      initializers: [floatTensor('c', [1], [7])],
    });
    const { fake } = parse(bytes);
    expect(fake.types()).toEqual(['identity', 'identity']);
    expect(fake.outputs.map((id) => fake.tensors[id]!.name)).toEqual(['x2', 'c']);
    expect(fake.outputs.map((id) => fake.layers.some((l) => l.outputs.includes(id)))).toEqual([true, true]);
    const passThrough = makeModel({ nodes: [], inputs: [valueInfo('x', T.FLOAT, [2])], outputs: [valueInfo('x', T.FLOAT, [2])] });
    expect(() => parse(passThrough)).toThrow(/distinct input and output names/);
  });

  it('reports every unsupported node at once, skipping nodes that depend on them', () => {
    const bytes = makeModel({
      opset: 17,
      extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
      nodes: [
        { op: 'FusedGelu', domain: 'com.microsoft', inputs: ['x'], outputs: ['a'], name: 'gelu0' },
        { op: 'Relu', inputs: ['a'], outputs: ['b'] },
        { op: 'NoSuchOp', inputs: ['x'], outputs: ['c'], name: 'weird' },
        { op: 'MaxPool', inputs: ['x'], outputs: ['d', 'idx'], name: 'pool', attrs: { kernel_shape: [2, 2] } },
        { op: 'Add', inputs: ['b', 'c'], outputs: ['y'] },
      ],
      inputs: [x4],
      outputs: [y, valueInfo('idx', T.INT64, [])],
    });
    let err: unknown;
    try {
      parse(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OnnxError);
    const e = err as OnnxError;
    expect(e.code).toBe('KILN_E_ONNX_UNSUPPORTED');
    expect(e.nodes.map((n) => [n.name, n.opType, n.domain, n.opset])).toEqual([
      ['gelu0', 'FusedGelu', 'com.microsoft', 1],
      ['weird', 'NoSuchOp', '', 17],
      ['pool', 'MaxPool', '', 17],
    ]);
    expect(e.nodes[2]!.reason).toMatch(/Indices/);
    expect(e.message.split('\n').length).toBeGreaterThanOrEqual(4);
    expect(e.message).toContain("node 'weird' (NoSuchOp, domain ai.onnx, opset 17)");
  });

  it('rejects garbage, graph-less models and unknown input names with KILN_E_ONNX_INVALID', () => {
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    expect(codeOf(() => parse(new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02])))).toBe('KILN_E_ONNX_INVALID');
    expect(codeOf(() => parse(new Uint8Array([0x08, 0x07])))).toBe('KILN_E_ONNX_INVALID'); // ir_version only
    const unknown = makeModel({ nodes: [{ op: 'Relu', inputs: ['nope'], outputs: ['y'], name: 'r' }], inputs: [x4], outputs: [y] });
    let e: OnnxError | undefined;
    try {
      parse(unknown);
    } catch (err) {
      e = err as OnnxError;
    }
    expect(e?.code).toBe('KILN_E_ONNX_INVALID');
    expect(e?.message).toContain("node 'r' (Relu): input 'nope'");
    expect(codeOf(() => parseOnnxSync('/nonexistent/model.onnx'))).toBe('KILN_E_ONNX_INVALID');
  });

  it('turns every random mutation of a valid model into a coded error or a result', () => {
    const bytes = makeModel({
      opset: 13,
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], strides: [1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        { op: 'ReduceSum', inputs: ['r', 'axes'], outputs: ['y'], attrs: { keepdims: 0 } },
      ],
      inputs: [x4],
      outputs: [y],
      initializers: [floatTensor('w', [2, 3, 1, 1], [1, 2, 3, 4, 5, 6]), int64Tensor('axes', [1])],
    });
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 500; i++) {
      const m = new Uint8Array(bytes);
      const flips = 1 + Math.floor(rand() * 4);
      for (let j = 0; j < flips; j++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      try {
        parse(m);
      } catch (e) {
        expect((e as { code?: string }).code, String(e)).toMatch(/^KILN_E_/);
      }
    }
  });
});

describe('errors from network construction', () => {
  const model = makeModel({ nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['r'], name: 'act' }, { op: 'Add', inputs: ['r', 'x'], outputs: ['y'], name: 'sum' }], inputs: [x4], outputs: [y] });

  it('keeps the native code and prefixes the ONNX node', () => {
    const fake = new FakeNative();
    const add = fake.addLayer.bind(fake);
    fake.addLayer = (name, kind, inputs) => {
      if (name === 'sum') throw Object.assign(new Error('shapes [2] and [3] do not broadcast'), { code: 'KILN_E_SHAPE_MISMATCH' });
      return add(name, kind, inputs);
    };
    let e: { code?: string; message?: string } | undefined;
    try {
      parseOnnxSync(model, { network: new Network(fake) });
    } catch (err) {
      e = err as typeof e;
    }
    expect(e?.code).toBe('KILN_E_SHAPE_MISMATCH');
    expect(e?.message).toContain("node 'sum' (Add): layer 'sum' (elementWise): shapes [2] and [3] do not broadcast");
  });

  it('turns layers the core cannot build into entries of the aggregated unsupported error', () => {
    const fake = new FakeNative();
    fake.addLayer = () => {
      throw Object.assign(new Error('relu does not accept int8'), { code: 'KILN_E_UNSUPPORTED_DTYPE' });
    };
    let e: OnnxError | undefined;
    try {
      parseOnnxSync(model, { network: new Network(fake) });
    } catch (err) {
      e = err as OnnxError;
    }
    expect(e?.code).toBe('KILN_E_ONNX_UNSUPPORTED');
    expect(e?.nodes.map((n) => n.name)).toEqual(['act']);
  });
});

describe('import-time folding of shape arithmetic', () => {
  it('folds Shape/Gather/Unsqueeze/Concat/Neg/Range chains into constants, leaving dynamic shapes to layers', () => {
    const bytes = makeModel({
      opset: 13,
      nodes: [
        { op: 'Shape', inputs: ['x'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'i'], outputs: ['c'], attrs: { axis: 0 } },
        { op: 'Unsqueeze', inputs: ['c', 'ax0'], outputs: ['c1'] },
        { op: 'Concat', inputs: ['c1', 'm1'], outputs: ['shape'], attrs: { axis: 0 } },
        { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] },
        { op: 'Size', inputs: ['s'], outputs: ['rank'] },
        { op: 'Neg', inputs: ['one'], outputs: ['start'] },
        { op: 'Range', inputs: ['start', 'rank', 'one'], outputs: ['axes'] },
        { op: 'ReduceSum', inputs: ['r', 'axes'], outputs: ['y'], attrs: { keepdims: 0 } },
        { op: 'Shape', inputs: ['d'], outputs: ['ds'] },
        { op: 'Reshape', inputs: ['d', 'ds'], outputs: ['d2'] },
      ],
      inputs: [valueInfo('x', T.FLOAT, [2, 3, 4, 5]), valueInfo('d', T.FLOAT, ['n', 3])],
      outputs: [y, valueInfo('d2', T.FLOAT, [])],
      initializers: [int64Tensor('i', [], []), int64Tensor('ax0', [0]), int64Tensor('m1', [-1]), int64Tensor('one', [], [])].map((t, k) =>
        k === 0 ? { ...t, int64Data: [1] } : k === 3 ? { ...t, int64Data: [1] } : t,
      ),
    });
    const { fake } = parse(bytes);
    // Only the reshape, the reduction, and the dynamic Shape → Reshape remain as layers.
    expect(fake.types()).toEqual(['reshape', 'reduce', 'shape', 'reshape']);
    const shape = fake.tensors[fake.layers[0]!.inputs[1]!]!;
    expect(Array.from(new BigInt64Array(shape.data!.buffer))).toEqual([3n, -1n]);
    expect(fake.layers[1]!.kind).toMatchObject({ axes: [-1, 0, 1, 2, 3], keepDims: false });
  });
});

describe('per-opset rules', () => {
  it('Softmax before 13 coerces to 2-D unless the axis is last; from 13 it is one layer', () => {
    const old = parse(makeModel({ opset: 11, nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'] }], inputs: [x4], outputs: [y] })).fake;
    expect(old.types()).toEqual(['flatten', 'softmax', 'shape', 'reshape']);
    expect(old.layers[0]!.kind).toEqual({ type: 'flatten', axis: 1 });
    expect(old.layers[1]!.kind).toEqual({ type: 'softmax', kind: 'softmax', axis: 1 });
    const last = parse(makeModel({ opset: 11, nodes: [{ op: 'LogSoftmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 3 } }], inputs: [x4], outputs: [y] })).fake;
    expect(last.layers.map((l) => l.kind)).toEqual([{ type: 'softmax', kind: 'logSoftmax', axis: -1 }]);
    const v13 = parse(makeModel({ opset: 13, nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'] }], inputs: [x4], outputs: [y] })).fake;
    expect(v13.layers.map((l) => l.kind)).toEqual([{ type: 'softmax', kind: 'softmax', axis: -1 }]);
  });

  it('Reduce axes: attribute before 13/18, constant input after', () => {
    const attr = parse(makeModel({ opset: 12, nodes: [{ op: 'ReduceSum', inputs: ['x'], outputs: ['y'], attrs: { axes: [1, 2] } }], inputs: [x4], outputs: [y] })).fake;
    expect(attr.layers[0]!.kind).toEqual({ type: 'reduce', op: 'sum', axes: [1, 2], keepDims: true, noopWithEmptyAxes: false });
    const input = parse(makeModel({
      opset: 13, nodes: [{ op: 'ReduceSum', inputs: ['x', 'axes'], outputs: ['y'], attrs: { keepdims: 0 } }], inputs: [x4], outputs: [y],
      initializers: [int64Tensor('axes', [-1])],
    })).fake;
    expect(input.layers[0]!.kind).toEqual({ type: 'reduce', op: 'sum', axes: [-1], keepDims: false, noopWithEmptyAxes: false });
    // ReduceMean still takes the attribute at 13.
    const mean = parse(makeModel({ opset: 13, nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], attrs: { axes: [2] } }], inputs: [x4], outputs: [y] })).fake;
    expect(mean.layers[0]!.kind).toMatchObject({ op: 'mean', axes: [2] });
    const all = parse(makeModel({ opset: 18, nodes: [{ op: 'ReduceMax', inputs: ['x'], outputs: ['y'] }], inputs: [x4], outputs: [y] })).fake;
    expect(all.layers[0]!.kind).toMatchObject({ op: 'max', axes: null, keepDims: true });
  });

  it('Split: attribute (<13), input (13+), uneven num_outputs (18+)', () => {
    const outs = [valueInfo('a', T.FLOAT, []), valueInfo('b', T.FLOAT, [])];
    const s11 = parse(makeModel({ opset: 11, nodes: [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], attrs: { axis: 3, split: [2, 3] } }], inputs: [x4], outputs: outs })).fake;
    expect(s11.layers[0]!.kind).toEqual({ type: 'split', axis: 3, numOutputs: 2 });
    const sizes = s11.tensors[s11.layers[0]!.inputs[1]!]!;
    expect(Array.from(new BigInt64Array(sizes.data!.buffer))).toEqual([2n, 3n]);
    const s18 = parse(makeModel({ opset: 18, nodes: [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], attrs: { axis: 3, num_outputs: 2 } }], inputs: [x4], outputs: outs })).fake;
    const sizes18 = s18.tensors[s18.layers[0]!.inputs[1]!]!;
    expect(Array.from(new BigInt64Array(sizes18.data!.buffer))).toEqual([3n, 2n]);
    const even = parse(makeModel({ opset: 13, nodes: [{ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], attrs: { axis: 0 } }], inputs: [x4], outputs: outs })).fake;
    expect(even.layers[0]!.inputs[1]).toBeNull();
  });

  it('Clip: attributes before 11, inputs after; one-sided bounds become max/min', () => {
    const c6 = parse(makeModel({ opset: 6, nodes: [{ op: 'Clip', inputs: ['x'], outputs: ['y'], attrs: { min: { float: -1 }, max: { float: 6 } } }], inputs: [x4], outputs: [y] })).fake;
    expect(c6.layers[0]!.kind).toEqual({ type: 'activation', activation: { kind: 'clip', min: -1, max: 6 } });
    const c11 = parse(makeModel({
      opset: 11, nodes: [{ op: 'Clip', inputs: ['x', '', 'hi'], outputs: ['y'] }], inputs: [x4], outputs: [y],
      initializers: [floatTensor('hi', [], [6])],
    })).fake;
    expect(c11.layers[0]!.kind).toEqual({ type: 'activation', activation: { kind: 'clip', min: -3.4028234663852886e38, max: 6 } });
    const dyn = parse(makeModel({
      opset: 13, nodes: [{ op: 'Clip', inputs: ['x', 'lo'], outputs: ['y'] }], inputs: [x4, valueInfo('lo', T.FLOAT, [])], outputs: [y],
    })).fake;
    expect(dyn.layers.map((l) => l.kind)).toEqual([{ type: 'elementWise', op: 'max' }]);
  });

  it('attribute defaults: LeakyRelu, Conv, Gemm, BatchNormalization, Pad', () => {
    const f = parse(makeModel({
      opset: 13,
      nodes: [
        { op: 'LeakyRelu', inputs: ['x'], outputs: ['l'] },
        { op: 'Conv', inputs: ['l', 'w'], outputs: ['c'] },
        { op: 'Flatten', inputs: ['c'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'g', 'b'], outputs: ['y'], attrs: { alpha: 0.5, beta: 2, transB: 1 } },
      ],
      inputs: [x4], outputs: [y],
      initializers: [floatTensor('w', [1, 3, 1, 1], [1, 1, 1]), floatTensor('g', [2, 20], new Array(40).fill(0)), floatTensor('b', [2], [1, 2])],
    })).fake;
    expect(f.types()).toEqual(['activation', 'convolution', 'flatten', 'matrixMultiply', 'elementWise', 'elementWise', 'elementWise']);
    expect(f.layers[0]!.kind).toEqual({ type: 'activation', activation: { kind: 'leakyRelu', alpha: 0.01 } });
    expect(f.layers[1]!.kind).toEqual({ type: 'convolution', strides: [], pads: [], dilations: [], groups: 1, paddingMode: 'explicit' });
    expect(f.layers[3]!.kind).toEqual({ type: 'matrixMultiply', transposeA: false, transposeB: true });
    expect(f.layers.slice(4).map((l) => l.kind.op)).toEqual(['mul', 'mul', 'add']);
    expect(f.tensors[f.outputs[0]!]!.name).toBe('y');

    const bn = parse(makeModel({
      opset: 15, nodes: [{ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'], outputs: ['y'] }], inputs: [x4], outputs: [y],
      initializers: ['s', 'b', 'm', 'v'].map((n) => floatTensor(n, [3], [1, 1, 1])),
    })).fake;
    expect(bn.layers[0]!.kind).toEqual({ type: 'normalization', normalization: { kind: 'batch', epsilon: expect.closeTo(1e-5, 10) } });

    const pad2 = parse(makeModel({ opset: 2, nodes: [{ op: 'Pad', inputs: ['x'], outputs: ['y'], attrs: { pads: [0, 0, 1, 1, 0, 0, 1, 1], mode: 'reflect' } }], inputs: [x4], outputs: [y] })).fake;
    expect(pad2.layers[0]!.kind).toEqual({ type: 'pad', mode: 'reflect' });
    expect(pad2.layers[0]!.inputs[2]).toBeNull();
  });

  it('Reduce with run-time axes composes per-axis reductions; an empty input is reported unsupported', () => {
    const f = parse(makeModel({
      opset: 18, nodes: [{ op: 'ReduceL2', inputs: ['x', 'axes'], outputs: ['y'], attrs: { keepdims: 0 } }],
      inputs: [x4, valueInfo('axes', T.INT64, [2])], outputs: [y],
    })).fake;
    const types = f.types();
    expect(types.filter((t) => t === 'reduce').length).toBe(1 + 4); // the listed-axes mask + one per axis
    expect(types.slice(-3)).toEqual(['shape', 'gather', 'reshape']);
    expect(types).toContain('topK');
    expect(() => parse(makeModel({
      opset: 18, nodes: [{ op: 'ReduceSum', inputs: ['x', 'axes'], outputs: ['y'] }],
      inputs: [valueInfo('x', T.FLOAT, [2, 0, 3]), valueInfo('axes', T.INT64, [1])], outputs: [y],
    }))).toThrow(/empty input/);
  });

  it('Unsqueeze-13 with run-time axes reshapes to a computed shape; axes of unknown length are unsupported', () => {
    const f = parse(makeModel({ opset: 13, nodes: [{ op: 'Unsqueeze', inputs: ['x', 'ax'], outputs: ['y'] }], inputs: [x4, valueInfo('ax', T.INT64, [1])], outputs: [y] })).fake;
    expect(f.types().slice(-2)).toEqual(['select', 'reshape']);
    expect(f.layers.at(-1)!.kind).toEqual({ type: 'reshape', allowZero: true });
    let e: OnnxError | undefined;
    try {
      parse(makeModel({ opset: 13, nodes: [{ op: 'Unsqueeze', inputs: ['x', 'ax'], outputs: ['y'] }], inputs: [x4, valueInfo('ax', T.INT64, ['k'])], outputs: [y] }));
    } catch (err) {
      e = err as OnnxError;
    }
    expect(e?.code).toBe('KILN_E_ONNX_UNSUPPORTED');
    expect(e?.nodes[0]?.reason).toMatch(/static length/);
  });

  it('Dropout becomes identity, with an all-true mask when asked', () => {
    const f = parse(makeModel({
      opset: 13, nodes: [{ op: 'Dropout', inputs: ['x'], outputs: ['y', 'mask'] }], inputs: [x4], outputs: [y, valueInfo('mask', T.BOOL, [])],
    })).fake;
    expect(f.types()).toEqual(['identity', 'shape', 'fill']);
    expect(f.layers[2]!.kind).toEqual({ type: 'fill', value: 1, dtype: 'bool' });
  });

  it('Cast-1 string types, Upsample-7 scales attribute, Resize-10 and Resize-13 forms', () => {
    const c1 = parse(makeModel({ opset: 1, nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attrs: { to: 'INT64' } }], inputs: [x4], outputs: [y] })).fake;
    expect(c1.layers[0]!.kind).toEqual({ type: 'cast', to: 'int64' });
    const up = parse(makeModel({ opset: 7, nodes: [{ op: 'Upsample', inputs: ['x'], outputs: ['y'], attrs: { scales: { floats: [1, 1, 2, 2] } } }], inputs: [x4], outputs: [y] })).fake;
    expect(up.layers[0]!.kind).toMatchObject({ type: 'resize', mode: 'nearest', coordinateTransform: 'asymmetric', nearestMode: 'floor' });
    const r13 = parse(makeModel({
      opset: 13,
      nodes: [{ op: 'Resize', inputs: ['x', '', 's'], outputs: ['y'], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners' } }],
      inputs: [x4], outputs: [y], initializers: [floatTensor('s', [4], [1, 1, 2, 2])],
    })).fake;
    expect(r13.layers[0]!.kind).toMatchObject({ type: 'resize', mode: 'linear', coordinateTransform: 'alignCorners', nearestMode: 'roundPreferFloor', cubicCoeffA: -0.75 });
    expect(r13.layers[0]!.inputs[1]).toBeNull();
  });

  it('GroupNormalization-18 expands per-group scale/bias to per-channel constants', () => {
    const f = parse(makeModel({
      opset: 18,
      nodes: [{ op: 'GroupNormalization', inputs: ['x', 's', 'b'], outputs: ['y'], attrs: { num_groups: 3 } }],
      inputs: [valueInfo('x', T.FLOAT, [1, 6, 2, 2])], outputs: [y],
      initializers: [floatTensor('s', [3], [1, 2, 3]), floatTensor('b', [3], [0, 0, 1])],
    })).fake;
    const layer = f.layers[0]!;
    expect(layer.kind).toEqual({ type: 'normalization', normalization: { kind: 'group', numGroups: 3, epsilon: expect.closeTo(1e-5, 10) } });
    const scale = f.tensors[layer.inputs[1]!]!;
    expect(Array.from(new Float32Array(scale.data!.buffer))).toEqual([1, 1, 2, 2, 3, 3]);
  });
});
