/** MatMul/Gemm, reductions, softmax family, ArgMax/ArgMin, CumSum, TopK. */
import type { NetworkTensor, ReduceOp, SoftmaxKind } from '@kiln/core';
import type { OpContext, OpMapper, OpTable } from './context';
import { reduceDynamicAxes } from './reduce-dynamic';

/** Gemm: Y = alpha · op(A) · op(B) + beta · C, with C broadcast (unidirectionally) to Y. */
const gemm: OpMapper = (ctx) => {
  const alpha = ctx.attrs.float('alpha', 1.0);
  const beta = ctx.attrs.float('beta', 1.0);
  const c = ctx.optInput(2);
  const useC = c !== null && beta !== 0;
  const a = ctx.input(0);
  let y = ctx.net.addMatrixMultiply(a, ctx.input(1), {
    name: alpha === 1 && !useC ? ctx.name : ctx.sub('matmul'),
    transposeA: ctx.attrs.int('transA', 0) !== 0,
    transposeB: ctx.attrs.int('transB', 0) !== 0,
  });
  if (alpha !== 1) y = ctx.net.addElementWise(y, ctx.scalar(alpha, y.dtype, 'alpha'), 'mul', useC ? { name: ctx.sub('scale') } : ctx.main);
  if (useC) {
    const scaledC = beta === 1 ? c : ctx.net.addElementWise(c, ctx.scalar(beta, c.dtype, 'beta'), 'mul', { name: ctx.sub('beta_c') });
    y = ctx.net.addElementWise(y, scaledC, 'add', ctx.main);
  }
  return [y];
};

const REDUCE: Record<string, ReduceOp> = {
  ReduceSum: 'sum', ReduceProd: 'prod', ReduceMax: 'max', ReduceMin: 'min', ReduceMean: 'mean', ReduceL1: 'l1', ReduceL2: 'l2',
  ReduceLogSum: 'logSum', ReduceLogSumExp: 'logSumExp', ReduceSumSquare: 'sumSquare',
};

/** The axes input; a run-time input whose static shape has no elements is simply empty (the default). */
function axesInput(ctx: OpContext): number[] | null {
  const t = ctx.optInput(1);
  if (t && t.dims.some((d) => d === 0) && !ctx.constValue(t)) return [];
  return ctx.constInts(1, 'axes');
}

/** `axes` moved from attribute to (optional) input in opset 13 for ReduceSum, 18 for the others. */
function reduce(onnxOp: string, op: ReduceOp): OpMapper {
  const axesAsInput = onnxOp === 'ReduceSum' ? 13 : 18;
  return (ctx) => {
    const keepDims = ctx.attrs.int('keepdims', 1) !== 0;
    const runtime = ctx.opset >= axesAsInput ? ctx.optInput(1) : null;
    if (runtime && !ctx.constValue(runtime) && !runtime.dims.includes(0)) return [reduceDynamicAxes(ctx, op, runtime, keepDims)];
    const axes = ctx.opset >= axesAsInput ? axesInput(ctx) : (ctx.attrs.ints('axes') ?? null);
    const noop = ctx.opset >= axesAsInput && ctx.attrs.int('noop_with_empty_axes', 0) === 1;
    return [
      ctx.net.addReduce(ctx.input(0), op, {
        ...ctx.main,
        axes: axes && axes.length > 0 ? axes : null,
        keepDims,
        noopWithEmptyAxes: noop,
      }),
    ];
  };
}

/**
 * Before opset 13 Softmax/LogSoftmax/Hardmax treated the input as 2-D ([prod(dims[:axis]), prod(dims[axis:])],
 * axis default 1); from 13 they work along one axis (default -1). The old form becomes flatten → op → reshape
 * back, unless the axis is already the last one (then both agree).
 */
function softmax(kind: SoftmaxKind): OpMapper {
  return (ctx) => {
    const x = ctx.input(0);
    if (ctx.opset >= 13) return [ctx.net.addSoftmax(x, { ...ctx.main, kind, axis: ctx.attrs.int('axis', -1) })];
    const rank = x.dims.length;
    let axis = ctx.attrs.int('axis', 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) ctx.invalid(`axis ${ctx.attrs.int('axis', 1)} is out of range for rank ${rank}`);
    if (axis === rank - 1) return [ctx.net.addSoftmax(x, { ...ctx.main, kind, axis: -1 })];
    const flat = ctx.net.addFlatten(x, { name: ctx.sub('flatten'), axis });
    const s = ctx.net.addSoftmax(flat, { name: ctx.sub(kind), kind, axis: 1 });
    const shape = ctx.net.addShape(x, { name: ctx.sub('shape') });
    return [ctx.net.addReshape(s, shape, ctx.main)];
  };
}

function argMinMax(max: boolean): OpMapper {
  return (ctx) => [
    ctx.net.addArgMinMax(ctx.input(0), {
      ...ctx.main,
      max,
      axis: ctx.attrs.int('axis', 0),
      keepDims: ctx.attrs.int('keepdims', 1) !== 0,
      selectLastIndex: ctx.attrs.int('select_last_index', 0) !== 0,
    }),
  ];
}

const topK: OpMapper = (ctx) => {
  let k: NetworkTensor;
  if (ctx.opset < 10) {
    const kv = ctx.attrs.optInt('k');
    k = ctx.int64s([kv ?? ctx.invalid("attribute 'k' is required before opset 10")], 'k');
  } else {
    k = ctx.input(1);
  }
  const [values, indices] = ctx.net.addTopK(ctx.input(0), k, {
    ...ctx.main,
    axis: ctx.attrs.int('axis', -1),
    largest: ctx.attrs.int('largest', 1) !== 0,
    sorted: ctx.attrs.int('sorted', 1) !== 0,
  });
  return [values!, indices!];
};

export const mathOps: OpTable = {
  MatMul: (ctx) => [ctx.net.addMatrixMultiply(ctx.input(0), ctx.input(1), ctx.main)],
  Gemm: gemm,
  ...Object.fromEntries(Object.entries(REDUCE).map(([name, op]) => [name, reduce(name, op)])),
  Softmax: softmax('softmax'),
  LogSoftmax: softmax('logSoftmax'),
  Hardmax: softmax('hardmax'),
  ArgMax: argMinMax(true),
  ArgMin: argMinMax(false),
  CumSum: (ctx) => [
    ctx.net.addCumSum(ctx.input(0), ctx.input(1), {
      ...ctx.main,
      exclusive: ctx.attrs.int('exclusive', 0) !== 0,
      reverse: ctx.attrs.int('reverse', 0) !== 0,
    }),
  ],
  TopK: topK,
};

