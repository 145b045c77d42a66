/**
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (inference of the loss value) by composition:
 * loss[n, d…] = -input[n, target[n, d…], d…] · weight[target] (0 where target == ignore_index), then
 * reduction none / sum / mean (mean divides by the summed effective weights, as ONNX specifies).
 */
import type { NetworkTensor } from '@kiln/core';
import type { OpContext, OpMapper, OpTable } from './context';

function nll(ctx: OpContext, input: NetworkTensor, target: NetworkTensor, weight: NetworkTensor | null): NetworkTensor {
  const reduction = ctx.attrs.string('reduction', 'mean');
  if (reduction !== 'none' && reduction !== 'sum' && reduction !== 'mean') ctx.invalid(`attribute 'reduction' has unknown value "${reduction}"`);
  const ii = ctx.attrs.optInt('ignore_index');
  let t = target;
  let mask: NetworkTensor | null = null;
  if (ii !== undefined) {
    // Ignored targets may lie outside [0, C): replace them by 0 before gathering, and zero their weight.
    const eq = ctx.net.addElementWise(target, ctx.scalar(ii, target.dtype, 'ignore_index'), 'equal', { name: ctx.sub('ignored') });
    mask = ctx.net.addUnary(eq, 'not', { name: ctx.sub('kept') });
    t = ctx.net.addSelect(mask, target, ctx.scalar(0, target.dtype, 'zero_index'), { name: ctx.sub('safe_target') });
  }
  const idx = ctx.net.addUnsqueeze(t, [1], { name: ctx.sub('target_index') });
  const picked = ctx.net.addSqueeze(ctx.net.addGatherElements(input, idx, { name: ctx.sub('pick'), axis: 1 }), [1], { name: ctx.sub('picked') });
  let w: NetworkTensor | null = weight ? ctx.net.addGather(weight, t, { name: ctx.sub('weight'), axis: 0 }) : null;
  if (mask) {
    const m = ctx.net.addCast(mask, input.dtype, { name: ctx.sub('mask') });
    w = w ? ctx.net.addElementWise(w, m, 'mul', { name: ctx.sub('masked_weight') }) : m;
  }
  const last = reduction === 'none';
  let loss = ctx.net.addUnary(picked, 'neg', !w && last ? ctx.main : { name: ctx.sub('neg') });
  if (w) loss = ctx.net.addElementWise(loss, w, 'mul', last ? ctx.main : { name: ctx.sub('weighted') });
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return ctx.net.addReduce(loss, 'sum', { ...ctx.main, axes: null, keepDims: false });
  if (!w) return ctx.net.addReduce(loss, 'mean', { ...ctx.main, axes: null, keepDims: false });
  const total = ctx.net.addReduce(loss, 'sum', { name: ctx.sub('loss_sum'), axes: null, keepDims: false });
  const norm = ctx.net.addReduce(w, 'sum', { name: ctx.sub('weight_sum'), axes: null, keepDims: false });
  return ctx.net.addElementWise(total, norm, 'div', ctx.main);
}

const negativeLogLikelihood: OpMapper = (ctx) => [nll(ctx, ctx.input(0), ctx.input(1), ctx.optInput(2))];

const softmaxCrossEntropy: OpMapper = (ctx) => {
  const logProb = ctx.net.addSoftmax(ctx.input(0), { name: ctx.sub('log_prob'), kind: 'logSoftmax', axis: 1 });
  return [nll(ctx, logProb, ctx.input(1), ctx.optInput(2)), ctx.outputWanted(1) ? logProb : null];
};

export const lossOps: OpTable = {
  NegativeLogLikelihoodLoss: negativeLogLikelihood,
  SoftmaxCrossEntropyLoss: softmaxCrossEntropy,
};
