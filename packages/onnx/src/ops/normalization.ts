/** Normalization ops (inference semantics). */
import { Tensor, type NetworkTensor } from '@kiln/core';
import { halfToNumber, type OpContext, type OpMapper, type OpTable } from './context';

function noExtraOutputs(ctx: OpContext, from: number, why: string): void {
  for (let i = from; i < ctx.node.outputs.length; i++) {
    if (ctx.outputWanted(i)) ctx.unsupported(`output ${i} ('${ctx.node.outputs[i]}') is not supported: ${why}`);
  }
}

const batchNorm: OpMapper = (ctx) => {
  if (ctx.opset < 9 && ctx.attrs.int('spatial', 1) === 0) ctx.unsupported('spatial=0 (per-activation statistics) is not supported');
  if (ctx.attrs.int('training_mode', 0) === 1) ctx.unsupported('training_mode=1 is not supported (Kiln runs inference only)');
  noExtraOutputs(ctx, 1, 'running statistics exist only in training mode');
  const eps = ctx.attrs.float('epsilon', 1e-5);
  return [ctx.net.addNormalization(ctx.input(0), { kind: 'batch', epsilon: eps }, [ctx.input(1), ctx.input(2), ctx.input(3), ctx.input(4)], ctx.main)];
};

/**
 * GroupNormalization-18 took scale/bias per group; 21 per channel (the Kiln layer's form). For 18–20
 * the per-group constants are repeated over each group's channels.
 */
function perChannel(ctx: OpContext, t: NetworkTensor, groups: number, what: string): NetworkTensor {
  const c = ctx.input(0).dims[1] ?? -1;
  if (c < 0) ctx.unsupported(`GroupNormalization-${ctx.opset} needs a static channel count to expand the per-group ${what}`);
  if (c % groups !== 0) ctx.invalid(`channels (${c}) are not divisible by num_groups (${groups})`);
  const v = ctx.constValue(t);
  if (!v) ctx.unsupported(`GroupNormalization-${ctx.opset} per-group ${what} must be a build-time constant`);
  if (v.size !== groups) ctx.invalid(`${what} has ${v.size} values, expected num_groups = ${groups}`);
  const per = c / groups;
  const src = v.type === 'float16' ? Array.from(v.data as Uint16Array, halfToNumber) : Array.from(v.data as ArrayLike<number>, Number);
  const out = new Float32Array(c);
  for (let i = 0; i < c; i++) out[i] = src[Math.floor(i / per)]!;
  let r = ctx.net.addConstant(new Tensor('float32', out, [c]), ctx.sub(`${what}_per_channel`));
  if (t.dtype !== 'float32') r = ctx.net.addCast(r, t.dtype, { name: ctx.sub(`${what}_cast`) });
  return r;
}

export const normalizationOps: OpTable = {
  BatchNormalization: batchNorm,
  InstanceNormalization: (ctx) => [
    ctx.net.addNormalization(ctx.input(0), { kind: 'instance', epsilon: ctx.attrs.float('epsilon', 1e-5) }, [ctx.input(1), ctx.input(2)], ctx.main),
  ],
  LayerNormalization: (ctx) => {
    const axis = ctx.attrs.int('axis', -1);
    const epsilon = ctx.attrs.float('epsilon', 1e-5);
    const y = ctx.net.addNormalization(ctx.input(0), { kind: 'layer', axis, epsilon }, [ctx.input(1), ctx.optInput(2)], ctx.main);
    if (!ctx.outputWanted(1) && !ctx.outputWanted(2)) return [y];
    // Mean and InvStdDev (float32 statistics over [axis, rank), kept dims) from primitive layers.
    const { mean, invStdDev } = statistics(ctx, ctx.input(0), axis, epsilon, true);
    return [y, mean, invStdDev];
  },
  RMSNormalization: (ctx) => {
    const x = ctx.input(0);
    if (ctx.attrs.int('stash_type', 1) !== 1) ctx.unsupported('only stash_type=1 (float32 statistics) is supported');
    const { invStdDev, xs } = statistics(ctx, x, ctx.attrs.int('axis', -1), ctx.attrs.float('epsilon', 1e-5), false);
    let y = ctx.net.addElementWise(xs, invStdDev, 'mul', { name: ctx.sub('normalized') });
    if (y.dtype !== x.dtype) y = ctx.net.addCast(y, x.dtype, { name: ctx.sub('cast_back') });
    return [ctx.net.addElementWise(y, ctx.input(1), 'mul', ctx.main)];
  },
  GroupNormalization: (ctx) => {
    const groups = ctx.attrs.int('num_groups', 0);
    if (groups < 1) ctx.invalid(`attribute 'num_groups' must be positive, got ${groups}`);
    let scale = ctx.input(1), bias = ctx.input(2);
    if (ctx.opset < 21) {
      scale = perChannel(ctx, scale, groups, 'scale');
      bias = perChannel(ctx, bias, groups, 'bias');
    }
    return [
      ctx.net.addNormalization(ctx.input(0), { kind: 'group', numGroups: groups, epsilon: ctx.attrs.float('epsilon', 1e-5) }, [scale, bias], ctx.main),
    ];
  },
  LRN: (ctx) => {
    const size = ctx.attrs.int('size', 0);
    if (size < 1) ctx.invalid(`attribute 'size' must be positive, got ${size}`);
    return [
      ctx.net.addNormalization(
        ctx.input(0),
        { kind: 'lrn', size, alpha: ctx.attrs.float('alpha', 1e-4), beta: ctx.attrs.float('beta', 0.75), bias: ctx.attrs.float('bias', 1.0) },
        [],
        ctx.main,
      ),
    ];
  },
  LpNormalization: (ctx) => {
    const p = ctx.attrs.int('p', 2);
    if (p !== 1 && p !== 2) ctx.unsupported(`p=${p} is not supported (ONNX allows 1 or 2)`);
    return [ctx.net.addNormalization(ctx.input(0), { kind: 'lpNorm', axis: ctx.attrs.int('axis', -1), p }, [], ctx.main)];
  },
  MeanVarianceNormalization: (ctx) => [
    ctx.net.addNormalization(ctx.input(0), { kind: 'meanVariance', axes: ctx.attrs.ints('axes') ?? [0, 2, 3] }, [], ctx.main),
  ],
};

/**
 * Float32 statistics over the axes [axis, rank) with kept dims: the mean (when `centered`) and
 * 1 / sqrt(E[(x - mean)^2] + eps) — or 1 / sqrt(E[x^2] + eps) for RMS normalization.
 */
function statistics(ctx: OpContext, x: NetworkTensor, axis: number, epsilon: number, centered: boolean) {
  const rank = x.dims.length;
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) ctx.invalid(`axis ${axis} is out of range for rank ${rank}`);
  const axes = Array.from({ length: rank - a }, (_, i) => a + i);
  const xs = x.dtype === 'float32' ? x : ctx.net.addCast(x, 'float32', { name: ctx.sub('to_float32') });
  const mean = ctx.net.addReduce(xs, 'mean', { name: ctx.sub('mean'), axes, keepDims: true });
  const d = centered ? ctx.net.addElementWise(xs, mean, 'sub', { name: ctx.sub('centered') }) : xs;
  const sq = ctx.net.addElementWise(d, d, 'mul', { name: ctx.sub('square') });
  const variance = ctx.net.addReduce(sq, 'mean', { name: ctx.sub('variance'), axes, keepDims: true });
  const shifted = ctx.net.addElementWise(variance, ctx.scalar(epsilon, 'float32', 'epsilon'), 'add', { name: ctx.sub('variance_eps') });
  const std = ctx.net.addUnary(shifted, 'sqrt', { name: ctx.sub('std') });
  const invStdDev = ctx.net.addUnary(std, 'reciprocal', { name: ctx.sub('inv_std') });
  return { mean, invStdDev, xs };
}
