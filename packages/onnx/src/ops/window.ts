/**
 * Window functions (opset 17): generalized cosine windows w[n] = a0 - a1·cos(2πn/N) + a2·cos(4πn/N),
 * n in [0, size), N = size (periodic, the default) or size - 1 (symmetric). Built from Range, Cast and
 * pointwise layers, computed in float32 and cast to `output_datatype`.
 */
import type { NetworkTensor } from '@kiln/core';
import { dtypeFromOnnx, onnxTypeName } from '../dtypes';
import type { OpContext, OpMapper, OpTable } from './context';

function cosineWindow(a0: number, a1: number, a2: number): OpMapper {
  return (ctx: OpContext) => {
    const size = ctx.input(0);
    const outType = ctx.attrs.int('output_datatype', 1);
    const out = dtypeFromOnnx(outType);
    if (!out) return ctx.unsupported(`output_datatype ${onnxTypeName(outType)} is not supported`);
    const periodic = ctx.attrs.int('periodic', 1) !== 0;
    const n = ctx.net.addCast(
      ctx.net.addRange(ctx.scalar(0, size.dtype, 'start'), size, ctx.scalar(1, size.dtype, 'delta'), { name: ctx.sub('range') }),
      'float32',
      { name: ctx.sub('n') },
    );
    let denom = ctx.net.addCast(size, 'float32', { name: ctx.sub('size') });
    if (!periodic) denom = ctx.net.addElementWise(denom, ctx.scalar(1, 'float32', 'one'), 'sub', { name: ctx.sub('size_minus_1') });
    const arg = ctx.net.addElementWise(
      ctx.net.addElementWise(n, ctx.scalar(2 * Math.PI, 'float32', 'two_pi'), 'mul', { name: ctx.sub('angle') }),
      denom,
      'div',
      { name: ctx.sub('phase') },
    );
    const term = (k: number, a: number, what: string): NetworkTensor => {
      const phase = k === 1 ? arg : ctx.net.addElementWise(arg, ctx.scalar(k, 'float32', `k${k}`), 'mul', { name: ctx.sub(`phase${k}`) });
      const c = ctx.net.addUnary(phase, 'cos', { name: ctx.sub(`cos${k}`) });
      return ctx.net.addElementWise(c, ctx.scalar(a, 'float32', what), 'mul', { name: ctx.sub(`term${k}`) });
    };
    const last = out === 'float32' && a2 === 0;
    let w = ctx.net.addElementWise(ctx.scalar(a0, 'float32', 'a0'), term(1, a1, 'a1'), 'sub', last ? ctx.main : { name: ctx.sub('w1') });
    if (a2 !== 0) w = ctx.net.addElementWise(w, term(2, a2, 'a2'), 'add', out === 'float32' ? ctx.main : { name: ctx.sub('w2') });
    if (out !== 'float32') w = ctx.net.addCast(w, out, ctx.main);
    return [w];
  };
}

export const windowOps: OpTable = {
  HannWindow: cosineWindow(0.5, 0.5, 0),
  HammingWindow: cosineWindow(25 / 46, 21 / 46, 0),
  BlackmanWindow: cosineWindow(0.42, 0.5, 0.08),
};
