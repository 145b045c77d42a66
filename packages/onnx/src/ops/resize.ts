/** Resize (opsets 10–19+) and the deprecated Upsample (7–9). */
import { Tensor, type CoordinateTransform, type KeepAspectRatioPolicy, type NearestMode, type NetworkTensor, type ResizeMode } from '@kiln/core';
import type { OpContext, OpMapper, OpTable } from './context';

function mode(ctx: OpContext): ResizeMode {
  const m = ctx.attrs.string('mode', 'nearest');
  if (m === 'nearest' || m === 'linear' || m === 'cubic') return m;
  // Upsample-7 spelled linear as "bilinear" in some exporters.
  if (m === 'bilinear') return 'linear';
  return ctx.invalid(`attribute 'mode' has unknown value "${m}"`);
}

const COORD: Record<string, CoordinateTransform> = {
  half_pixel: 'halfPixel', half_pixel_symmetric: 'halfPixelSymmetric', pytorch_half_pixel: 'pytorchHalfPixel',
  align_corners: 'alignCorners', asymmetric: 'asymmetric', tf_half_pixel_for_nn: 'tfHalfPixelForNn', tf_crop_and_resize: 'tfCropAndResize',
};
const NEAREST: Record<string, NearestMode> = {
  round_prefer_floor: 'roundPreferFloor', round_prefer_ceil: 'roundPreferCeil', floor: 'floor', ceil: 'ceil',
};
const KEEP: Record<string, KeepAspectRatioPolicy> = { stretch: 'stretch', not_larger: 'notLarger', not_smaller: 'notSmaller' };

function pick<T>(ctx: OpContext, table: Record<string, T>, attr: string, def: string): T {
  const v = ctx.attrs.string(attr, def);
  const r = table[v];
  if (r === undefined) ctx.invalid(`attribute '${attr}' has unknown value "${v}"`);
  return r;
}

/** An input that is present but a constant with zero elements counts as absent (common for roi/scales). */
function nonEmpty(ctx: OpContext, i: number): NetworkTensor | null {
  const t = ctx.optInput(i);
  if (!t) return null;
  const v = ctx.constValue(t);
  return v && v.size === 0 ? null : t;
}

const resize: OpMapper = (ctx) => {
  const x = ctx.input(0);
  if (ctx.opset < 11) {
    // Resize-10: inputs (x, scales); asymmetric coordinates, nearest rounds down like Upsample.
    return [
      ctx.net.addResize(x, { scales: ctx.input(1) }, { ...ctx.main, mode: mode(ctx), coordinateTransform: 'asymmetric', nearestMode: 'floor' }),
    ];
  }
  const coordinateTransform = pick(ctx, COORD, 'coordinate_transformation_mode', 'half_pixel');
  const scales = nonEmpty(ctx, 2);
  const sizes = nonEmpty(ctx, 3);
  if (!scales && !sizes) ctx.invalid('one of scales and sizes must be given');
  if (scales && sizes) ctx.invalid('only one of scales and sizes may be given');
  const axes = ctx.attrs.ints('axes');
  return [
    ctx.net.addResize(
      x,
      { roi: coordinateTransform === 'tfCropAndResize' ? nonEmpty(ctx, 1) : null, scales, sizes },
      {
        ...ctx.main,
        mode: mode(ctx),
        coordinateTransform,
        nearestMode: pick(ctx, NEAREST, 'nearest_mode', 'round_prefer_floor'),
        cubicCoeffA: ctx.attrs.float('cubic_coeff_a', -0.75),
        excludeOutside: ctx.attrs.int('exclude_outside', 0) !== 0,
        extrapolationValue: ctx.attrs.float('extrapolation_value', 0),
        antialias: ctx.attrs.int('antialias', 0) !== 0,
        axes: axes && axes.length > 0 ? axes : null,
        keepAspectRatioPolicy: pick(ctx, KEEP, 'keep_aspect_ratio_policy', 'stretch'),
      },
    ),
  ];
};

/** Upsample-7 had `scales` as an attribute, 9 as an input; both index the input with floor(i / scale). */
const upsample: OpMapper = (ctx) => {
  const x = ctx.input(0);
  let scales: NetworkTensor;
  if (ctx.opset < 9) {
    const s = ctx.attrs.floats('scales') ?? ctx.invalid("attribute 'scales' is required");
    scales = ctx.net.addConstant(new Tensor('float32', s, [s.length]), ctx.sub('scales'));
  } else {
    scales = ctx.input(1);
  }
  return [ctx.net.addResize(x, { scales }, { ...ctx.main, mode: mode(ctx), coordinateTransform: 'asymmetric', nearestMode: 'floor' })];
};

export const resizeOps: OpTable = { Resize: resize, Upsample: upsample };
