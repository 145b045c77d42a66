/** Shape and layout ops: reshape family, transpose, concat/split, slice, expand/tile, pad, cast, … */
import type { NetworkTensor, PadMode } from '@kiln/core';
import { dtypeFromOnnx, onnxTypeName } from '../dtypes';
import type { OpContext, OpMapper, OpTable } from './context';
import { squeezeDynamicAxes, unsqueezeDynamicAxes } from './reduce-dynamic';

const reshape: OpMapper = (ctx) => {
  // Reshape-1 took the shape as an attribute; from 5 it is an input.
  const shape = ctx.opset < 5 ? ctx.int64s(ctx.attrs.ints('shape') ?? ctx.invalid("attribute 'shape' is required"), 'shape') : ctx.input(1);
  return [ctx.net.addReshape(ctx.input(0), shape, { ...ctx.main, allowZero: ctx.attrs.int('allowzero', 0) !== 0 })];
};

/** Squeeze/Unsqueeze `axes`: attribute before 13, (constant) input from 13. */
function axesOf(ctx: OpContext): number[] | null {
  return ctx.opset < 13 ? (ctx.attrs.ints('axes') ?? null) : ctx.constInts(1, 'axes');
}

const split: OpMapper = (ctx) => {
  const x = ctx.input(0);
  const n = ctx.node.outputs.length;
  const axis = ctx.attrs.int('axis', 0);
  let sizes: NetworkTensor | null = null;
  if (ctx.opset < 13) {
    const s = ctx.attrs.ints('split');
    if (s && s.length > 0) sizes = ctx.int64s(s, 'split');
  } else {
    sizes = ctx.optInput(1);
  }
  if (!sizes && ctx.opset >= 18 && ctx.attrs.has('num_outputs')) {
    const num = ctx.attrs.int('num_outputs', n);
    if (num !== n) ctx.invalid(`num_outputs=${num} but the node has ${n} outputs`);
    // Split-18: uneven sizes give ceil(dim / n) per chunk and a smaller last chunk.
    const rank = x.dims.length;
    const dim = x.dims[axis < 0 ? axis + rank : axis] ?? -1;
    if (dim >= 0 && dim % n !== 0) {
      const chunk = Math.ceil(dim / n);
      const s = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
      sizes = ctx.int64s(s, 'split');
    }
  }
  return ctx.net.addSplit(x, n, { ...ctx.main, axis, split: sizes });
};

const slice: OpMapper = (ctx) => {
  const x = ctx.input(0);
  if (ctx.opset < 10) {
    const starts = ctx.attrs.ints('starts') ?? ctx.invalid("attribute 'starts' is required");
    const ends = ctx.attrs.ints('ends') ?? ctx.invalid("attribute 'ends' is required");
    const axes = ctx.attrs.ints('axes');
    return [
      ctx.net.addSlice(x, ctx.int64s(starts, 'starts'), ctx.int64s(ends, 'ends'), axes ? ctx.int64s(axes, 'axes') : null, null, ctx.main),
    ];
  }
  return [ctx.net.addSlice(x, ctx.input(1), ctx.input(2), ctx.optInput(3), ctx.optInput(4), ctx.main)];
};

function padMode(ctx: OpContext): PadMode {
  const m = ctx.attrs.string('mode', 'constant');
  if (m === 'constant' || m === 'reflect' || m === 'edge' || m === 'wrap') return m;
  return ctx.invalid(`attribute 'mode' has unknown value "${m}"`);
}

const pad: OpMapper = (ctx) => {
  const x = ctx.input(0);
  const mode = padMode(ctx);
  if (ctx.opset < 11) {
    // Pad-1 called it `paddings`; Pad-2 `pads`. The fill value was a float attribute.
    const pads = ctx.attrs.ints('pads') ?? ctx.attrs.ints('paddings') ?? ctx.invalid("attribute 'pads' is required");
    const value = ctx.attrs.float('value', 0);
    const v = mode === 'constant' && value !== 0 ? ctx.scalar(value, x.dtype, 'value') : null;
    return [ctx.net.addPad(x, ctx.int64s(pads, 'pads'), { ...ctx.main, mode, value: v })];
  }
  return [ctx.net.addPad(x, ctx.input(1), { ...ctx.main, mode, value: ctx.optInput(2), axes: ctx.optInput(3) })];
};

/** Cast-1 named the target type with a string ("FLOAT", "INT64", …). */
const CAST1_NAMES: Record<string, number> = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13,
};

const cast: OpMapper = (ctx) => {
  const to = ctx.attrs.typeOf('to') === 3 ? (CAST1_NAMES[ctx.attrs.string('to', '').toUpperCase()] ?? 0) : ctx.attrs.int('to', 0);
  const dtype = dtypeFromOnnx(to);
  if (!dtype) return ctx.unsupported(`casting to ${onnxTypeName(to)} is not supported`);
  return [ctx.net.addCast(ctx.input(0), dtype, ctx.main)];
};

function depthToSpaceMode(ctx: OpContext): 'dcr' | 'crd' {
  const m = ctx.attrs.string('mode', 'DCR');
  if (m === 'DCR' || m === 'CRD') return m === 'DCR' ? 'dcr' : 'crd';
  return ctx.invalid(`attribute 'mode' must be "DCR" or "CRD", got "${m}"`);
}

function blocksize(ctx: OpContext): number {
  const b = ctx.attrs.int('blocksize', 0);
  if (b < 1) ctx.invalid(`attribute 'blocksize' must be positive, got ${b}`);
  return b;
}

/**
 * CenterCropPad-18: per axis, crop (centered, the extra element dropped at the end) or zero-pad (the extra
 * at the end) to the target size: one Pad whose negative pads crop. With diff = target - dim, the begin
 * pad is diff / 2 truncated toward zero (floor for pads, -floor(-diff/2) for crops) and the end pad the
 * rest; for a run-time target the same arithmetic is built from layers (integer Div truncates).
 */
const centerCropPad: OpMapper = (ctx) => {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const axes = (ctx.attrs.ints('axes') ?? Array.from({ length: rank }, (_, i) => i)).map((a) => (a < 0 ? a + rank : a));
  const dims = axes.map((a) => {
    const d = x.dims[a];
    if (d === undefined || a < 0) return ctx.invalid(`axis ${a} is out of range for rank ${rank}`);
    if (d < 0) return ctx.unsupported(`axis ${a} has a dynamic size; CenterCropPad needs static dims`);
    return d;
  });
  const shape = ctx.input(1);
  const target = ctx.constValue(shape) ? ctx.constInts(1, 'shape')! : null;
  let pads: NetworkTensor;
  if (target) {
    if (target.length !== axes.length) ctx.invalid(`shape has ${target.length} values for ${axes.length} axes`);
    const begin = target.map((t, i) => Math.trunc((t - dims[i]!) / 2));
    pads = ctx.int64s([...begin, ...target.map((t, i) => t - dims[i]! - begin[i]!)], 'pads');
  } else {
    const t = shape.dtype === 'int64' ? shape : ctx.net.addCast(shape, 'int64', { name: ctx.sub('shape_int64') });
    const diff = ctx.net.addElementWise(t, ctx.int64s(dims, 'dims'), 'sub', { name: ctx.sub('diff') });
    const begin = ctx.net.addElementWise(diff, ctx.scalar(2, 'int64', 'two'), 'div', { name: ctx.sub('begin') });
    const end = ctx.net.addElementWise(diff, begin, 'sub', { name: ctx.sub('end') });
    pads = ctx.net.addConcatenation([begin, end], { name: ctx.sub('pads'), axis: 0 });
  }
  return [ctx.net.addPad(x, pads, { ...ctx.main, mode: 'constant', axes: ctx.int64s(axes, 'axes') })];
};

export const shapeOps: OpTable = {
  CenterCropPad: centerCropPad,
  Reshape: reshape,
  Flatten: (ctx) => [ctx.net.addFlatten(ctx.input(0), { ...ctx.main, axis: ctx.attrs.int('axis', 1) })],
  Squeeze: (ctx) => {
    const runtime = ctx.opset >= 13 ? ctx.optInput(1) : null;
    if (runtime && !ctx.constValue(runtime)) return [squeezeDynamicAxes(ctx, runtime)];
    const axes = axesOf(ctx);
    return [ctx.net.addSqueeze(ctx.input(0), axes && axes.length > 0 ? axes : null, ctx.main)];
  },
  Unsqueeze: (ctx) => {
    const runtime = ctx.opset >= 13 ? ctx.optInput(1) : null;
    if (runtime && !ctx.constValue(runtime)) return [unsqueezeDynamicAxes(ctx, runtime)];
    const axes = axesOf(ctx);
    if (!axes || axes.length === 0) return ctx.invalid('Unsqueeze needs axes');
    return [ctx.net.addUnsqueeze(ctx.input(0), axes, ctx.main)];
  },
  Transpose: (ctx) => [ctx.net.addTranspose(ctx.input(0), ctx.attrs.ints('perm'), ctx.main)],
  Concat: (ctx) => {
    const xs = ctx.inputs.filter((t): t is NetworkTensor => t !== null);
    if (xs.length === 0) ctx.invalid('Concat needs at least one input');
    if (ctx.opset >= 4 && !ctx.attrs.has('axis')) ctx.invalid("attribute 'axis' is required");
    return [ctx.net.addConcatenation(xs, { ...ctx.main, axis: ctx.attrs.int('axis', 1) })];
  },
  Split: split,
  Slice: slice,
  Expand: (ctx) => [ctx.net.addExpand(ctx.input(0), ctx.input(1), ctx.main)],
  Tile: (ctx) => {
    if (ctx.opset < 6) ctx.unsupported('Tile-1 (tiles/axis inputs) is not supported; use opset 6 or later');
    return [ctx.net.addTile(ctx.input(0), ctx.input(1), ctx.main)];
  },
  Pad: pad,
  Shape: (ctx) => {
    const start = ctx.attrs.optInt('start');
    const end = ctx.attrs.optInt('end');
    return [ctx.net.addShape(ctx.input(0), { ...ctx.main, ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) })];
  },
  Size: (ctx) => [ctx.net.addSize(ctx.input(0), ctx.main)],
  DepthToSpace: (ctx) => [ctx.net.addDepthToSpace(ctx.input(0), blocksize(ctx), { ...ctx.main, mode: ctx.opset < 11 ? 'dcr' : depthToSpaceMode(ctx) })],
  SpaceToDepth: (ctx) => [ctx.net.addSpaceToDepth(ctx.input(0), blocksize(ctx), ctx.main)],
  Identity: (ctx) => [ctx.net.addIdentity(ctx.input(0), ctx.main)],
  Cast: cast,
  CastLike: (ctx) => [ctx.net.addCast(ctx.input(0), ctx.input(1).dtype, ctx.main)],
  Trilu: (ctx) => [ctx.net.addTrilu(ctx.input(0), { ...ctx.main, upper: ctx.attrs.int('upper', 1) !== 0, k: ctx.optInput(1) })],
};
