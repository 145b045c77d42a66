/** What `bench` and `trtexec` make of a measurement: the summary, the --json fields and the export files. */
import { writeFileSync } from 'node:fs';
import { CliError, INVALID_INPUT } from './errors.js';
import { exportTimes, profileRows, type Measured } from './measure.js';
import type { BenchSummary } from './report.js';
import { latencyStats, type LatencyStats } from './stats.js';

export function summaryOf(m: Measured, backend: string, batch: number): BenchSummary {
  const s: BenchSummary = {
    backend,
    batch,
    iterations: m.iterations,
    totalWallMs: m.wallMs,
    throughputQps: m.iterations / (m.wallMs / 1000),
    latency: latencyStats(m.totalMs),
    streams: m.streams,
  };
  // Separate phases mean something only where there are copies to time (the CUDA backend's native loop).
  if (m.timer === 'native' && backend === 'cuda') {
    s.phases = { h2d: latencyStats(m.h2dMs), compute: latencyStats(m.computeMs), d2h: latencyStats(m.d2hMs) };
  }
  if (m.cudaGraph || m.cudaGraphReason) s.cudaGraph = m.cudaGraphReason ? { used: m.cudaGraph, reason: m.cudaGraphReason } : { used: m.cudaGraph };
  return s;
}

const statsJson = (l: LatencyStats) => ({ min: l.min, mean: l.mean, median: l.median, p90: l.p90, p95: l.p95, p99: l.p99, max: l.max });

/** `kiln bench --json`: the original four keys first (scripts read them), then the per-phase figures. */
export function benchJson(m: Measured, backend: string, batch: number): Record<string, unknown> {
  const s = summaryOf(m, backend, batch);
  const j: Record<string, unknown> = {
    backend,
    batch,
    throughput_qps: s.throughputQps,
    latency_ms: statsJson(s.latency),
    iterations: m.iterations,
    streams: m.streams,
    wall_ms: m.wallMs,
    timer: m.timer,
    h2d_ms: statsJson(latencyStats(m.h2dMs)),
    gpu_compute_ms: statsJson(latencyStats(m.computeMs)),
    d2h_ms: statsJson(latencyStats(m.d2hMs)),
    cuda_graph: m.cudaGraph,
  };
  if (m.cudaGraphReason) j.cuda_graph_reason = m.cudaGraphReason;
  if (m.layers) j.layers = profileRows(m.layers);
  return j;
}

function write(file: string, value: unknown, what: string): void {
  try {
    writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  } catch (e) {
    throw new CliError(INVALID_INPUT, `cannot write ${what} to '${file}': ${(e as Error).message}`);
  }
}

/** `--exportTimes F` (per-iteration times) and `--exportProfile F` (the layers array). Returns what was written. */
export function writeExports(m: Measured, files: { times?: string; profile?: string }): string[] {
  const done: string[] = [];
  if (files.times !== undefined) {
    write(files.times, exportTimes(m), 'times');
    done.push(`Times exported to ${files.times}`);
  }
  if (files.profile !== undefined) {
    write(files.profile, profileRows(m.layers ?? []), 'profile');
    done.push(`Profile exported to ${files.profile}`);
  }
  return done;
}
