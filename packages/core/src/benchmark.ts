/**
 * `ExecutionContext.benchmark`: the native timing loop (trtexec's inference phase). The native side times each
 * iteration's host-to-device copies, GPU compute and device-to-host copies separately (CUDA events on the CUDA
 * backend; on the CPU backend h2d/d2h are 0), optionally under CUDA graph replay and with a per-layer profile.
 */
import { KilnError } from './errors';

export interface BenchmarkOptions {
  /** Timed iterations (default 10). */
  iterations?: number;
  /** Untimed iterations first (default 1, so that first-run allocation and lazy setup are never timed). */
  warmup?: number;
  /** Capture the run in a CUDA graph and replay it (static shapes only; see `cudaGraphReason` when refused). */
  useCudaGraph?: boolean;
  /** Upload the inputs once and keep outputs on the device: h2d/d2h are 0 and not part of the latency. */
  noDataTransfers?: boolean;
  /** Also time each layer (extra synchronization: keep it out of throughput measurements). */
  profile?: boolean;
}

/** Average time of one layer over the profiled iterations. */
export interface LayerProfile {
  name: string;
  type: string;
  /** The kernel variant the builder chose, e.g. "cudnn:algo=1". */
  tactic?: string;
  ms: number;
}

export interface BenchmarkResult {
  backend: string;
  iterations: number;
  /** Per iteration, in ms: host-to-device copies, compute, device-to-host copies, and the whole iteration. */
  h2dMs: number[];
  computeMs: number[];
  d2hMs: number[];
  totalMs: number[];
  /** Whether the timed iterations replayed a CUDA graph. */
  cudaGraph: boolean;
  /** Why no graph was used, when one was asked for and not used. */
  cudaGraphReason?: string;
  /** Present when `profile` was set. */
  layers?: LayerProfile[];
}

function count(name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || (v as number) < min) {
    throw new KilnError('KILN_E_INVALID_VALUE', `benchmark option ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return v as number;
}

function flag(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new KilnError('KILN_E_INVALID_VALUE', `benchmark option ${name} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

/** The options JSON the native `benchmark` reads. */
export function benchmarkOptionsJson(o: BenchmarkOptions = {}): string {
  if (o === null || typeof o !== 'object') throw new KilnError('KILN_E_INVALID_VALUE', 'benchmark options must be an object');
  return JSON.stringify({
    iterations: count('iterations', o.iterations, 10, 1),
    warmup: count('warmup', o.warmup, 1, 0),
    useCudaGraph: flag('useCudaGraph', o.useCudaGraph),
    noDataTransfers: flag('noDataTransfers', o.noDataTransfers),
    profile: flag('profile', o.profile),
  });
}

function numbers(j: Record<string, unknown>, key: string, n: number): number[] {
  const v = j[key];
  if (v === undefined) return new Array<number>(n).fill(0);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
    throw new KilnError('KILN_E_INTERNAL', `the native benchmark result has no valid '${key}' array`);
  }
  return v as number[];
}

/** Parses and checks the native result JSON (a malformed result is a binding bug: KILN_E_INTERNAL). */
export function parseBenchmarkResult(json: string): BenchmarkResult {
  let j: unknown;
  try {
    j = JSON.parse(json);
  } catch (e) {
    throw new KilnError('KILN_E_INTERNAL', `the native benchmark returned invalid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (j === null || typeof j !== 'object') throw new KilnError('KILN_E_INTERNAL', 'the native benchmark returned a non-object result');
  const r = j as Record<string, unknown>;
  const computeMs = numbers(r, 'computeMs', 0);
  const n = computeMs.length;
  const h2dMs = numbers(r, 'h2dMs', n);
  const d2hMs = numbers(r, 'd2hMs', n);
  const totalMs = r.totalMs === undefined ? computeMs.map((c, i) => h2dMs[i]! + c + d2hMs[i]!) : numbers(r, 'totalMs', n);
  if (h2dMs.length !== n || d2hMs.length !== n || totalMs.length !== n) {
    throw new KilnError('KILN_E_INTERNAL', `the native benchmark's per-iteration arrays differ in length (h2d ${h2dMs.length}, compute ${n}, d2h ${d2hMs.length}, total ${totalMs.length})`);
  }
  const out: BenchmarkResult = {
    backend: typeof r.backend === 'string' ? r.backend : 'unknown',
    iterations: typeof r.iterations === 'number' ? r.iterations : n,
    h2dMs,
    computeMs,
    d2hMs,
    totalMs,
    cudaGraph: r.cudaGraph === true,
  };
  if (typeof r.cudaGraphReason === 'string' && r.cudaGraphReason !== '') out.cudaGraphReason = r.cudaGraphReason;
  if (r.layers !== undefined && r.layers !== null) {
    if (!Array.isArray(r.layers)) throw new KilnError('KILN_E_INTERNAL', "the native benchmark's 'layers' is not an array");
    out.layers = r.layers.map((l: unknown) => {
      const o = (l ?? {}) as Record<string, unknown>;
      if (typeof o.name !== 'string' || typeof o.ms !== 'number') {
        throw new KilnError('KILN_E_INTERNAL', `the native benchmark returned a layer without name/ms: ${JSON.stringify(l)}`);
      }
      const layer: LayerProfile = { name: o.name, type: typeof o.type === 'string' ? o.type : '', ms: o.ms };
      if (typeof o.tactic === 'string') layer.tactic = o.tactic;
      return layer;
    });
  }
  return out;
}
