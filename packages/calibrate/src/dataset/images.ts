/**
 * Image samples (JPEG/PNG and whatever else sharp decodes) turned into model input tensors by a preprocessing
 * spec: resize → center crop → channel order → value = (pixel·scale − mean[c]) / std[c] → layout → dtype.
 */
import { KilnError, type DataType, type TypedArray } from '@kiln/core';

export interface PreprocessSpec {
  /** Exact size, or the shorter side (aspect kept). Default: the crop size, else the input's H×W. */
  resize?: { width: number; height: number } | { shorterSide: number } | number;
  /** [height, width] cut from the centre after resizing. */
  centerCrop?: [number, number];
  /** Default 'RGB'. */
  channelOrder?: 'RGB' | 'BGR';
  /** Multiplies the 0–255 pixel first. Default 1/255. */
  scale?: number;
  /** Per channel (in the output channel order), subtracted after scaling. Default 0. */
  mean?: number[];
  /** Per channel, divides after the mean. Default 1. */
  std?: number[];
  /** Default 'NCHW'. */
  layout?: 'NCHW' | 'NHWC';
  /** Default: the model input's dtype. float32, float64 or uint8 (uint8 skips scale/mean/std). */
  dtype?: DataType;
}

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.bmp']);

function bad(msg: string): KilnError {
  return new KilnError('KILN_E_INVALID_VALUE', `preprocessing spec: ${msg}`);
}

function posInt(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) throw bad(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function channels(v: unknown, what: string): number[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw bad(`${what} must be 3 numbers (one per channel), got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validates a parsed spec JSON (unknown keys are refused so typos do not pass silently). */
export function checkPreprocessSpec(spec: unknown): PreprocessSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw bad('must be a JSON object');
  const s = spec as Record<string, unknown>;
  const known = ['resize', 'centerCrop', 'channelOrder', 'scale', 'mean', 'std', 'layout', 'dtype'];
  for (const k of Object.keys(s)) if (!known.includes(k)) throw bad(`unknown key '${k}'; known keys: ${known.join(', ')}`);
  if (s.resize !== undefined) {
    const r = s.resize as Record<string, unknown> | number;
    if (typeof r === 'number') posInt(r, 'resize');
    else if (r && typeof r === 'object' && 'shorterSide' in r) posInt(r.shorterSide, 'resize.shorterSide');
    else if (r && typeof r === 'object') {
      posInt(r.width, 'resize.width');
      posInt(r.height, 'resize.height');
    } else throw bad('resize must be {width, height}, {shorterSide} or a number (the shorter side)');
  }
  if (s.centerCrop !== undefined) {
    if (!Array.isArray(s.centerCrop) || s.centerCrop.length !== 2) throw bad('centerCrop must be [height, width]');
    posInt(s.centerCrop[0], 'centerCrop[0]');
    posInt(s.centerCrop[1], 'centerCrop[1]');
  }
  if (s.channelOrder !== undefined && s.channelOrder !== 'RGB' && s.channelOrder !== 'BGR') throw bad(`channelOrder must be "RGB" or "BGR"`);
  if (s.scale !== undefined && (typeof s.scale !== 'number' || !Number.isFinite(s.scale))) throw bad('scale must be a number');
  channels(s.mean, 'mean');
  const std = channels(s.std, 'std');
  if (std?.some((x) => x === 0)) throw bad('std must not contain 0');
  if (s.layout !== undefined && s.layout !== 'NCHW' && s.layout !== 'NHWC') throw bad('layout must be "NCHW" or "NHWC"');
  if (s.dtype !== undefined && s.dtype !== 'float32' && s.dtype !== 'float64' && s.dtype !== 'uint8') throw bad('dtype must be float32, float64 or uint8');
  return s as PreprocessSpec;
}

/** The [C,H,W] or [H,W,C] sample shape a spec produces (C = 3). */
export function imageSampleShape(spec: PreprocessSpec, hw: [number, number]): number[] {
  return (spec.layout ?? 'NCHW') === 'NCHW' ? [3, hw[0], hw[1]] : [hw[0], hw[1], 3];
}

/** Output [height, width] of a spec: the crop, else an exact resize, else the model input's spatial size. */
export function outputSize(spec: PreprocessSpec, inputHW: [number, number] | undefined, file: string): [number, number] {
  if (spec.centerCrop) return [spec.centerCrop[0], spec.centerCrop[1]];
  const r = spec.resize;
  if (r && typeof r === 'object' && 'width' in r) return [r.height, r.width];
  if (inputHW && inputHW[0] > 0 && inputHW[1] > 0) return inputHW;
  throw new KilnError('KILN_E_INVALID_VALUE', `${file}: the preprocessing spec gives no output size and the model input's height/width are dynamic; add "centerCrop" or an exact "resize"`);
}

type SharpFn = typeof import('sharp');
let sharpModule: SharpFn | undefined;

async function loadSharp(): Promise<SharpFn> {
  if (sharpModule) return sharpModule;
  try {
    const m = (await import('sharp')) as unknown as { default?: SharpFn };
    sharpModule = (m.default ?? m) as SharpFn;
    return sharpModule;
  } catch (e) {
    throw new KilnError('KILN_E_UNSUPPORTED', `reading images needs the 'sharp' package, which failed to load: ${(e as Error).message}`);
  }
}

/** Decodes and preprocesses one image file into a sample of `size` = [h, w]. */
export async function readImage(file: string, spec: PreprocessSpec, size: [number, number], dtype: DataType): Promise<{ dims: number[]; data: TypedArray }> {
  const sharp = await loadSharp();
  let img = sharp(file, { failOn: 'error' }).removeAlpha().toColourspace('srgb');
  let meta;
  try {
    meta = await sharp(file).metadata();
  } catch (e) {
    throw new KilnError('KILN_E_INVALID_INPUT', `${file}: not a readable image (${(e as Error).message})`);
  }
  const [h, w] = size;
  const r = spec.resize;
  if (r !== undefined) {
    if (typeof r === 'object' && 'width' in r) img = img.resize(r.width, r.height, { fit: 'fill' });
    else {
      const side = typeof r === 'number' ? r : r.shorterSide;
      const iw = meta.width ?? 0;
      const ih = meta.height ?? 0;
      if (iw <= 0 || ih <= 0) throw new KilnError('KILN_E_INVALID_INPUT', `${file}: image has no size`);
      const f = side / Math.min(iw, ih);
      img = img.resize(Math.max(1, Math.round(iw * f)), Math.max(1, Math.round(ih * f)), { fit: 'fill' });
    }
  } else if (!spec.centerCrop) {
    img = img.resize(w, h, { fit: 'fill' });
  }
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    // Materialise the resize first: sharp applies extract before resize within one pipeline.
    const resized = await img.raw().toBuffer({ resolveWithObject: true });
    raw = resized;
    if (spec.centerCrop) {
      const { width: rw, height: rh } = resized.info;
      if (rw < w || rh < h) throw new KilnError('KILN_E_INVALID_VALUE', `${file}: center crop ${h}x${w} is larger than the resized image ${rh}x${rw}`);
      raw = await sharp(resized.data, { raw: { width: rw, height: rh, channels: resized.info.channels as 3 } })
        .extract({ left: Math.floor((rw - w) / 2), top: Math.floor((rh - h) / 2), width: w, height: h })
        .raw()
        .toBuffer({ resolveWithObject: true });
    }
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('KILN_E_INVALID_INPUT', `${file}: cannot decode image (${(e as Error).message})`);
  }
  const { width, height, channels: ch } = raw.info;
  if (width !== w || height !== h) throw new KilnError('KILN_E_INTERNAL', `${file}: preprocessing produced ${height}x${width}, expected ${h}x${w}`);
  const outType = spec.dtype ?? dtype;
  const nchw = (spec.layout ?? 'NCHW') === 'NCHW';
  const bgr = spec.channelOrder === 'BGR';
  const scale = spec.scale ?? 1 / 255;
  const mean = spec.mean ?? [0, 0, 0];
  const std = spec.std ?? [1, 1, 1];
  const n = h * w * 3;
  let out: TypedArray;
  if (outType === 'uint8') out = new Uint8Array(n);
  else if (outType === 'float32') out = new Float32Array(n);
  else if (outType === 'float64') out = new Float64Array(n);
  else throw new KilnError('KILN_E_UNSUPPORTED_DTYPE', `${file}: images can be fed as float32, float64 or uint8, not ${outType} (set "dtype" in the spec)`);
  const px = raw.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const base = (y * w + x) * ch;
      for (let c = 0; c < 3; c++) {
        // Grey images (1 channel after removeAlpha) repeat their one channel.
        const v = px[base + Math.min(ch - 1, bgr ? 2 - c : c)];
        const value = outType === 'uint8' ? v : (v * scale - mean[c]) / std[c];
        const at = nchw ? c * h * w + y * w + x : (y * w + x) * 3 + c;
        (out as Float32Array)[at] = value;
      }
    }
  }
  return { dims: imageSampleShape(spec, [h, w]), data: out };
}
