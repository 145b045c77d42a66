/** Binary and variadic elementwise ops, comparisons, logic, bit ops, Where. */
import type { ElementWiseOp, NetworkTensor } from '@kiln/core';
import type { OpContext, OpTable } from './context';

/** Opset < 7 used explicit `broadcast`/`axis` attributes; only suffix-aligned (numpy) broadcasting maps. */
function checkLegacyBroadcast(ctx: OpContext): void {
  if (ctx.opset < 7 && ctx.attrs.int('broadcast', 0) === 1 && ctx.attrs.has('axis')) {
    const a = ctx.input(0), b = ctx.input(1);
    const axis = ctx.attrs.int('axis', 0);
    const norm = axis < 0 ? axis + a.dims.length : axis;
    if (norm !== a.dims.length - b.dims.length) {
      ctx.unsupported(`legacy (opset < 7) broadcast with axis=${axis} is not numpy-style suffix broadcasting`);
    }
  }
}

function binary(op: ElementWiseOp): (ctx: OpContext) => NetworkTensor[] {
  return (ctx) => {
    checkLegacyBroadcast(ctx);
    return [ctx.net.addElementWise(ctx.input(0), ctx.input(1), op, ctx.main)];
  };
}

/** Sum/Max/Min/Mean over 1…N inputs: a left-to-right chain of binary layers. */
function variadic(op: 'add' | 'max' | 'min', mean = false): (ctx: OpContext) => NetworkTensor[] {
  return (ctx) => {
    const xs = ctx.inputs.filter((t): t is NetworkTensor => t !== null);
    if (xs.length === 0) ctx.invalid('needs at least one input');
    if (xs.length === 1 && !mean) return [ctx.net.addIdentity(xs[0]!, ctx.main)];
    let acc = xs[0]!;
    for (let i = 1; i < xs.length; i++) {
      const last = i === xs.length - 1 && !mean;
      acc = ctx.net.addElementWise(acc, xs[i]!, op, last ? ctx.main : { name: ctx.sub(op) });
    }
    if (mean) acc = ctx.net.addElementWise(acc, ctx.scalar(xs.length, acc.dtype, 'count'), 'div', ctx.main);
    return [acc];
  };
}

export const elementwiseOps: OpTable = {
  Add: binary('add'),
  Sub: binary('sub'),
  Mul: binary('mul'),
  Div: binary('div'),
  // Pow-12+ allows an exponent of another numeric type; Kiln's elementwise layers take one dtype.
  Pow: (ctx) => {
    const base = ctx.input(0);
    let exp = ctx.input(1);
    if (exp.dtype !== base.dtype) exp = ctx.net.addCast(exp, base.dtype, { name: ctx.sub('exponent_cast') });
    return [ctx.net.addElementWise(base, exp, 'pow', ctx.main)];
  },
  Mod: (ctx) => [ctx.net.addElementWise(ctx.input(0), ctx.input(1), ctx.attrs.int('fmod', 0) === 1 ? 'fmod' : 'mod', ctx.main)],
  And: binary('and'),
  Or: binary('or'),
  Xor: binary('xor'),
  Equal: binary('equal'),
  Greater: binary('greater'),
  GreaterOrEqual: binary('greaterOrEqual'),
  Less: binary('less'),
  LessOrEqual: binary('lessOrEqual'),
  BitwiseAnd: binary('bitwiseAnd'),
  BitwiseOr: binary('bitwiseOr'),
  BitwiseXor: binary('bitwiseXor'),
  BitShift: (ctx) => {
    const dir = ctx.attrs.string('direction', '');
    if (dir !== 'LEFT' && dir !== 'RIGHT') ctx.invalid(`attribute 'direction' must be "LEFT" or "RIGHT", got "${dir}"`);
    return [ctx.net.addElementWise(ctx.input(0), ctx.input(1), dir === 'LEFT' ? 'bitShiftLeft' : 'bitShiftRight', ctx.main)];
  },
  Sum: variadic('add'),
  Max: variadic('max'),
  Min: variadic('min'),
  Mean: variadic('add', true),
  Where: (ctx) => [ctx.net.addSelect(ctx.input(0), ctx.input(1), ctx.input(2), ctx.main)],
};
