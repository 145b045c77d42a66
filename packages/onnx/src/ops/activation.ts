/** Activation functions, Clip and Shrink. */
import type { ActivationKind, NetworkTensor } from '@kiln/core';
import type { OpContext, OpMapper, OpTable } from './context';

function act(make: (ctx: OpContext) => ActivationKind): OpMapper {
  return (ctx) => [ctx.net.addActivation(ctx.input(0), make(ctx), ctx.main)];
}

/** One side of Clip: a build-time number, a run-time tensor, or absent. */
type Bound = { value: number } | { tensor: NetworkTensor } | null;

function clipBound(ctx: OpContext, attr: string, input: number): Bound {
  if (ctx.opset < 11) {
    const v = ctx.attrs.optFloat(attr);
    return v === undefined ? null : { value: v };
  }
  const t = ctx.optInput(input);
  if (!t) return null;
  const v = ctx.constNumbers(input);
  if (v === null) return { tensor: t };
  if (v.length !== 1) ctx.invalid(`Clip ${attr} must be a scalar, got ${v.length} values`);
  return { value: v[0]! };
}

const clip: OpMapper = (ctx) => {
  const x = ctx.input(0);
  let lo = clipBound(ctx, 'min', 1);
  let hi = clipBound(ctx, 'max', 2);
  // An infinite constant bound clamps nothing.
  if (lo && 'value' in lo && lo.value === -Infinity) lo = null;
  if (hi && 'value' in hi && hi.value === Infinity) hi = null;
  const f32 = x.dtype === 'float32' || x.dtype === 'float16';
  const F32_MAX = 3.4028234663852886e38;
  if (f32 && (lo === null || 'value' in lo) && (hi === null || 'value' in hi) && (lo || hi)) {
    const min = lo ? lo.value : -F32_MAX;
    const max = hi ? hi.value : F32_MAX;
    if (Number.isFinite(min) && Number.isFinite(max)) {
      return [ctx.net.addActivation(x, { kind: 'clip', min, max }, ctx.main)];
    }
  }
  // Integer/float64 inputs, run-time bounds: max(x, lo) then min(·, hi) in the input's own dtype.
  let y = x;
  const bound = (b: Bound, what: string) => (b && 'tensor' in b ? b.tensor : ctx.scalar((b as { value: number }).value, x.dtype, what));
  if (lo) y = ctx.net.addElementWise(y, bound(lo, 'min'), 'max', hi ? { name: ctx.sub('lower') } : ctx.main);
  if (hi) y = ctx.net.addElementWise(y, bound(hi, 'max'), 'min', ctx.main);
  if (y === x) y = ctx.net.addIdentity(x, ctx.main);
  return [y];
};

export const activationOps: OpTable = {
  Relu: act(() => ({ kind: 'relu' })),
  Sigmoid: act(() => ({ kind: 'sigmoid' })),
  LeakyRelu: act((c) => ({ kind: 'leakyRelu', alpha: c.attrs.float('alpha', 0.01) })),
  Elu: act((c) => ({ kind: 'elu', alpha: c.attrs.float('alpha', 1.0) })),
  Selu: act((c) => ({
    kind: 'selu',
    alpha: c.attrs.float('alpha', 1.67326319217681884765625),
    gamma: c.attrs.float('gamma', 1.05070102214813232421875),
  })),
  Celu: act((c) => ({ kind: 'celu', alpha: c.attrs.float('alpha', 1.0) })),
  HardSigmoid: act((c) => ({ kind: 'hardSigmoid', alpha: c.attrs.float('alpha', 0.2), beta: c.attrs.float('beta', 0.5) })),
  HardSwish: act(() => ({ kind: 'hardSwish' })),
  Softplus: act(() => ({ kind: 'softplus' })),
  Softsign: act(() => ({ kind: 'softsign' })),
  ThresholdedRelu: act((c) => ({ kind: 'thresholdedRelu', alpha: c.attrs.float('alpha', 1.0) })),
  Mish: act(() => ({ kind: 'mish' })),
  Gelu: (ctx) => {
    const approx = ctx.attrs.string('approximate', 'none');
    if (approx !== 'none' && approx !== 'tanh') ctx.invalid(`attribute 'approximate' must be "none" or "tanh", got "${approx}"`);
    return [ctx.net.addActivation(ctx.input(0), { kind: 'gelu', tanh: approx === 'tanh' }, ctx.main)];
  },
  Shrink: act((c) => ({ kind: 'shrink', bias: c.attrs.float('bias', 0), lambd: c.attrs.float('lambd', 0.5) })),
  PRelu: (ctx) => [ctx.net.addElementWise(ctx.input(0), ctx.input(1), 'pRelu', ctx.main)],
  Clip: clip,
  // Swish-24: x · sigmoid(alpha · x).
  Swish: (ctx) => {
    const x = ctx.input(0);
    const alpha = ctx.attrs.float('alpha', 1.0);
    const scaled = alpha === 1 ? x : ctx.net.addElementWise(x, ctx.scalar(alpha, x.dtype, 'alpha'), 'mul', { name: ctx.sub('scaled') });
    const gate = ctx.net.addActivation(scaled, { kind: 'sigmoid' }, { name: ctx.sub('sigmoid') });
    return [ctx.net.addElementWise(x, gate, 'mul', ctx.main)];
  },
};
