/** `Engine` (a loaded plan) and `ExecutionContext` (per-run state): the runtime half of the API. */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { NativeContext, NativeEngine } from '@kiln/binding';
import { binding, fromNative, toNative } from './native';
import { KilnError, native, nativeAsync } from './errors';
import type { PlanInfo } from './info';
import type { Tensor } from './tensor';
import { validateFeeds } from './validate';
import { benchmarkOptionsJson, parseBenchmarkResult, type BenchmarkOptions, type BenchmarkResult } from './benchmark';

/** The native `benchmark` method of the contract (not yet in every build's index.d.ts). */
interface BenchmarkingContext {
  benchmark?: (inputs: ReturnType<typeof toNative>[], optionsJson: string) => Promise<string>;
}

function readError(path: string, e: unknown): KilnError {
  const reason = e instanceof Error ? e.message : String(e);
  return new KilnError('KILN_E_INVALID_INPUT', `cannot read plan file '${path}': ${reason}`, { cause: e });
}

function checkPlanArg(plan: unknown): void {
  if (typeof plan !== 'string' && !(plan instanceof Uint8Array)) {
    throw new KilnError('KILN_E_INVALID_INPUT', 'Engine.load takes plan bytes (Uint8Array) or a file path');
  }
}

export class Engine {
  readonly info: PlanInfo;
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly #native: NativeEngine;

  private constructor(nativeEngine: NativeEngine) {
    this.#native = nativeEngine;
    this.info = JSON.parse(nativeEngine.infoJson) as PlanInfo;
    this.inputNames = this.info.inputs.map((i) => i.name);
    this.outputNames = this.info.outputs.map((o) => o.name);
  }

  /** Loads a plan from bytes or a file path. Corrupt, foreign or unrunnable plans fail with a coded error. */
  static async load(plan: Uint8Array | string): Promise<Engine> {
    checkPlanArg(plan);
    let bytes: Uint8Array;
    if (typeof plan === 'string') {
      try {
        bytes = await readFile(plan);
      } catch (e) {
        throw readError(plan, e);
      }
    } else {
      bytes = plan;
    }
    return new Engine(native(() => binding.NativeEngine.load(bytes)));
  }

  static loadSync(plan: Uint8Array | string): Engine {
    checkPlanArg(plan);
    let bytes: Uint8Array;
    if (typeof plan === 'string') {
      try {
        bytes = readFileSync(plan);
      } catch (e) {
        throw readError(plan, e);
      }
    } else {
      bytes = plan;
    }
    return new Engine(native(() => binding.NativeEngine.load(bytes)));
  }

  /**
   * Creates an execution context. Each context holds its own activation memory; several contexts of one
   * engine run concurrently, runs on one context are queued.
   * @param options.numThreads worker threads for this context's kernels; 0 or absent = all cores
   */
  createContext(options: { numThreads?: number } = {}): ExecutionContext {
    const n = options.numThreads ?? 0;
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new KilnError('KILN_E_INVALID_INPUT', `numThreads must be a non-negative integer (0 = all cores), got ${n}`);
    }
    return new ExecutionContext(this, native(() => this.#native.createContext(n)));
  }
}

export class ExecutionContext {
  readonly engine: Engine;
  readonly #native: NativeContext;

  /** @internal use `engine.createContext()`. */
  constructor(engine: Engine, nativeContext: NativeContext) {
    this.engine = engine;
    this.#native = nativeContext;
  }

  /** Runs inference off the JS thread; resolves to the outputs by name. */
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const inputs = validateFeeds(this.engine.info.inputs, feeds).map(([name, t]) => toNative(name, t));
    const outputs = await nativeAsync(() => this.#native.run(inputs));
    return collect(outputs);
  }

  /**
   * Runs the engine on one calibration batch off the JS thread and accumulates, for every float network input
   * and layer output, the running max |x| and an |x| histogram (2048 bins; later batches that exceed the range
   * append bins of the same width, as pytorch-quantization's HistogramCalibrator). Build the engine with
   * `{ calibration: true }` so that every tensor keeps its network name.
   */
  async calibrate(feeds: Record<string, Tensor>): Promise<void> {
    const inputs = validateFeeds(this.engine.info.inputs, feeds).map(([name, t]) => toNative(name, t));
    await nativeAsync(() => this.#native.calibrate(inputs));
  }

  /** `calibrate` on the calling thread. */
  calibrateSync(feeds: Record<string, Tensor>): void {
    const inputs = validateFeeds(this.engine.info.inputs, feeds).map(([name, t]) => toNative(name, t));
    native(() => this.#native.calibrateSync(inputs));
  }

  /** The statistics gathered since the context was created or last reset, in network order. */
  calibrationStats(): CalibrationStat[] {
    return native(() => this.#native.calibrationStats()).map((s) => ({
      name: s.name, dtype: s.dtype, amax: s.amax, binWidth: s.binWidth, counts: s.counts, nonFinite: s.nonFinite, producer: s.producer,
    }));
  }

  /** Forgets the gathered statistics. */
  resetCalibration(): void {
    native(() => this.#native.resetCalibration());
  }

  /** Whether this build of the native binding has the native timing loop (`benchmark`). */
  get canBenchmark(): boolean {
    return typeof (this.#native as unknown as BenchmarkingContext).benchmark === 'function';
  }

  /**
   * Times `iterations` runs after `warmup` untimed ones, off the JS thread, with host-to-device, compute and
   * device-to-host times per iteration (trtexec's H2D Latency / GPU Compute Time / D2H Latency); with
   * `profile`, also the average time of each layer. Several contexts of one engine may benchmark concurrently.
   * Throws KILN_E_UNSUPPORTED when the native binding has no timing loop.
   */
  async benchmark(feeds: Record<string, Tensor>, options: BenchmarkOptions = {}): Promise<BenchmarkResult> {
    const ctx = this.#native as unknown as BenchmarkingContext;
    if (typeof ctx.benchmark !== 'function') {
      throw new KilnError('KILN_E_UNSUPPORTED', 'this build of the native binding has no ExecutionContext.benchmark; rebuild @kiln/binding, or time ExecutionContext.run yourself');
    }
    const json = benchmarkOptionsJson(options);
    const inputs = validateFeeds(this.engine.info.inputs, feeds).map(([name, t]) => toNative(name, t));
    return parseBenchmarkResult(await nativeAsync(() => ctx.benchmark!.call(this.#native, inputs, json)));
  }

  /** Runs inference on the calling thread. */
  runSync(feeds: Record<string, Tensor>): Record<string, Tensor> {
    const inputs = validateFeeds(this.engine.info.inputs, feeds).map(([name, t]) => toNative(name, t));
    return collect(native(() => this.#native.runSync(inputs)));
  }
}

/** Calibration statistics of one tensor (see `ExecutionContext.calibrate`). */
export interface CalibrationStat {
  name: string;
  dtype: string;
  /** Running max |x| over finite values. */
  amax: number;
  /** Histogram bin width; 0 while only zeros were seen (then `counts` = [number of zeros]). */
  binWidth: number;
  /** |x| histogram: bin i counts values in [i·binWidth, (i+1)·binWidth); 2048 bins at first, more after growth. */
  counts: Float64Array;
  /** NaN/±Infinity values skipped. */
  nonFinite: number;
  /** The layer type that produced the tensor, 'input' for network inputs. */
  producer: string;
}

function collect(outputs: Array<{ name: string; dtype: string; dims: number[]; data: Uint8Array }>): Record<string, Tensor> {
  const result: Record<string, Tensor> = {};
  for (const o of outputs) result[o.name] = fromNative(o);
  return result;
}
