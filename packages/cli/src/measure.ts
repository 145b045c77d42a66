/**
 * The inference phase of `bench` and `trtexec`: N streams (one ExecutionContext each) measured concurrently,
 * with trtexec's semantics (warm up for `warmUpMs`, then at least `iterations` runs AND `durationS` seconds per
 * stream). With the native timing loop (`ExecutionContext.benchmark`) every iteration is split into H2D copy,
 * compute and D2H copy; bindings without it fall back to timing `ExecutionContext.run` from JS (then the whole
 * run counts as compute). The per-layer profile is a separate run after the timed one, because per-layer
 * timing synchronizes after every layer and would distort the throughput.
 */
import type { Engine, ExecutionContext, LayerProfile, Tensor } from '@kiln/core';
import { benchmark as jsLoop } from './bench-loop.js';
import { CliError, UNSUPPORTED } from './errors.js';

export interface MeasureOptions {
  iterations: number;
  durationS: number;
  warmUpMs: number;
  streams: number;
  threads: number;
  useCudaGraph: boolean;
  noDataTransfers: boolean;
  profile: boolean;
}

export interface Measured {
  /** 'native' (ExecutionContext.benchmark) or 'js' (timed ExecutionContext.run calls). */
  timer: 'native' | 'js';
  streams: number;
  /** Timed iterations over all streams. */
  iterations: number;
  /** Wall time of the timed phase (all streams). */
  wallMs: number;
  /** Per iteration (streams concatenated), in ms. */
  totalMs: number[];
  h2dMs: number[];
  computeMs: number[];
  d2hMs: number[];
  /** Start of each timed run relative to the timed phase (JS timer, stream 0 only). */
  startsMs?: number[];
  cudaGraph: boolean;
  cudaGraphReason?: string;
  layers?: LayerProfile[];
}

/** One native benchmark call can hold at most this many iterations (the result JSON grows with them). */
const MAX_CHUNK = 10_000;

interface Series {
  h2dMs: number[];
  computeMs: number[];
  d2hMs: number[];
  totalMs: number[];
  cudaGraph: boolean;
  cudaGraphReason?: string;
}

const sum = (a: readonly number[]): number => a.reduce((x, y) => x + y, 0);

async function nativeStream(ctx: ExecutionContext, feeds: Record<string, Tensor>, o: MeasureOptions, perIterMs: number, t0: number): Promise<Series> {
  const s: Series = { h2dMs: [], computeMs: [], d2hMs: [], totalMs: [], cudaGraph: true };
  const end = t0 + o.durationS * 1000;
  for (;;) {
    const left = Math.max(o.iterations - s.totalMs.length, Math.ceil((end - performance.now()) / perIterMs), 1);
    const r = await ctx.benchmark(feeds, { iterations: Math.min(MAX_CHUNK, left), warmup: 0, useCudaGraph: o.useCudaGraph, noDataTransfers: o.noDataTransfers });
    s.h2dMs.push(...r.h2dMs);
    s.computeMs.push(...r.computeMs);
    s.d2hMs.push(...r.d2hMs);
    s.totalMs.push(...r.totalMs);
    s.cudaGraph &&= r.cudaGraph;
    if (r.cudaGraphReason && !s.cudaGraphReason) s.cudaGraphReason = r.cudaGraphReason;
    if (s.totalMs.length >= o.iterations && performance.now() >= end) return s;
  }
}

export async function measure(engine: Engine, feeds: Record<string, Tensor>, o: MeasureOptions): Promise<Measured> {
  const contexts = Array.from({ length: o.streams }, () => engine.createContext({ numThreads: o.threads }));
  const native = contexts[0]!.canBenchmark;
  if (!native) {
    if (o.profile) throw new CliError(UNSUPPORTED, 'per-layer profiles (--dumpProfile, --exportProfile) need ExecutionContext.benchmark, which this build of the native binding lacks; rebuild @kiln/binding');
    const t0 = performance.now();
    const runs = await Promise.all(contexts.map((ctx) => jsLoop(ctx, feeds, o)));
    const wallMs = performance.now() - t0;
    const totalMs = runs.flatMap((r) => r.latenciesMs);
    return {
      timer: 'js', streams: o.streams, iterations: totalMs.length, wallMs, totalMs,
      h2dMs: totalMs.map(() => 0), computeMs: [...totalMs], d2hMs: totalMs.map(() => 0),
      ...(o.streams === 1 ? { startsMs: runs[0]!.startsMs } : {}), cudaGraph: false,
      ...(o.useCudaGraph ? { cudaGraphReason: 'this build of the native binding has no benchmark loop (CUDA graphs are captured there)' } : {}),
    };
  }
  const base = { useCudaGraph: o.useCudaGraph, noDataTransfers: o.noDataTransfers };
  // Probe: one iteration per stream (with one untimed run: first-run allocation, graph capture) sizes the warm-up.
  const probe = await Promise.all(contexts.map((ctx) => ctx.benchmark(feeds, { ...base, iterations: 1, warmup: 1 })));
  let perIterMs = Math.max(1e-3, probe[0]!.totalMs[0] ?? 1);
  if (o.warmUpMs > 0) {
    const warm = Math.max(1, Math.ceil(o.warmUpMs / perIterMs));
    const w = await Promise.all(contexts.map((ctx) => ctx.benchmark(feeds, { ...base, iterations: 1, warmup: warm })));
    perIterMs = Math.max(1e-3, w[0]!.totalMs[0] ?? perIterMs);
  }
  // Concurrent streams share the device: each stream's iterations take longer than one alone.
  perIterMs *= o.streams;
  const t0 = performance.now();
  const series = await Promise.all(contexts.map((ctx) => nativeStream(ctx, feeds, o, perIterMs, t0)));
  const wallMs = performance.now() - t0;
  const m: Measured = {
    timer: 'native', streams: o.streams, iterations: sum(series.map((s) => s.totalMs.length)), wallMs,
    totalMs: series.flatMap((s) => s.totalMs), h2dMs: series.flatMap((s) => s.h2dMs),
    computeMs: series.flatMap((s) => s.computeMs), d2hMs: series.flatMap((s) => s.d2hMs),
    cudaGraph: series.every((s) => s.cudaGraph),
  };
  const reason = series.find((s) => s.cudaGraphReason)?.cudaGraphReason;
  if (reason) m.cudaGraphReason = reason;
  if (o.profile) {
    const p = await contexts[0]!.benchmark(feeds, { ...base, iterations: Math.max(1, Math.min(o.iterations, MAX_CHUNK)), warmup: 1, profile: true });
    m.layers = p.layers ?? [];
  }
  return m;
}

/** The layers sorted by time with their share of the summed layer time (for --dumpProfile). */
export function profileRows(layers: readonly LayerProfile[]): Array<LayerProfile & { percent: number }> {
  const total = sum(layers.map((l) => l.ms));
  return [...layers].sort((a, b) => b.ms - a.ms).map((l) => ({ ...l, percent: total > 0 ? (l.ms / total) * 100 : 0 }));
}

/** `--exportTimes`: one object per timed iteration. */
export function exportTimes(m: Measured): Array<Record<string, number>> {
  return m.totalMs.map((latencyMs, i) => ({
    ...(m.startsMs && i < m.startsMs.length ? { startMs: m.startsMs[i]!, endMs: m.startsMs[i]! + latencyMs } : {}),
    latencyMs,
    h2dMs: m.h2dMs[i]!,
    computeMs: m.computeMs[i]!,
    d2hMs: m.d2hMs[i]!,
  }));
}
