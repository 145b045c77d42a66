/**
 * TensorRT calibration cache (calibration.md §3.1) and Kiln's dynamic-range JSON.
 *
 * Cache: `TRT-<NV_TENSORRT_VERSION>-<Algo>\n` then one `name: xxxxxxxx\n` per tensor, the 8 lowercase hex
 * digits being the bits of the float32 scale f32(f32(amax)/127). TensorRT has no percentile calibrator, so a
 * percentile run is labelled `EntropyCalibration2` — the label trtexec's built-in calibrator accepts, and the
 * scales are what matter to it (documented in the README).
 */
import { KilnError } from '@kiln/core';
import type { Algorithm } from './calibrators/index';

export type CacheAlgo = 'EntropyCalibration2' | 'EntropyCalibration' | 'MinMaxCalibration';

export const CACHE_ALGO: Record<Algorithm, CacheAlgo> = {
  entropy2: 'EntropyCalibration2',
  entropy: 'EntropyCalibration',
  minmax: 'MinMaxCalibration',
  percentile: 'EntropyCalibration2',
};

/** `NV_TENSORRT_VERSION` of "X.Y.Z": major·1000+minor·100+patch below 10, major·10000+minor·100+patch from 10. */
export function trtVersionNumber(version: string): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(version.trim());
  if (!m) throw new KilnError('KILN_E_INVALID_VALUE', `TensorRT version must look like 8.6.1 or 10.3.0, got '${version}'`);
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (minor > 99 || patch > 99 || major < 1) throw new KilnError('KILN_E_INVALID_VALUE', `TensorRT version '${version}' is out of range (minor and patch must be below 100)`);
  if (major < 10) {
    if (minor > 9) throw new KilnError('KILN_E_INVALID_VALUE', `TensorRT ${major}.x versions encode the minor version in one digit; '${version}' cannot be encoded`);
    return major * 1000 + minor * 100 + patch;
  }
  return major * 10000 + minor * 100 + patch;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of the float32 scale of `amax` (computed in f32 like TensorRT: f32(amax) / 127 rounded to f32). */
export function scaleBits(amax: number): number {
  f32[0] = amax;
  f32[0] = f32[0] / 127;
  return u32[0];
}

export function bitsToFloat(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** float32 scale of `amax`. */
export function amaxToScale(amax: number): number {
  return bitsToFloat(scaleBits(amax));
}

function checkName(name: string): void {
  if (name.length === 0 || /[\r\n]/.test(name)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `tensor name ${JSON.stringify(name)} cannot be written to a calibration cache (empty or contains a line break)`);
  }
}

export interface CalibrationCache {
  /** The version number of the header (e.g. 8601, 100300). */
  version: number;
  algo: string;
  /** Scale per tensor (float32 values; +∞ for tensors TensorRT could not calibrate). */
  scales: Record<string, number>;
  /** The raw 32-bit pattern per tensor, for bit-exact round trips. */
  bits: Record<string, number>;
}

/** Writes a cache from amax values. `trtVersion` is "X.Y.Z" (required: TensorRT rejects other versions' caches). */
export function writeCalibrationCache(ranges: Record<string, number>, options: { trtVersion: string; algorithm?: Algorithm; algo?: CacheAlgo }): string {
  const version = trtVersionNumber(options.trtVersion);
  const algo = options.algo ?? CACHE_ALGO[options.algorithm ?? 'entropy2'];
  const lines = [`TRT-${version}-${algo}`];
  for (const [name, amax] of Object.entries(ranges)) {
    checkName(name);
    if (!(amax >= 0)) throw new KilnError('KILN_E_INVALID_VALUE', `amax of '${name}' must be a non-negative number, got ${amax}`);
    lines.push(`${name}: ${scaleBits(amax).toString(16).padStart(8, '0')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads a cache: any entry order, `7f800000` (+∞), names containing ':' (split at the last ': '), CRLF. */
export function readCalibrationCache(text: string, source = 'calibration cache'): CalibrationCache {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const header = /^TRT-(\d+)-([A-Za-z0-9_]+)$/.exec(lines[0]?.trim() ?? '');
  if (!header) {
    throw new KilnError('KILN_E_INVALID_INPUT', `${source}: first line ${JSON.stringify(lines[0] ?? '')} is not a TensorRT cache header like 'TRT-8601-EntropyCalibration2'`);
  }
  const scales: Record<string, number> = {};
  const bits: Record<string, number> = {};
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const at = line.lastIndexOf(': ');
    const hex = at < 0 ? '' : line.slice(at + 2).trim();
    if (at <= 0 || !/^[0-9a-fA-F]{1,8}$/.test(hex)) {
      throw new KilnError('KILN_E_INVALID_INPUT', `${source}: line ${n + 1} ${JSON.stringify(line)} is not 'tensor_name: xxxxxxxx' (8 hex digits of the float32 scale)`);
    }
    const name = line.slice(0, at);
    const b = Number.parseInt(hex, 16) >>> 0;
    bits[name] = b;
    scales[name] = bitsToFloat(b);
  }
  return { version: Number(header[1]), algo: header[2], scales, bits };
}

/** amax per tensor of a cache (scale·127; +∞ and NaN entries are left out: TensorRT could not calibrate them). */
export function cacheRanges(cache: CalibrationCache): Record<string, number> {
  const ranges: Record<string, number> = {};
  for (const [name, s] of Object.entries(cache.scales)) if (Number.isFinite(s) && s >= 0) ranges[name] = s * 127;
  return ranges;
}

export interface RangesJson {
  version: 1;
  algorithm: string;
  ranges: Record<string, number>;
}

/** Kiln dynamic-range JSON: `{"version":1,"algorithm":…,"ranges":{name: amax}}`. */
export function writeRangesJson(ranges: Record<string, number>, algorithm: string): string {
  const doc: RangesJson = { version: 1, algorithm, ranges };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function readRangesJson(text: string, source = 'ranges JSON'): RangesJson {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KilnError('KILN_E_INVALID_INPUT', `${source}: not valid JSON (${(e as Error).message})`);
  }
  const d = doc as Partial<RangesJson>;
  if (d === null || typeof d !== 'object' || d.version !== 1 || d.ranges === null || typeof d.ranges !== 'object') {
    throw new KilnError('KILN_E_INVALID_INPUT', `${source}: expected {"version": 1, "algorithm": …, "ranges": {tensor: amax}}`);
  }
  for (const [name, v] of Object.entries(d.ranges)) {
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) {
      throw new KilnError('KILN_E_INVALID_INPUT', `${source}: range of '${name}' must be a finite non-negative number, got ${JSON.stringify(v)}`);
    }
  }
  return { version: 1, algorithm: String(d.algorithm ?? 'unknown'), ranges: d.ranges };
}

/** Reads either format (a cache starts with 'TRT-', JSON with '{') into amax per tensor. */
export function readRanges(text: string, source = 'calibration file'): { ranges: Record<string, number>; format: 'trt-cache' | 'json'; algorithm: string } {
  const head = text.trimStart();
  if (head.startsWith('{')) {
    const j = readRangesJson(text, source);
    return { ranges: j.ranges, format: 'json', algorithm: j.algorithm };
  }
  if (head.startsWith('TRT-')) {
    const c = readCalibrationCache(text, source);
    return { ranges: cacheRanges(c), format: 'trt-cache', algorithm: c.algo };
  }
  throw new KilnError('KILN_E_INVALID_INPUT', `${source}: neither a TensorRT calibration cache (TRT-…) nor Kiln ranges JSON ({"version":1,…})`);
}
