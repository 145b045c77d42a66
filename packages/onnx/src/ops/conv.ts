/** Convolution, transposed convolution and pooling. */
import type { PaddingMode, PoolingOptions } from '@kiln/core';
import type { OpContext, OpMapper, OpTable } from './context';

function paddingMode(ctx: OpContext): PaddingMode {
  const p = ctx.attrs.string('auto_pad', 'NOTSET');
  switch (p) {
    case 'NOTSET': case '': return 'explicit';
    case 'SAME_UPPER': return 'sameUpper';
    case 'SAME_LOWER': return 'sameLower';
    case 'VALID': return 'valid';
    default: return ctx.invalid(`attribute 'auto_pad' has unknown value "${p}"`);
  }
}

function nonNegative(ctx: OpContext, name: string): number[] {
  const v = ctx.attrs.ints(name) ?? [];
  if (v.some((x) => x < 0)) ctx.unsupported(`negative '${name}' (${v.join(', ')}) is not supported`);
  return v;
}

function positive(ctx: OpContext, name: string): number[] {
  const v = ctx.attrs.ints(name) ?? [];
  if (v.some((x) => x < 1)) ctx.invalid(`'${name}' must be positive, got [${v.join(', ')}]`);
  return v;
}

const conv: OpMapper = (ctx) => [
  ctx.net.addConvolution(ctx.input(0), ctx.input(1), ctx.optInput(2), {
    ...ctx.main,
    strides: positive(ctx, 'strides'),
    pads: nonNegative(ctx, 'pads'),
    dilations: positive(ctx, 'dilations'),
    groups: ctx.attrs.int('group', 1),
    paddingMode: paddingMode(ctx),
  }),
];

const convTranspose: OpMapper = (ctx) => [
  ctx.net.addDeconvolution(ctx.input(0), ctx.input(1), ctx.optInput(2), {
    ...ctx.main,
    strides: positive(ctx, 'strides'),
    pads: nonNegative(ctx, 'pads'),
    dilations: positive(ctx, 'dilations'),
    groups: ctx.attrs.int('group', 1),
    paddingMode: paddingMode(ctx),
    outputPadding: nonNegative(ctx, 'output_padding'),
    outputShape: nonNegative(ctx, 'output_shape'),
  }),
];

function pool(type: 'max' | 'average' | 'lp'): OpMapper {
  return (ctx) => {
    if (type === 'max' && ctx.outputWanted(1)) ctx.unsupported('the MaxPool Indices output is not supported');
    const kernelShape = positive(ctx, 'kernel_shape');
    if (kernelShape.length === 0) ctx.invalid("attribute 'kernel_shape' is required");
    const opts: PoolingOptions = {
      ...ctx.main,
      type,
      kernelShape,
      strides: positive(ctx, 'strides'),
      pads: nonNegative(ctx, 'pads'),
      dilations: positive(ctx, 'dilations'),
      ceilMode: ctx.attrs.int('ceil_mode', 0) === 1,
      paddingMode: paddingMode(ctx),
    };
    if (type === 'average') opts.countIncludePad = ctx.attrs.int('count_include_pad', 0) === 1;
    // LpPool-1 had a float `p`; later versions an int, both default 2.
    if (type === 'lp') opts.p = ctx.attrs.float('p', 2);
    return [ctx.net.addPooling(ctx.input(0), opts)];
  };
}

function globalPool(type: 'max' | 'average' | 'lp'): OpMapper {
  return (ctx) => {
    const opts: PoolingOptions = { ...ctx.main, type, global: true };
    if (type === 'lp') opts.p = ctx.attrs.float('p', 2);
    return [ctx.net.addPooling(ctx.input(0), opts)];
  };
}

export const convOps: OpTable = {
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool('max'),
  AveragePool: pool('average'),
  LpPool: pool('lp'),
  GlobalMaxPool: globalPool('max'),
  GlobalAveragePool: globalPool('average'),
  GlobalLpPool: globalPool('lp'),
};
