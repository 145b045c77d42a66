/** Gather/scatter family, OneHot, NonZero. */
import type { ScatterReduction } from '@kiln/core';
import type { OpContext, OpMapper, OpTable } from './context';

function reduction(ctx: OpContext): ScatterReduction {
  const r = ctx.attrs.string('reduction', 'none');
  if (r === 'none' || r === 'add' || r === 'mul' || r === 'max' || r === 'min') return r;
  return ctx.invalid(`attribute 'reduction' has unknown value "${r}"`);
}

const scatterElements: OpMapper = (ctx) => [
  ctx.net.addScatterElements(ctx.input(0), ctx.input(1), ctx.input(2), { ...ctx.main, axis: ctx.attrs.int('axis', 0), reduction: reduction(ctx) }),
];

export const indexingOps: OpTable = {
  Gather: (ctx) => [ctx.net.addGather(ctx.input(0), ctx.input(1), { ...ctx.main, axis: ctx.attrs.int('axis', 0) })],
  GatherElements: (ctx) => [ctx.net.addGatherElements(ctx.input(0), ctx.input(1), { ...ctx.main, axis: ctx.attrs.int('axis', 0) })],
  GatherND: (ctx) => {
    const b = ctx.attrs.int('batch_dims', 0);
    if (b < 0) ctx.invalid(`attribute 'batch_dims' must be non-negative, got ${b}`);
    return [ctx.net.addGatherNd(ctx.input(0), ctx.input(1), { ...ctx.main, batchDims: b })];
  },
  ScatterElements: scatterElements,
  // Scatter (deprecated in opset 11) is ScatterElements without reduction.
  Scatter: scatterElements,
  ScatterND: (ctx) => [ctx.net.addScatterNd(ctx.input(0), ctx.input(1), ctx.input(2), { ...ctx.main, reduction: reduction(ctx) })],
  OneHot: (ctx) => [ctx.net.addOneHot(ctx.input(0), ctx.input(1), ctx.input(2), { ...ctx.main, axis: ctx.attrs.int('axis', -1) })],
  NonZero: (ctx) => [ctx.net.addNonZero(ctx.input(0), ctx.main)],
  // Compress(x, condition[, axis]) = Gather(x, indices of the true conditions, axis); without an axis,
  // on the flattened input. NonZero of the 1-D condition is [1, nnz]; its row is the index list.
  Compress: (ctx) => {
    let x = ctx.input(0);
    const axis = ctx.attrs.optInt('axis');
    if (axis === undefined) x = ctx.net.addReshape(x, ctx.int64s([-1], 'flat_shape'), { name: ctx.sub('flatten') });
    const nz = ctx.net.addNonZero(ctx.input(1), { name: ctx.sub('nonzero') });
    const indices = ctx.net.addSqueeze(nz, [0], { name: ctx.sub('indices') });
    return [ctx.net.addGather(x, indices, { ...ctx.main, axis: axis ?? 0 })];
  },
};
