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
    lines.push(`  [${String(i).padStart(width)}] ${l.name} (${l.type})${fused}`);
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
}

export function formatLatency(l: LatencyStats): string {
  return `min = ${ms(l.min)} ms, max = ${ms(l.max)} ms, mean = ${ms(l.mean)} ms, median = ${ms(l.median)} ms, percentile(90%) = ${ms(l.p90)} ms, percentile(95%) = ${ms(l.p95)} ms, percentile(99%) = ${ms(l.p99)} ms`;
}

/** The trtexec "Performance summary" block (prefix '[I] ' in trtexec mode). */
export function formatBenchSummary(s: BenchSummary, prefix = ''): string[] {
  return [
    `${prefix}=== Performance summary ===`,
    `${prefix}Backend: ${s.backend}, batch: ${s.batch}, iterations: ${s.iterations}`,
    `${prefix}Throughput: ${s.throughputQps.toFixed(s.throughputQps >= 100 ? 1 : 3)} qps`,
    `${prefix}Latency: ${formatLatency(s.latency)}`,
    `${prefix}Total Host Walltime: ${(s.totalWallMs / 1000).toFixed(4)} s`,
  ];
}
