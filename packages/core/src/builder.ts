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
  /** Where the plan will run. Default 'cpu'. 'cuda' fails with KILN_E_BACKEND_UNAVAILABLE in this build. */
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
    return toResult(await nativeAsync(() => binding.buildPlanWithReport(n, json, backend, cache)));
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
