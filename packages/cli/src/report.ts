/**
 * Human-readable output. Notes and progress go to stderr so that stdout carries only results
 * (and, with --json, only the JSON document).
 */
import type { PlanInfo } from '@kiln/core';
import type { LatencyStats } from './stats.js';

let quiet = false;
export function setQuiet(q: boolean): void {
  quiet = q;
}

/** A progress line or remark for the user, on stderr. */
export function note(message: string): void {
  if (!quiet) process.stderr.write(`kiln: ${message}\n`);
}

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(2)} ${units[u]} (${n} B)`;
}

export const dimsText = (dims: readonly number[]): string => (dims.length ? dims.map((d) => (d < 0 ? '?' : String(d))).join('x') : 'scalar');

/** Milliseconds with enough digits for sub-millisecond kernels. */
export const ms = (v: number): string => (v >= 100 ? v.toFixed(2) : v >= 1 ? v.toFixed(4) : v.toPrecision(4));

/** Plan info for `kiln inspect`, grouped like trtexec's engine inspector. */
export function formatPlanInfo(info: PlanInfo, source: string): string[] {
  const lines: string[] = [];
  lines.push(`Plan: ${source}`);
  lines.push(`  Bound to: format version ${info.formatVersion}, Kiln ${info.kilnVersion}, backend ${info.backend}, device ${info.device}`);
  const io = (title: string, list: PlanInfo['inputs']) => {
    lines.push(`${title} (${list.length}):`);
    for (const t of list) {
      lines.push(`  ${t.name}: ${t.dtype} [${dimsText(t.dims)}]`);
      (t.profiles ?? []).forEach(([mn, op, mx], i) => {
        lines.push(`    profile ${i}: min ${dimsText(mn)}, opt ${dimsText(op)}, max ${dimsText(mx)}`);
      });
    }
  };
  io('Inputs', info.inputs);
  io('Outputs', info.outputs);
  lines.push(`Layers after optimization (${info.layers.length}):`);
  const width = String(info.layers.length).length;
  info.layers.forEach((l, i) => {
    const fused = l.fusedFrom && l.fusedFrom.length > 1 ? `  fused: ${l.fusedFrom.join(' + ')}` : '';
    // The kernel the builder chose (and its timed median), as trtexec's --dumpLayerInfo shows it.
    const tactic = l.tactic ? `  tactic: ${l.tactic}${l.tacticTimeMs !== undefined ? ` (${l.tacticTimeMs.toFixed(4)} ms)` : ''}` : '';
    lines.push(`  [${String(i).padStart(width)}] ${l.name} (${l.type})${fused}${tactic}`);
    lines.push(`  ${' '.repeat(width + 2)}  ${l.inputs.join(', ') || '-'} -> ${l.outputs.join(', ') || '-'}`);
  });
  const fusedCount = info.layers.filter((l) => l.fusedFrom && l.fusedFrom.length > 1).length;
  lines.push(`Fused layers: ${fusedCount}`);
  lines.push(`Weights: ${formatBytes(info.weightsBytes)}`);
  const saved = info.unsharedActivationBytes > 0 ? ` (${((1 - info.arenaBytes / info.unsharedActivationBytes) * 100).toFixed(1)}% saved by reuse)` : '';
  lines.push(`Activation arena: ${formatBytes(info.arenaBytes)} vs ${formatBytes(info.unsharedActivationBytes)} unshared${saved}`);
  return lines;
}

export interface BenchSummary {
  backend: string;
  batch: number;
  iterations: number;
  totalWallMs: number;
  throughputQps: number;
  latency: LatencyStats;
  /** Concurrent execution contexts (`--streams`); the line is shown when > 1. */
  streams?: number;
  /** Per-phase latencies from the native timing loop (trtexec's H2D Latency / GPU Compute Time / D2H Latency). */
  phases?: { h2d: LatencyStats; compute: LatencyStats; d2h: LatencyStats };
  /** Whether CUDA graphs were replayed, and why not when asked for and not used. */
  cudaGraph?: { used: boolean; reason?: string };
}

export function formatLatency(l: LatencyStats): string {
  return `min = ${ms(l.min)} ms, max = ${ms(l.max)} ms, mean = ${ms(l.mean)} ms, median = ${ms(l.median)} ms, percentile(90%) = ${ms(l.p90)} ms, percentile(95%) = ${ms(l.p95)} ms, percentile(99%) = ${ms(l.p99)} ms`;
}

/** The trtexec "Performance summary" block (prefix '[I] ' in trtexec mode). */
export function formatBenchSummary(s: BenchSummary, prefix = ''): string[] {
  const lines = [
    `${prefix}=== Performance summary ===`,
    `${prefix}Backend: ${s.backend}, batch: ${s.batch}, iterations: ${s.iterations}${s.streams && s.streams > 1 ? `, streams: ${s.streams}` : ''}`,
    `${prefix}Throughput: ${s.throughputQps.toFixed(s.throughputQps >= 100 ? 1 : 3)} qps`,
    `${prefix}Latency: ${formatLatency(s.latency)}`,
  ];
  if (s.phases) {
    lines.push(`${prefix}H2D Latency: ${formatLatency(s.phases.h2d)}`);
    lines.push(`${prefix}GPU Compute Time: ${formatLatency(s.phases.compute)}`);
    lines.push(`${prefix}D2H Latency: ${formatLatency(s.phases.d2h)}`);
  }
  if (s.cudaGraph && (s.cudaGraph.used || s.cudaGraph.reason)) {
    lines.push(`${prefix}CUDA graph: ${s.cudaGraph.used ? 'used' : `not used (${s.cudaGraph.reason})`}`);
  }
  lines.push(`${prefix}Total Host Walltime: ${(s.totalWallMs / 1000).toFixed(4)} s`);
  return lines;
}

/** `--dumpProfile`: one row per layer, slowest first, with its share of the summed layer time. */
export function formatProfile(rows: ReadonlyArray<{ name: string; type: string; tactic?: string; ms: number; percent: number }>, prefix = ''): string[] {
  const head = ['Layer', 'Type', 'Tactic', 'Avg (ms)', '% of total'];
  const body = rows.map((r) => [r.name, r.type, r.tactic ?? '-', ms(r.ms), r.percent.toFixed(1)]);
  const total = rows.reduce((a, r) => a + r.ms, 0);
  body.push(['Total', '', '', ms(total), rows.length ? '100.0' : '0.0']);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((row) => row[c]!.length)));
  // Text columns left-aligned, numbers right-aligned.
  const fmt = (row: string[]) => `${prefix}${row.map((cell, c) => (c >= 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()}`;
  return [`${prefix}=== Profile (${rows.length} layers, average over the profiled runs) ===`, fmt(head), ...body.map(fmt)];
}
