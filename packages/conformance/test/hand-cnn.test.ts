/**
 * A small CNN built by hand with the Network API must match onnxruntime-node running the equivalent ONNX
 * graph (built here with onnx-proto from the same seeded weights) within rtol 1e-4, atol 1e-5.
 */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { Builder, Engine, Network, Tensor } from '@kiln/core';
import { compareTensors } from '../src/compare.js';
import { Rng } from '../src/rng.js';

const { onnx } = onnxProto;
const TOL = { rtol: 1e-4, atol: 1e-5 };

interface Weight { name: string; dims: number[]; data: Float32Array }

function weights(): Weight[] {
  const rng = new Rng(20241121);
  const w = (name: string, dims: number[], fanIn: number): Weight => ({
    name, dims, data: rng.normals(dims.reduce((a, b) => a * b, 1), 1 / Math.sqrt(fanIn)),
  });
  return [
    w('conv1.w', [8, 3, 3, 3], 27), w('conv1.b', [8], 10),
    w('conv2.w', [16, 8, 3, 3], 72), w('conv2.b', [16], 10),
    w('fc.w', [16, 10], 16), w('fc.b', [10], 10),
  ];
}

const INPUT_DIMS = [2, 3, 16, 16];

function kilnNetwork(ws: Weight[]): Network {
  const net = new Network();
  const c = Object.fromEntries(ws.map((w) => [w.name, net.addConstant(new Tensor('float32', w.data, w.dims), w.name)]));
  const x = net.addInput('input', 'float32', INPUT_DIMS);
  let t = net.addConvolution(x, c['conv1.w'], c['conv1.b'], { pads: [1, 1, 1, 1], name: 'conv1' });
  t = net.addActivation(t, { kind: 'relu' }, { name: 'relu1' });
  t = net.addPooling(t, { type: 'max', kernelShape: [2, 2], strides: [2, 2], name: 'pool1' });
  t = net.addConvolution(t, c['conv2.w'], c['conv2.b'], { pads: [1, 1, 1, 1], strides: [2, 2], name: 'conv2' });
  t = net.addActivation(t, { kind: 'relu' }, { name: 'relu2' });
  t = net.addPooling(t, { type: 'average', global: true, name: 'gap' });
  t = net.addFlatten(t, { axis: 1, name: 'flatten' });
  t = net.addMatrixMultiply(t, c['fc.w'], { name: 'fc' });
  t = net.addElementWise(t, c['fc.b'], 'add', { name: 'fc_bias' });
  t = net.addSoftmax(t, { axis: -1, name: 'softmax' });
  net.markOutput(t, 'probs');
  return net;
}

function onnxModel(ws: Weight[]): Uint8Array {
  const node = (opType: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []) =>
    onnx.NodeProto.create({ opType, input, output, name: output[0], attribute });
  const ints = (name: string, v: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v });
  const int = (name: string, v: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v });
  const valueInfo = (name: string, dims: number[]) => onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const graph = onnx.GraphProto.create({
    name: 'hand_cnn',
    initializer: ws.map((w) => onnx.TensorProto.create({
      name: w.name, dims: w.dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(w.data),
    })),
    input: [valueInfo('input', INPUT_DIMS)],
    output: [valueInfo('probs', [INPUT_DIMS[0], 10])],
    node: [
      node('Conv', ['input', 'conv1.w', 'conv1.b'], ['c1'], [ints('pads', [1, 1, 1, 1])]),
      node('Relu', ['c1'], ['r1']),
      node('MaxPool', ['r1'], ['p1'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
      node('Conv', ['p1', 'conv2.w', 'conv2.b'], ['c2'], [ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])]),
      node('Relu', ['c2'], ['r2']),
      node('GlobalAveragePool', ['r2'], ['g']),
      node('Flatten', ['g'], ['f'], [int('axis', 1)]),
      node('MatMul', ['f', 'fc.w'], ['m']),
      node('Add', ['m', 'fc.b'], ['logits']),
      node('Softmax', ['logits'], ['probs'], [int('axis', -1)]),
    ],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8, producerName: 'kiln-conformance', graph, opsetImport: [{ domain: '', version: 13 }],
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('hand-built CNN (Network API) vs onnxruntime', () => {
  it('matches onnxruntime-node on the equivalent ONNX graph', async () => {
    const ws = weights();
    const input = new Rng(7).normals(INPUT_DIMS.reduce((a, b) => a * b, 1));

    const session = await ort.InferenceSession.create(onnxModel(ws), { executionProviders: ['cpu'] });
    const expected = (await session.run({ input: new ort.Tensor('float32', input, INPUT_DIMS) })).probs;

    const plan = await Builder.build(kilnNetwork(ws), { backend: 'cpu' });
    const engine = await Engine.load(plan);
    const out = await engine.createContext().run({ input: new Tensor('float32', input, INPUT_DIMS) });
    expect(Object.keys(out)).toEqual(['probs']);
    expect(compareTensors('probs', out.probs, expected as unknown as { type: string; dims: number[]; data: Float32Array }, TOL)).toBeNull();
  });
});
