/**
 * Reduce* (and Squeeze/Unsqueeze) whose `axes` arrive as a run-time tensor (static length k, unknown values), for a statically
 * known rank r. Kiln's reduce layer takes constant axes, so the reduction is composed per axis:
 *   inS[i]  = axis i is listed (axes normalised, compared with 0…r-1);
 *   y      <- inS[i] ? expand(reduce_i(y), shape(y)) : y        for i = 0…r-1
 * which leaves every reduced axis filled with its result; slicing reduced axes to length 1 gives the
 * keepdims=1 output, and a reshape to the non-reduced dims (picked in order with TopK, so the shape's
 * length r-k stays static) gives keepdims=0. Sum-like ops are split into pre-map, per-axis sum and
 * post-map (L2 = sqrt(Σx²), LogSumExp = log(Σ exp x), …) so that chaining per-axis steps is exact.
 */
import type { NetworkTensor, ReduceOp } from '@kiln/core';
import type { OpContext } from './context';

interface Plan {
  pre?: 'square' | 'abs' | 'exp';
  step: ReduceOp;
  post?: 'sqrt' | 'log';
}

const PLANS: Record<ReduceOp, Plan> = {
  sum: { step: 'sum' }, mean: { step: 'mean' }, max: { step: 'max' }, min: { step: 'min' }, prod: { step: 'prod' },
  sumSquare: { pre: 'square', step: 'sum' }, l1: { pre: 'abs', step: 'sum' }, l2: { pre: 'square', step: 'sum', post: 'sqrt' },
  logSum: { step: 'sum', post: 'log' }, logSumExp: { pre: 'exp', step: 'sum', post: 'log' },
};

export function reduceDynamicAxes(ctx: OpContext, op: ReduceOp, axes: NetworkTensor, keepDims: boolean): NetworkTensor {
  const net = ctx.net;
  let x = ctx.input(0);
  const r = x.dims.length;
  const k = axes.dims.length === 1 ? axes.dims[0]! : -1;
  if (k < 1 || k > r) return ctx.unsupported(`run-time axes need a static length between 1 and the rank (${r}); got dims [${axes.dims.join(', ')}]`);
  // A zero-size reduced axis must become size 1 (the identity value); the per-axis select would keep it 0.
  if (x.dims.some((d) => d === 0)) return ctx.unsupported('run-time axes over an empty input are not supported');
  const plan = PLANS[op];

  const { inS, iota } = listedAxes(ctx, axes, r);

  if (plan.pre === 'square') x = net.addElementWise(x, x, 'mul', { name: ctx.sub('square') });
  else if (plan.pre) x = net.addUnary(x, plan.pre, { name: ctx.sub(plan.pre) });
  let y = x;
  for (let i = 0; i < r; i++) {
    const flag = net.addGather(inS, ctx.scalar(i, 'int64', `axis${i}`), { name: ctx.sub(`listed${i}`), axis: 0 });
    const reduced = net.addReduce(y, plan.step, { name: ctx.sub(`reduce${i}`), axes: [i], keepDims: true });
    const spread = net.addExpand(reduced, net.addShape(y, { name: ctx.sub(`shape${i}`) }), { name: ctx.sub(`spread${i}`) });
    y = net.addSelect(flag, spread, y, { name: ctx.sub(`select${i}`) });
  }
  if (plan.post) y = net.addUnary(y, plan.post, { name: ctx.sub(plan.post) });

  // Reduced axes hold their result everywhere: keep index 0 of each.
  const big = ctx.scalar(Number.MAX_SAFE_INTEGER, 'int64', 'to_end');
  const ends = net.addSelect(inS, ctx.scalar(1, 'int64', 'one'), big, { name: ctx.sub('ends') });
  const kept = net.addSlice(y, ctx.int64s(new Array<number>(r).fill(0), 'starts'), ends, iota, null, keepDims ? ctx.main : { name: ctx.sub('keep_dims') });
  if (keepDims) return kept;

  return dropListedAxes(ctx, kept, inS, iota, k);
}

/** inS: bool [rank], whether each axis 0…rank-1 is listed in the run-time `axes` (negative ones normalised). */
export function listedAxes(ctx: OpContext, axes: NetworkTensor, rank: number): { inS: NetworkTensor; iota: NetworkTensor } {
  const net = ctx.net;
  const a64 = axes.dtype === 'int64' ? axes : net.addCast(axes, 'int64', { name: ctx.sub('axes_int64') });
  const negative = net.addElementWise(a64, ctx.scalar(0, 'int64', 'zero'), 'less', { name: ctx.sub('axes_negative') });
  const shifted = net.addElementWise(a64, ctx.scalar(rank, 'int64', 'rank'), 'add', { name: ctx.sub('axes_shifted') });
  const norm = net.addSelect(negative, shifted, a64, { name: ctx.sub('axes_normalized') });
  const column = net.addUnsqueeze(norm, [1], { name: ctx.sub('axes_column') });
  const iota = ctx.int64s(Array.from({ length: rank }, (_, i) => i), 'iota');
  const hits = net.addCast(net.addElementWise(column, iota, 'equal', { name: ctx.sub('axes_hits') }), 'int32', { name: ctx.sub('axes_hits_int') });
  const listed = net.addReduce(hits, 'max', { name: ctx.sub('listed_int'), axes: [0], keepDims: false });
  return { inS: net.addCast(listed, 'bool', { name: ctx.sub('listed') }), iota };
}

/**
 * Reshapes x (whose listed axes have size 1) to its non-listed dims, in order: the r-k smallest keys,
 * listed axes pushed past r, come out of TopK sorted, so the new shape has the static length r-k.
 */
export function dropListedAxes(ctx: OpContext, x: NetworkTensor, inS: NetworkTensor, iota: NetworkTensor, k: number): NetworkTensor {
  const net = ctx.net;
  const r = x.dims.length;
  if (r - k === 0) return net.addReshape(x, ctx.int64s([], 'scalar_shape'), ctx.main);
  const pushed = net.addElementWise(iota, ctx.scalar(r, 'int64', 'r'), 'add', { name: ctx.sub('pushed') });
  const keys = net.addSelect(inS, pushed, iota, { name: ctx.sub('keys') });
  const [order] = net.addTopK(keys, ctx.int64s([r - k], 'k'), { name: ctx.sub('remaining'), axis: 0, largest: false, sorted: true });
  const shape = net.addGather(net.addShape(x, { name: ctx.sub('in_shape') }), order!, { name: ctx.sub('out_shape'), axis: 0 });
  return net.addReshape(x, shape, { ...ctx.main, allowZero: true });
}

/** Unsqueeze with run-time axes: input dims fill the non-listed output positions in order, 1 elsewhere. */
export function unsqueezeDynamicAxes(ctx: OpContext, axes: NetworkTensor): NetworkTensor {
  const net = ctx.net;
  const x = ctx.input(0);
  const k = axes.dims.length === 1 ? axes.dims[0]! : -1;
  if (k < 1) return ctx.unsupported(`run-time axes need a static length; got dims [${axes.dims.join(', ')}]`);
  const rOut = x.dims.length + k;
  const { inS } = listedAxes(ctx, axes, rOut);
  if (x.dims.length === 0) return net.addReshape(x, ctx.int64s(new Array<number>(rOut).fill(1), 'ones'), ctx.main);
  // Position j takes input dim (number of non-listed positions before j), clamped for listed positions.
  const notListed = net.addCast(net.addUnary(inS, 'not', { name: ctx.sub('not_listed') }), 'int64', { name: ctx.sub('not_listed_int') });
  const before = net.addCumSum(notListed, ctx.scalar(0, 'int64', 'axis0'), { name: ctx.sub('before'), exclusive: true });
  const source = net.addElementWise(before, ctx.scalar(x.dims.length - 1, 'int64', 'last'), 'min', { name: ctx.sub('source') });
  const dims = net.addGather(net.addShape(x, { name: ctx.sub('in_shape') }), source, { name: ctx.sub('dims'), axis: 0 });
  const shape = net.addSelect(inS, ctx.scalar(1, 'int64', 'one'), dims, { name: ctx.sub('out_shape') });
  return net.addReshape(x, shape, { ...ctx.main, allowZero: true });
}

/** Squeeze with run-time axes (listed axes must have size 1, as ONNX requires). */
export function squeezeDynamicAxes(ctx: OpContext, axes: NetworkTensor): NetworkTensor {
  const x = ctx.input(0);
  const k = axes.dims.length === 1 ? axes.dims[0]! : -1;
  if (k < 1 || k > x.dims.length) return ctx.unsupported(`run-time axes need a static length between 1 and the rank; got dims [${axes.dims.join(', ')}]`);
  const { inS, iota } = listedAxes(ctx, axes, x.dims.length);
  return dropListedAxes(ctx, x, inS, iota, k);
}
