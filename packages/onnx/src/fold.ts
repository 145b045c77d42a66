/**
 * Import-time folding of small integer shape computations (Shape of a static tensor, Size, Gather/Slice/
 * Concat/Unsqueeze/Squeeze/Reshape of shape vectors, integer arithmetic, Neg/Abs, Range, ConstantOfShape, Cast).
 * Exporters (and ONNX's function expansions) compute axes and target shapes this way; layers such as
 * Reduce/Squeeze/Unsqueeze need those values at build time, and Reshape needs its shape's length to know
 * its output rank. Folded results enter the network as constants through `Network.addConstant`.
 * Anything outside these narrow rules is left to the layers (folding never throws).
 */
import { Tensor, type DataType, type Network, type NetworkTensor } from '@kiln/core';
import { dtypeFromOnnx } from './dtypes';
import { toBigInt } from './long';
import type { OnnxNode } from './model';

/** Larger results are left to the builder's own constant folding. */
const MAX_ELEMENTS = 4096;
const INT: ReadonlySet<DataType> = new Set(['int64', 'int32']);

interface Value {
  dtype: DataType;
  dims: number[];
  values: number[];
}

function known(net: Network, t: NetworkTensor | null): Value | null {
  if (!t || !INT.has(t.dtype)) return null;
  const v = net.constantValue(t);
  if (!v || v.size > MAX_ELEMENTS) return null;
  const values = Array.from(v.data as ArrayLike<number | bigint>, Number);
  if (!values.every(Number.isSafeInteger)) return null;
  return { dtype: v.type, dims: [...v.dims], values };
}

function staticDims(t: NetworkTensor | null): number[] | null {
  return t && t.dims.every((d) => d >= 0) ? [...t.dims] : null;
}

const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

function toTensor(v: Value): Tensor {
  if (v.dtype === 'int64') return new Tensor('int64', BigInt64Array.from(v.values, (x) => BigInt(x)), v.dims);
  return new Tensor(v.dtype, v.values, v.dims);
}

function intAttr(node: OnnxNode, name: string, def: number): number {
  return node.attrs.int(name, def);
}

/** Elementwise integer arithmetic with scalar or equal-shape operands (the shapes exporters produce). */
function arith(op: string, a: Value, b: Value): Value | null {
  if (a.dtype !== b.dtype) return null;
  const n = Math.max(a.values.length, b.values.length);
  const same = a.dims.join() === b.dims.join();
  if (!same && a.values.length !== 1 && b.values.length !== 1) return null;
  const dims = same ? a.dims : a.values.length === 1 && a.dims.length <= b.dims.length ? b.dims : a.dims;
  if (size(dims) !== n) return null;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a.values[a.values.length === 1 ? 0 : i]!, y = b.values[b.values.length === 1 ? 0 : i]!;
    let r: number;
    if (op === 'Add') r = x + y;
    else if (op === 'Sub') r = x - y;
    else if (op === 'Mul') r = x * y;
    else {
      if (y === 0) return null;
      r = Math.trunc(x / y); // ONNX integer Div truncates toward zero
    }
    if (!Number.isSafeInteger(r)) return null;
    out.push(r);
  }
  return { dtype: a.dtype, dims, values: out };
}

function normAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : null;
}

/** ONNX Slice on a 1-D vector. */
function slice1d(v: number[], start: number, end: number, step: number): number[] | null {
  const n = v.length;
  if (step === 0) return null;
  const clampIdx = (x: number, lo: number, hi: number) => Math.min(Math.max(x < 0 ? x + n : x, lo), hi);
  const out: number[] = [];
  if (step > 0) {
    const s = clampIdx(start, 0, n), e = clampIdx(end, 0, n);
    for (let i = s; i < e; i += step) out.push(v[i]!);
  } else {
    const s = clampIdx(start, -1, n - 1), e = clampIdx(end, -1, n - 1);
    for (let i = s; i > e; i += step) out.push(v[i]!);
  }
  return out;
}

function axesOf(node: OnnxNode, opset: number, net: Network, inputs: (NetworkTensor | null)[]): number[] | null {
  if (opset < 13) return node.attrs.ints('axes') ?? null;
  const a = known(net, inputs[1] ?? null);
  return a ? a.values : null;
}

function foldOne(node: OnnxNode, opset: number, net: Network, inputs: (NetworkTensor | null)[]): Value | null {
  const x = inputs[0] ?? null;
  switch (node.opType) {
    case 'Shape': {
      const dims = staticDims(x);
      if (!dims) return null;
      const r = dims.length;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
      const s = clamp(intAttr(node, 'start', 0));
      const e = node.attrs.has('end') ? clamp(intAttr(node, 'end', r)) : r;
      const values = dims.slice(s, Math.max(s, e));
      return { dtype: 'int64', dims: [values.length], values };
    }
    case 'Size': {
      const dims = staticDims(x);
      return dims ? { dtype: 'int64', dims: [], values: [size(dims)] } : null;
    }
    case 'Identity':
      return known(net, x);
    case 'Neg': case 'Abs': {
      const v = known(net, x);
      return v ? { ...v, values: v.values.map((n) => (node.opType === 'Neg' ? -n : Math.abs(n))) } : null;
    }
    case 'Cast': {
      const v = known(net, x);
      const to = dtypeFromOnnx(intAttr(node, 'to', 0));
      if (!v || !to || !INT.has(to)) return null;
      // int32 targets wrap in ONNX; only values that fit are folded (the rest is left to the Cast layer).
      return to === 'int64' || v.values.every((n) => n === (n | 0)) ? { ...v, dtype: to } : null;
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': {
      const a = known(net, x), b = known(net, inputs[1] ?? null);
      return a && b ? arith(node.opType, a, b) : null;
    }
    case 'Concat': {
      const vs = inputs.map((t) => known(net, t));
      if (vs.length === 0 || vs.some((v) => !v || v.dims.length !== 1 || v.dtype !== vs[0]!.dtype)) return null;
      if (normAxis(intAttr(node, 'axis', 0), 1) !== 0) return null;
      const values = vs.flatMap((v) => v!.values);
      return { dtype: vs[0]!.dtype, dims: [values.length], values };
    }
    case 'Unsqueeze': {
      const v = known(net, x);
      const axes = axesOf(node, opset, net, inputs);
      if (!v || !axes) return null;
      const rank = v.dims.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank));
      if (norm.some((a) => a === null) || new Set(norm).size !== norm.length) return null;
      const dims: number[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) dims.push(norm.includes(i) ? 1 : v.dims[k++]!);
      return { ...v, dims };
    }
    case 'Squeeze': {
      const v = known(net, x);
      if (!v) return null;
      const axes = axesOf(node, opset, net, inputs);
      if (opset >= 13 && inputs[1] && !axes) return null;
      const norm = axes && axes.length > 0 ? axes.map((a) => normAxis(a, v.dims.length)) : v.dims.map((d, i) => (d === 1 ? i : null)).filter((a) => a !== null);
      if (norm.some((a) => a === null || v.dims[a] !== 1)) return null;
      return { ...v, dims: v.dims.filter((_, i) => !norm.includes(i)) };
    }
    case 'Gather': {
      const data = known(net, x), idx = known(net, inputs[1] ?? null);
      if (!data || !idx || data.dims.length !== 1 || normAxis(intAttr(node, 'axis', 0), 1) !== 0) return null;
      const n = data.values.length;
      const values: number[] = [];
      for (const i of idx.values) {
        const j = i < 0 ? i + n : i;
        if (j < 0 || j >= n) return null;
        values.push(data.values[j]!);
      }
      return { dtype: data.dtype, dims: idx.dims, values };
    }
    case 'Slice': {
      const data = known(net, x);
      if (!data || data.dims.length !== 1) return null;
      let starts: number[] | null, ends: number[] | null, axes: number[] | null, steps: number[] | null;
      if (opset < 10) {
        starts = node.attrs.ints('starts') ?? null;
        ends = node.attrs.ints('ends') ?? null;
        axes = node.attrs.ints('axes') ?? null;
        steps = null;
      } else {
        starts = known(net, inputs[1] ?? null)?.values ?? null;
        ends = known(net, inputs[2] ?? null)?.values ?? null;
        axes = inputs[3] ? (known(net, inputs[3])?.values ?? null) : [0];
        steps = inputs[4] ? (known(net, inputs[4])?.values ?? null) : [1];
        if ((inputs[3] && !axes) || (inputs[4] && !steps)) return null;
      }
      if (!starts || !ends || starts.length !== 1 || ends.length !== 1) return null;
      if (axes && (axes.length !== 1 || normAxis(axes[0]!, 1) !== 0)) return null;
      const values = slice1d(data.values, starts[0]!, ends[0]!, steps?.[0] ?? 1);
      return values ? { dtype: data.dtype, dims: [values.length], values } : null;
    }
    case 'Range': {
      const [s, l, d] = [0, 1, 2].map((i) => known(net, inputs[i] ?? null));
      if (!s || !l || !d || s.values.length !== 1 || l.values.length !== 1 || d.values.length !== 1 || d.values[0] === 0) return null;
      const count = Math.max(Math.ceil((l.values[0]! - s.values[0]!) / d.values[0]!), 0);
      if (count > MAX_ELEMENTS) return null;
      const values = Array.from({ length: count }, (_, i) => s.values[0]! + i * d.values[0]!);
      return { dtype: s.dtype, dims: [count], values };
    }
    case 'ConstantOfShape': {
      const shape = known(net, x);
      if (!shape || shape.dims.length !== 1 || shape.values.some((d) => d < 0) || size(shape.values) > MAX_ELEMENTS) return null;
      const t = node.attrs.has('value') ? node.attrs.tensor('value') : undefined;
      // Only integer fills are folded here (float fills stay layers: weights of the `light` models).
      if (!t) return null;
      const dtype = dtypeFromOnnx(t.dataType ?? 0);
      if (!dtype || !INT.has(dtype)) return null;
      let fill: number;
      if (t.rawData && t.rawData.length >= 4) {
        const dv = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length);
        fill = dtype === 'int64' ? Number(dv.getBigInt64(0, true)) : dv.getInt32(0, true);
      } else if (dtype === 'int64' && t.int64Data?.length) fill = Number(toBigInt(t.int64Data[0], 'value'));
      else if (dtype === 'int32' && t.int32Data?.length) fill = t.int32Data[0]!;
      else return null;
      return { dtype, dims: [...shape.values], values: new Array<number>(size(shape.values)).fill(fill) };
    }
    case 'Reshape': {
      const data = known(net, x), shape = opset >= 5 ? known(net, inputs[1] ?? null) : null;
      if (!data || !shape) return null;
      const allowZero = intAttr(node, 'allowzero', 0) !== 0;
      const dims = shape.values.map((d, i) => (d === 0 && !allowZero ? data.dims[i] ?? -2 : d));
      if (dims.some((d) => d < -1) || dims.filter((d) => d === -1).length > 1) return null;
      const rest = size(dims.filter((d) => d !== -1));
      const inferred = dims.map((d) => (d === -1 ? (rest === 0 ? -2 : data.values.length / rest) : d));
      if (inferred.some((d) => d < 0 || !Number.isInteger(d)) || size(inferred) !== data.values.length) return null;
      return { ...data, dims: inferred };
    }
    default:
      return null;
  }
}

/** The node's single output as a constant when it can be computed now; null to map it as layers. */
export function tryFold(node: OnnxNode, opset: number, net: Network, inputs: (NetworkTensor | null)[]): Tensor | null {
  if (node.outputs.length !== 1) return null;
  try {
    const v = foldOne(node, opset, net, inputs);
    return v && v.values.length <= MAX_ELEMENTS ? toTensor(v) : null;
  } catch {
    return null; // malformed attributes etc.: the op mapper reports them properly
  }
}
