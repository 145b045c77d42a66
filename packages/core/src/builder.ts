/** `Builder`: bake a `Network` into plan bytes for one backend (TensorRT's builder + builder config). */
import { NativeNetwork } from '@kiln/binding';
import { binding } from './native';
import { KilnError, native, nativeAsync } from './errors';
import type { Network } from './network';
import type { PlanHeader } from './info';

/** min/opt/max shapes of one dynamic input. */
export interface ShapeRange {
  min: number[];
  opt: number[];
  max: number[];
}

export interface BuilderConfig {
  /** Where the plan will run. Default 'cpu'. 'cuda' fails with KILN_E_BACKEND_UNAVAILABLE without an NVIDIA GPU, its driver or the CUDA libraries. */
  backend?: 'cpu' | 'cuda';
  /** Optimization profiles: for each, a shape range per input with dynamic dims (by input name). */
  profiles?: Array<Record<string, ShapeRange>>;
  /**
   * Calibration build: the optimizer keeps every layer (no identity removal, no fusions) so that each float
   * tensor keeps its network name; run `ExecutionContext.calibrate` on the engine to gather statistics.
   */
  calibration?: boolean;
  /**
   * INT8 build (on the CPU: exact fake quantization). `ranges` maps tensor names to amax (max |x| to
   * represent, scale = amax / 127); weighted layers (convolution, deconvolution, matrix multiply) get
   * quantized inputs and per-channel quantized weights; a layer whose activation input has no range stays float.
   */
  int8?: Int8Config;
  /**
   * How hard the builder times kernel tactics, 0..5 (default 3). 0: heuristic kernels, no timing; 1-2: time
   * layers with a choice and a cache miss, few samples; 3: default sampling; 4-5: more samples, and cache
   * entries older than a day or marked for re-timing are timed again (5 also times single-tactic layers).
   */
  builderOptimizationLevel?: number;
  /** Input timing cache (bytes as written by a previous build's `timingCache`); `buildWithReport` only. */
  timingCache?: Uint8Array;
  /** Use a timing cache from another device of the same compute capability (its entries get re-timed at levels 4-5). */
  ignoreTimingCacheMismatch?: boolean;
  /**
   * Let the builder pick FP16 kernels per layer where faster (numerically sensitive layers stay FP32).
   * Default false. On the CPU backend FP16 layers run float16 kernels.
   */
  fp16?: boolean;
  /** TF32 tensor-core math for FP32 layers on the CUDA backend. Default true (trtexec's `--noTF32` sets false). */
  tf32?: boolean;
  /** Per-layer precision overrides by layer name, e.g. `{ conv1: 'fp32' }` (trtexec's `--layerPrecisions`). */
  layerPrecisions?: Record<string, LayerPrecision>;
  /** One format per network input, in order: `"fp32:chw" | "fp16:chw" | "fp32:hwc" | "fp16:hwc"`. */
  inputIOFormats?: string[];
  /** One format per network output, in order (same spellings as `inputIOFormats`). */
  outputIOFormats?: string[];
  /** CUDA device ordinal to build for (see `Device.list()`). Default 0. */
  device?: number;
  /**
   * Called on the JS thread as tactic selection proceeds (`total` = number of layers). Used by `build` (which then
   * goes through the reporting build) and `buildWithReport`; the synchronous builds cannot call back during the build.
   */
  onProgress?: (done: number, total: number) => void;
}

export type LayerPrecision = 'fp32' | 'fp16';

/** The I/O formats the builder accepts (`<precision>:<layout>`). */
export const IO_FORMATS = ['fp32:chw', 'fp16:chw', 'fp32:hwc', 'fp16:hwc'] as const;
export type IoFormat = (typeof IO_FORMATS)[number];

/**
 * Checks and normalizes (lower case, trimmed) one list of I/O formats. trtexec spells them the same way
 * (`fp16:chw`); its other layouts (chw4, hwc8, dla_*) have no Kiln kernels, so they are rejected by name.
 */
export function ioFormatsOf(what: 'inputIOFormats' | 'outputIOFormats', formats: unknown): IoFormat[] | undefined {
  if (formats === undefined) return undefined;
  if (!Array.isArray(formats)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `${what} must be an array of strings like "fp16:chw", got ${JSON.stringify(formats)}`);
  }
  return formats.map((f, i) => {
    const norm = typeof f === 'string' ? f.trim().toLowerCase() : f;
    if (typeof norm !== 'string' || !(IO_FORMATS as readonly string[]).includes(norm)) {
      throw new KilnError('KILN_E_INVALID_VALUE', `${what}[${i}] = ${JSON.stringify(f)} is not a valid I/O format; use <fp32|fp16>:<chw|hwc>, e.g. "fp16:chw" (one entry per ${what === 'inputIOFormats' ? 'input' : 'output'}, in order)`);
    }
    return norm as IoFormat;
  });
}

function layerPrecisionsOf(v: unknown): Record<string, LayerPrecision> | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `layerPrecisions must map layer names to 'fp32' or 'fp16', got ${JSON.stringify(v)}`);
  }
  const out: Record<string, LayerPrecision> = {};
  for (const [name, p] of Object.entries(v as Record<string, unknown>)) {
    if (name === '') throw new KilnError('KILN_E_INVALID_VALUE', 'layerPrecisions has an empty layer name');
    if (p !== 'fp32' && p !== 'fp16') {
      throw new KilnError('KILN_E_INVALID_VALUE', `layerPrecisions['${name}'] must be 'fp32' or 'fp16', got ${JSON.stringify(p)}`);
    }
    out[name] = p;
  }
  return out;
}

function boolOf(name: string, v: unknown): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') throw new KilnError('KILN_E_INVALID_VALUE', `${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** The precision, format and device fields of the config JSON (field names as the native builder reads them). */
function precisionJson(config: BuilderConfig): Record<string, unknown> {
  const fp16 = boolOf('fp16', config.fp16);
  const tf32 = boolOf('tf32', config.tf32);
  const layerPrecisions = layerPrecisionsOf(config.layerPrecisions);
  const inputIoFormats = ioFormatsOf('inputIOFormats', config.inputIOFormats);
  const outputIoFormats = ioFormatsOf('outputIOFormats', config.outputIOFormats);
  const device = config.device;
  if (device !== undefined && !(Number.isSafeInteger(device) && device >= 0)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `device must be a non-negative integer (a CUDA device ordinal, see Device.list()), got ${JSON.stringify(device)}`);
  }
  if (config.onProgress !== undefined && typeof config.onProgress !== 'function') {
    throw new KilnError('KILN_E_INVALID_VALUE', 'onProgress must be a function (done, total) => void');
  }
  return {
    ...(fp16 !== undefined ? { fp16 } : {}),
    ...(tf32 !== undefined ? { tf32 } : {}),
    ...(layerPrecisions && Object.keys(layerPrecisions).length > 0 ? { layerPrecisions } : {}),
    ...(inputIoFormats ? { inputIoFormats } : {}),
    ...(outputIoFormats ? { outputIoFormats } : {}),
    ...(device !== undefined ? { device } : {}),
  };
}

/** What `Builder.buildWithReport` reports besides the plan. */
export interface BuildReport {
  buildMs: number;
  /** Time spent timing tactics. */
  tacticTimeMs: number;
  timingCache: {
    hits: number;
    misses: number;
    /** Entries in the updated cache. */
    entries: number;
    /** 'KILN_E_CORRUPT_CACHE' or 'KILN_E_CACHE_MISMATCH' when the input cache was not used (the build went on without it). */
    rejected?: string;
  };
  builderOptimizationLevel: number;
  /** How many layers each optimizer pass changed. */
  stats: Record<string, number>;
  /** Non-fatal problems, e.g. why the input timing cache was not used. */
  warnings: string[];
}

export interface BuildResult {
  plan: Uint8Array;
  report: BuildReport;
  /** The input cache plus this build's measurements: write it back (J's @kiln/timing-cache merges it on disk). */
  timingCache: Uint8Array;
}

export interface Int8Config {
  ranges: Record<string, number>;
}

function int8Json(int8: Int8Config | undefined): { ranges: Record<string, number> } | undefined {
  if (int8 === undefined) return undefined;
  if (int8 === null || typeof int8 !== 'object' || int8.ranges === null || typeof int8.ranges !== 'object') {
    throw new KilnError('KILN_E_INVALID_PROFILE', 'int8 must be { ranges: { <tensor name>: <amax> } }');
  }
  const ranges: Record<string, number> = {};
  for (const [name, amax] of Object.entries(int8.ranges)) {
    // +Infinity is allowed (TensorRT caches hold it for uncalibrated tensors): that tensor stays float.
    if (typeof amax !== 'number' || Number.isNaN(amax) || amax < 0) {
      throw new KilnError('KILN_E_INVALID_PROFILE', `int8 range of '${name}' must be a number >= 0 (amax), got ${String(amax)}`);
    }
    ranges[name] = amax;
  }
  return { ranges };
}

function checkDims(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new KilnError('KILN_E_INVALID_PROFILE', `${what} must be an array of non-negative integers, got ${JSON.stringify(value)}`);
  }
  return value as number[];
}

/** The builder config as the native builder reads it (serde JSON of `kiln_core::builder::BuilderConfig`). */
export function configJson(config: BuilderConfig = {}): string {
  const profiles = (config.profiles ?? []).map((profile, i) => {
    if (profile === null || typeof profile !== 'object') {
      throw new KilnError('KILN_E_INVALID_PROFILE', `profile ${i} must be an object mapping input names to {min, opt, max}`);
    }
    const shapes: Record<string, ShapeRange> = {};
    for (const [input, range] of Object.entries(profile)) {
      const what = `profile ${i}, input '${input}'`;
      if (range === null || typeof range !== 'object') {
        throw new KilnError('KILN_E_INVALID_PROFILE', `${what}: expected {min, opt, max}`);
      }
      shapes[input] = {
        min: checkDims(range.min, `${what}: min`),
        opt: checkDims(range.opt, `${what}: opt`),
        max: checkDims(range.max, `${what}: max`),
      };
    }
    return { shapes };
  });
  if (config.calibration !== undefined && typeof config.calibration !== 'boolean') {
    throw new KilnError('KILN_E_INVALID_PROFILE', `calibration must be a boolean, got ${String(config.calibration)}`);
  }
  const level = config.builderOptimizationLevel;
  if (level !== undefined && !(Number.isInteger(level) && level >= 0 && level <= 5)) {
    throw new KilnError('KILN_E_INVALID_PROFILE', `builderOptimizationLevel must be an integer 0..5, got ${String(level)}`);
  }
  if (config.ignoreTimingCacheMismatch !== undefined && typeof config.ignoreTimingCacheMismatch !== 'boolean') {
    throw new KilnError('KILN_E_INVALID_PROFILE', `ignoreTimingCacheMismatch must be a boolean, got ${String(config.ignoreTimingCacheMismatch)}`);
  }
  if (config.timingCache !== undefined && !(config.timingCache instanceof Uint8Array)) {
    throw new KilnError('KILN_E_INVALID_PROFILE', 'timingCache must be a Uint8Array (the bytes of a timing cache file)');
  }
  const int8 = int8Json(config.int8);
  // JSON cannot carry Infinity: a range of +Infinity (uncalibrated tensor) is sent as absent.
  if (int8) for (const [k, v] of Object.entries(int8.ranges)) if (!Number.isFinite(v)) delete int8.ranges[k];
  return JSON.stringify({
    profiles,
    calibration: config.calibration ?? false,
    ...(int8 ? { int8 } : {}),
    ...(level !== undefined ? { builderOptimizationLevel: level } : {}),
    ...(config.ignoreTimingCacheMismatch ? { ignoreTimingCacheMismatch: true } : {}),
    ...precisionJson(config),
  });
}

function backendOf(config: BuilderConfig | undefined): string {
  const backend = config?.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') {
    throw new KilnError('KILN_E_BACKEND_UNAVAILABLE', `unknown backend '${String(backend)}'; use 'cpu' or 'cuda'`);
  }
  return backend;
}

function nativeOf(network: Network): NativeNetwork {
  const n = network?.native;
  if (!(n instanceof NativeNetwork)) {
    throw new KilnError('KILN_E_INVALID_NETWORK', 'Builder.build needs a Network backed by the native binding (new Network())');
  }
  return n;
}

function asBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export class Builder {
  /** Builds a plan off the JS thread. */
  static async build(network: Network, config?: BuilderConfig): Promise<Uint8Array> {
    const n = nativeOf(network);
    const json = configJson(config);
    const backend = backendOf(config);
    // Only the reporting build takes a progress callback; without a timing cache it builds the same plan.
    if (config?.onProgress) {
      const progress = progressOf(config);
      return asBytes((await nativeAsync(() => reportingBuild()(n, json, backend, undefined, progress))).plan);
    }
    return asBytes(await nativeAsync(() => binding.buildPlan(n, json, backend)));
  }

  /** Builds a plan on the calling thread. */
  static buildSync(network: Network, config?: BuilderConfig): Uint8Array {
    const n = nativeOf(network);
    const json = configJson(config);
    const backend = backendOf(config);
    return asBytes(native(() => binding.buildPlanSync(n, json, backend)));
  }

  /** Builds off the JS thread, timing tactics against `config.timingCache`; returns the plan, the report and the updated cache. */
  static async buildWithReport(network: Network, config?: BuilderConfig): Promise<BuildResult> {
    const n = nativeOf(network);
    const json = configJson(config);
    const backend = backendOf(config);
    const cache = config?.timingCache;
    const progress = progressOf(config);
    return toResult(await nativeAsync(() => reportingBuild()(n, json, backend, cache, progress)));
  }

  /** `buildWithReport` on the calling thread. */
  static buildWithReportSync(network: Network, config?: BuilderConfig): BuildResult {
    const n = nativeOf(network);
    const json = configJson(config);
    const backend = backendOf(config);
    const cache = config?.timingCache;
    return toResult(native(() => binding.buildPlanWithReportSync(n, json, backend, cache)));
  }
}

/** `buildPlanWithReport` with the contract's optional progress argument (older bindings ignore extra arguments). */
type ReportingBuild = (
  network: NativeNetwork, configJson: string, backend: string, timingCache: Uint8Array | undefined,
  onProgress?: (done: number, total: number) => void,
) => Promise<{ plan: Uint8Array; reportJson: string; timingCache: Uint8Array }>;

function reportingBuild(): ReportingBuild {
  return binding.buildPlanWithReport as unknown as ReportingBuild;
}

/**
 * The user's callback, guarded: an exception thrown from a progress callback must not surface inside the native
 * build (it would abort it with an uncoded error), so it is reported once on stderr and further calls are dropped.
 */
function progressOf(config: BuilderConfig | undefined): ((done: number, total: number) => void) | undefined {
  const cb = config?.onProgress;
  if (cb === undefined) return undefined;
  let failed = false;
  return (done, total) => {
    if (failed) return;
    try {
      cb(done, total);
    } catch (e) {
      failed = true;
      process.emitWarning(`Builder onProgress callback threw (further progress calls dropped): ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}

function toResult(r: { plan: Uint8Array; reportJson: string; timingCache: Uint8Array }): BuildResult {
  return { plan: asBytes(r.plan), report: JSON.parse(r.reportJson) as BuildReport, timingCache: asBytes(r.timingCache) };
}

/** Reads a plan's header (format and Kiln version, backend, device) without loading it. */
export function readPlanHeader(plan: Uint8Array): PlanHeader {
  return native(() => binding.readPlanHeader(plan));
}

/** The backends this build of Kiln knows, and whether each can be used here (with the reason if not). */
export function backends(): Array<{ name: string; available: boolean; reason?: string }> {
  return native(() => binding.backends()).map((b) => (b.reason == null ? { name: b.name, available: b.available } : { name: b.name, available: b.available, reason: b.reason }));
}
