/**
 * Explicit-quantization (Q/DQ) ONNX writer (calibration.md §4), the only INT8 form TensorRT 11 accepts:
 * - opset raised to ≥ 13 (per-axis Q/DQ), IR ≥ 7;
 * - per-tensor activation QuantizeLinear → DequantizeLinear (int8 zero point 0, scale = f32(amax)/127) on the
 *   data inputs of Conv, ConvTranspose, Gemm and MatMul (one pair per tensor, shared by its consumers);
 * - per-channel weight Q → DQ on their constant weight input, kept float: axis 0 for Conv ([Cout, Cin, kh, kw]),
 *   1 for ConvTranspose ([Cin, Cout/g, …]), the last axis for MatMul B ([K, N]), Gemm B axis 0 with transB=1
 *   ([N, K]) else 1; scale_k = max|W_k| / 127;
 * - biases and outputs are not quantized.
 * Weights are recognised as initializers, Constant nodes and ConstantOfShape of a constant shape.
 */
import { KilnError } from '@kiln/core';
import { amaxToScale } from './cache';
import { decodeModelBytes } from './graph';
import { num } from './long';
import { floatTensor, upgradeOpset, type Rewriter } from './opset';
import { onnx, type INodeProto, type ITensorProto } from './proto';

export interface QdqOptions {
  /** Op types whose inputs get Q/DQ. Default Conv, ConvTranspose, Gemm, MatMul. */
  ops?: readonly string[];
}

export interface QdqResult {
  bytes: Uint8Array;
  /** Activation tensors given a Q/DQ pair. */
  activations: string[];
  /** Weights given a per-channel Q/DQ pair (name → axis). */
  weights: Record<string, number>;
  /** Inputs of weighted ops left in float (no range or no constant value), with the reason. */
  skipped: Array<{ tensor: string; reason: string }>;
  opsetFrom: number;
}

const WEIGHTED = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'];

interface ConstValue {
  dims: number[];
  /** Flat float32 data, or a single value broadcast over dims (ConstantOfShape). */
  data: Float32Array;
  splat: boolean;
}

function tensorFloats(t: ITensorProto): Float32Array | undefined {
  if ((t.dataType ?? 0) !== onnx.TensorProto.DataType.FLOAT) return undefined;
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.length / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

function tensorInts(t: ITensorProto): number[] | undefined {
  if ((t.dataType ?? 0) !== onnx.TensorProto.DataType.INT64) return undefined;
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return Array.from(new BigInt64Array(copy.buffer, 0, copy.length / 8), Number);
  }
  return (t.int64Data ?? []).map((v) => num(v));
}

/** Constant tensors by name: initializers, Constant nodes, ConstantOfShape of constant shapes. */
function constants(graph: NonNullable<ReturnType<typeof decodeModelBytes>['graph']>): Map<string, ConstValue> {
  const out = new Map<string, ConstValue>();
  const raw = new Map<string, ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) raw.set(t.name, t);
  for (const n of graph.node ?? []) {
    if (n.opType === 'Constant' && n.output?.[0]) {
      const v = (n.attribute ?? []).find((a) => a.name === 'value')?.t;
      if (v) raw.set(n.output[0], v);
    }
  }
  for (const [name, t] of raw) {
    const data = tensorFloats(t);
    if (data) out.set(name, { dims: (t.dims ?? []).map((d) => num(d)), data, splat: false });
  }
  for (const n of graph.node ?? []) {
    if (n.opType !== 'ConstantOfShape' || !n.output?.[0] || !n.input?.[0]) continue;
    const shapeT = raw.get(n.input[0]);
    const dims = shapeT ? tensorInts(shapeT) : undefined;
    if (!dims) continue;
    const v = (n.attribute ?? []).find((a) => a.name === 'value')?.t;
    const value = v ? tensorFloats(v) : new Float32Array(1); // default value: float 0
    if (value && value.length === 1) out.set(n.output[0], { dims, data: value, splat: true });
  }
  return out;
}

/** max |W| per slice along `axis`. */
function perChannelAmax(w: ConstValue, axis: number): number[] {
  const channels = w.dims[axis];
  if (w.splat) return new Array<number>(channels).fill(Math.abs(w.data[0]));
  const inner = w.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const amax = new Array<number>(channels).fill(0);
  for (let i = 0; i < w.data.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const a = Math.abs(w.data[i]);
    if (a > amax[c]) amax[c] = a;
  }
  return amax;
}

function weightAxis(node: INodeProto, rank: number): number {
  switch (node.opType) {
    case 'Conv':
      return 0;
    case 'ConvTranspose':
      return 1;
    case 'Gemm': {
      const transB = num((node.attribute ?? []).find((a) => a.name === 'transB')?.i ?? 0);
      return transB ? 0 : 1;
    }
    default:
      return rank - 1; // MatMul B [.., K, N]: per output column
  }
}

/** A scale that Q/DQ accepts: amax 0 (a constant-zero tensor) gets scale 1 like pytorch-quantization's export. */
function scaleOf(amax: number): number {
  const s = amaxToScale(amax);
  return s > 0 && Number.isFinite(s) ? s : 1;
}

export function writeQdqOnnx(modelBytes: Uint8Array, ranges: Record<string, number>, options: QdqOptions = {}): QdqResult {
  const model = decodeModelBytes(modelBytes);
  const g = model.graph!;
  const used = new Set<string>();
  for (const t of g.initializer ?? []) used.add(t.name ?? '');
  for (const n of g.node ?? []) for (const o of [...(n.input ?? []), ...(n.output ?? [])]) used.add(o);
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) used.add(v.name ?? '');
  const consumed = new Set<string>((g.output ?? []).map((o) => o.name ?? ''));
  for (const n of g.node ?? []) for (const i of n.input ?? []) consumed.add(i);
  const rw: Rewriter = {
    isConsumed: (name: string) => consumed.has(name),
    fresh(base: string) {
      let name = base;
      for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
      used.add(name);
      return name;
    },
    addInitializer(t: ITensorProto) {
      g.initializer = [...(g.initializer ?? []), t];
    },
  };
  const opsetFrom = upgradeOpset(model, rw);
  const consts = constants(g);
  const ops = new Set(options.ops ?? WEIGHTED);
  const result: QdqResult = { bytes: new Uint8Array(), activations: [], weights: {}, skipped: [], opsetFrom };
  const replaced = new Map<string, string>(); // tensor (and axis) key → dequantized name
  const nodes: INodeProto[] = [];

  const int8Zero = (name: string, n: number | undefined): ITensorProto =>
    onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.INT8, dims: n === undefined ? [] : [n], int32Data: new Array<number>(n ?? 1).fill(0) });

  const qdq = (tensor: string, scales: number[], axis: number | undefined): string => {
    const key = `${tensor}\u0000${axis ?? ''}`;
    const done = replaced.get(key);
    if (done) return done;
    const base = tensor.replace(/[^A-Za-z0-9_./-]/g, '_');
    const scaleName = rw.fresh(`${base}_scale`);
    const zpName = rw.fresh(`${base}_zero_point`);
    rw.addInitializer(floatTensor(scaleName, scales, axis === undefined ? [] : [scales.length]));
    rw.addInitializer(int8Zero(zpName, axis === undefined ? undefined : scales.length));
    const q = rw.fresh(`${base}_quantized`);
    const dq = rw.fresh(`${base}_dequantized`);
    const axisAttr = axis === undefined ? [] : [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis })];
    nodes.push(
      onnx.NodeProto.create({ name: rw.fresh(`${base}_QuantizeLinear`), opType: 'QuantizeLinear', input: [tensor, scaleName, zpName], output: [q], attribute: axisAttr }),
      onnx.NodeProto.create({ name: rw.fresh(`${base}_DequantizeLinear`), opType: 'DequantizeLinear', input: [q, scaleName, zpName], output: [dq], attribute: axisAttr.map((a) => onnx.AttributeProto.create(a)) }),
    );
    replaced.set(key, dq);
    return dq;
  };

  for (const node of g.node ?? []) {
    const op = node.opType ?? '';
    if (ops.has(op) && (!node.domain || node.domain === 'ai.onnx')) {
      const inputs = [...(node.input ?? [])];
      // Data input 0, weight input 1 (also a second activation for MatMul of two activations).
      for (const k of [0, 1]) {
        const t = inputs[k];
        if (!t) continue;
        const w = consts.get(t);
        if (w) {
          if (k === 0 || w.dims.length === 0) {
            result.skipped.push({ tensor: t, reason: 'constant data input' });
            continue;
          }
          const axis = weightAxis(node, w.dims.length);
          if (axis < 0 || axis >= w.dims.length) {
            result.skipped.push({ tensor: t, reason: `weight rank ${w.dims.length} has no axis ${axis}` });
            continue;
          }
          inputs[k] = qdq(t, perChannelAmax(w, axis).map(scaleOf), axis);
          result.weights[t] = axis;
          continue;
        }
        const amax = ranges[t];
        if (amax === undefined || !Number.isFinite(amax)) {
          result.skipped.push({ tensor: t, reason: 'no calibrated range' });
          continue;
        }
        if (!replaced.has(`${t}\u0000`)) result.activations.push(t);
        inputs[k] = qdq(t, [scaleOf(amax)], undefined);
      }
      node.input = inputs;
    }
    nodes.push(node);
  }
  g.node = nodes;
  if (result.activations.length === 0 && Object.keys(result.weights).length === 0) {
    throw new KilnError('KILN_E_INVALID_INPUT', `no Conv/ConvTranspose/Gemm/MatMul input could be quantized (no ranges match the model's tensor names?)`);
  }
  result.bytes = onnx.ModelProto.encode(model).finish();
  return result;
}
