/**
 * CUDA-backend flags of the CLI (issue 3): precision / I/O-format / device parsing, the trtexec spellings,
 * the bench report pieces (phases, profile table, export files), and end-to-end on this CPU-only machine:
 * `kiln devices` fails with KILN_E_BACKEND_UNAVAILABLE, bench writes its export files on the CPU backend.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ioFormatsFlag, layerPrecisionsFlag, precisionFlagsOf } from '../src/precision-flags';
import { parseTrtexecArgs } from '../src/commands/trtexec-flags';
import { formatBenchSummary, formatProfile } from '../src/report';
import { benchJson, summaryOf } from '../src/bench-output';
import { exportTimes, profileRows, type Measured } from '../src/measure';
import { tinyModel } from './onnx-writer';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'kiln.js');
const BINDING_DIR = join(here, '..', '..', 'binding');
const hasBinding = existsSync(BINDING_DIR) && readdirSync(BINDING_DIR).some((f) => f.endsWith('.node'));

/** The addon's own feature set (the CUDA exports arrive with the lead's binding rebuild). */
const addon = hasBinding ? (createRequire(import.meta.url)(join(BINDING_DIR, 'index.js')) as Record<string, unknown>) : {};
const hasNativeBenchmark = typeof (addon.NativeContext as { prototype?: Record<string, unknown> } | undefined)?.prototype?.benchmark === 'function';
const hasGpu = (() => {
  if (typeof addon.listDevices !== 'function') return false;
  try {
    return (addon.listDevices as () => unknown[])().length > 0;
  } catch {
    return false;
  }
})();

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return undefined;
};

function kiln(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
  const lines = r.stderr.trimEnd().split('\n');
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lastErr: lines[lines.length - 1] };
}

describe('precision flags', () => {
  it('parse --layerPrecisions, names with colons and quotes included', () => {
    expect(layerPrecisionsFlag("conv1:fp32, fc:FP16,'a:b':fp16,x:y:fp32")).toEqual({ conv1: 'fp32', fc: 'fp16', 'a:b': 'fp16', 'x:y': 'fp32' });
    expect(codeOf(() => layerPrecisionsFlag('conv1:int8'))).toBe('KILN_E_INVALID_VALUE');
    expect(codeOf(() => layerPrecisionsFlag('conv1'))).toBe('KILN_E_INVALID_VALUE');
    expect(() => layerPrecisionsFlag('conv1:bf16')).toThrow("--layerPrecisions: entry 'conv1:bf16' has precision 'bf16'");
  });

  it('validate I/O formats, naming the bad entry', () => {
    expect(ioFormatsFlag('--inputIOFormats', 'fp16:chw,FP32:HWC')).toEqual(['fp16:chw', 'fp32:hwc']);
    expect(codeOf(() => ioFormatsFlag('--inputIOFormats', 'fp16:chw,int8:chw'))).toBe('KILN_E_INVALID_VALUE');
    expect(() => ioFormatsFlag('--outputIOFormats', 'fp16:chw,fp16:chw32')).toThrow("--outputIOFormats: entry 2 'fp16:chw32' is not a valid I/O format");
    expect(() => ioFormatsFlag('--inputIOFormats', 'fp16')).toThrow(/entry 1 'fp16'/);
  });

  it('map to builder options (only the flags given)', () => {
    expect(precisionFlagsOf({}, 'usage')).toEqual({});
    expect(precisionFlagsOf({ fp16: true, noTF32: true, layerPrecisions: 'c:fp32', inputIOFormats: 'fp16:hwc', outputIOFormats: 'fp32:chw', device: '1' }, 'usage'))
      .toEqual({ fp16: true, tf32: false, layerPrecisions: { c: 'fp32' }, inputIOFormats: ['fp16:hwc'], outputIOFormats: ['fp32:chw'], device: 1 });
    expect(codeOf(() => precisionFlagsOf({ device: '-1' }, 'usage'))).toBe('UsageError');
    expect(codeOf(() => precisionFlagsOf({ device: 'gpu0' }, 'usage'))).toBe('UsageError');
  });

  it('trtexec accepts the CUDA spellings instead of refusing them', () => {
    const r = parseTrtexecArgs([
      '--onnx=m.onnx', '--fp16', '--noTF32', '--layerPrecisions=conv1:fp32', '--inputIOFormats=fp16:chw', '--outputIOFormats=fp32:chw',
      '--useCudaGraph', '--noDataTransfers', '--dumpProfile', '--separateProfileRun', '--exportTimes=t.json', '--exportProfile=p.json', '--streams=4',
      '--builderOptimizationLevel=0', '--device=1', '--profilingVerbosity=detailed',
    ]);
    expect(r.values).toEqual({
      onnx: 'm.onnx', layerPrecisions: 'conv1:fp32', inputIOFormats: 'fp16:chw', outputIOFormats: 'fp32:chw', exportTimes: 't.json',
      exportProfile: 'p.json', streams: '4', builderOptimizationLevel: '0', device: '1', profilingVerbosity: 'detailed',
    });
    expect([...r.bools].sort()).toEqual(['dumpProfile', 'fp16', 'noDataTransfers', 'noTF32', 'separateProfileRun', 'useCudaGraph']);
  });
});

const fake: Measured = {
  timer: 'native', streams: 2, iterations: 4, wallMs: 10,
  totalMs: [1.5, 1.6, 1.4, 1.5], h2dMs: [0.2, 0.2, 0.2, 0.2], computeMs: [1, 1.1, 0.9, 1], d2hMs: [0.3, 0.3, 0.3, 0.3],
  cudaGraph: true,
  layers: [
    { name: 'fc', type: 'matrixMultiply', tactic: 'cublasLt:heuristic=0', ms: 0.25 },
    { name: 'conv1', type: 'convolution', tactic: 'cudnn:algo=1', ms: 0.75 },
  ],
};

describe('bench report', () => {
  it('prints trtexec H2D / GPU Compute / D2H lines on cuda', () => {
    const lines = formatBenchSummary(summaryOf(fake, 'cuda', 8), '[I] ');
    expect(lines).toContain('[I] Backend: cuda, batch: 8, iterations: 4, streams: 2');
    expect(lines).toContain('[I] Throughput: 400.0 qps');
    expect(lines.find((l) => l.startsWith('[I] H2D Latency: '))).toMatch(/^\[I\] H2D Latency: min = 0\.2000 ms, max = 0\.2000 ms, mean = .* ms, median = .* ms, percentile\(90%\) = .*, percentile\(99%\) = 0\.2000 ms$/);
    expect(lines.find((l) => l.startsWith('[I] GPU Compute Time: '))).toMatch(/min = 0\.9000 ms, max = 1\.1000 ms/);
    expect(lines.find((l) => l.startsWith('[I] D2H Latency: '))).toMatch(/min = 0\.3000 ms/);
    expect(lines).toContain('[I] CUDA graph: used');
    // On the CPU backend there are no copies to report.
    expect(formatBenchSummary(summaryOf(fake, 'cpu', 1)).some((l) => l.startsWith('H2D'))).toBe(false);
  });

  it('sorts the profile by time with shares of the total', () => {
    const rows = profileRows(fake.layers!);
    expect(rows.map((r) => [r.name, r.percent])).toEqual([['conv1', 75], ['fc', 25]]);
    const table = formatProfile(rows);
    expect(table[1]).toMatch(/^Layer\s+Type\s+Tactic\s+Avg \(ms\)\s+% of total$/);
    expect(table[2]).toMatch(/^conv1\s+convolution\s+cudnn:algo=1\s+0\.7500\s+75\.0$/);
    expect(table[table.length - 1]).toMatch(/^Total\s+1\.0000\s+100\.0$/);
  });

  it('exports per-iteration times and adds the phases to --json', () => {
    expect(exportTimes(fake)[1]).toEqual({ latencyMs: 1.6, h2dMs: 0.2, computeMs: 1.1, d2hMs: 0.3 });
    const j = benchJson(fake, 'cuda', 8);
    expect(j).toMatchObject({ backend: 'cuda', batch: 8, throughput_qps: 400, streams: 2, iterations: 4, cuda_graph: true });
    expect((j.layers as Array<{ name: string }>).map((l) => l.name)).toEqual(['conv1', 'fc']);
  });
});

describe('end to end on this machine', () => {
  let dir: string;
  let model: string;
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build the CLI first (pnpm --filter @kiln/cli build)`);
    dir = mkdtempSync(join(tmpdir(), 'kiln-cuda-flags-'));
    model = join(dir, 'tiny.onnx');
    writeFileSync(model, tinyModel());
  });

  it.skipIf(hasGpu)('kiln devices exits 1 with KILN_E_BACKEND_UNAVAILABLE and the reason', () => {
    for (const args of [['devices'], ['devices', '--json']]) {
      const r = kiln(args);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.lastErr).toMatch(/^kiln: KILN_E_BACKEND_UNAVAILABLE: \S.{10,}$/);
    }
  });

  it.skipIf(!hasGpu)('kiln devices lists the GPUs', () => {
    const r = kiln(['devices', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list[0]).toHaveProperty('computeCapability');
    expect(kiln(['devices']).stdout).toMatch(/^#\s+Name\s+CC\s+Memory \(GiB\)\s+SMs\s+Driver \(CUDA\)\s+cuDNN\s+cuBLASLt\s+NVRTC/);
  });

  it('kiln devices takes no arguments', () => {
    expect(kiln(['devices', 'extra']).status).toBe(2);
  });

  it.skipIf(!hasBinding)('a bad --inputIOFormats entry is KILN_E_INVALID_VALUE naming it', () => {
    const r = kiln(['build', model, '-o', join(dir, 'x.plan'), '--inputIOFormats', 'fp16:chw,fp8:chw']);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_INVALID_VALUE: --inputIOFormats: entry 2 'fp8:chw' is not a valid I\/O format/);
    const t = kiln(['trtexec', `--onnx=${model}`, '--outputIOFormats=fp32:nchw']);
    expect(t.status).toBe(1);
    expect(t.lastErr).toMatch(/^kiln: KILN_E_INVALID_VALUE: --outputIOFormats: entry 1 'fp32:nchw'/);
  });

  it.skipIf(!hasBinding)('build and run take the precision flags on the CPU backend', () => {
    const plan = join(dir, 'fp.plan');
    const b = kiln(['build', model, '-o', plan, '--shapes', 'x:2x4', '--noTF32', '--layerPrecisions', 'relu:fp32', '--device', '0', '--json']);
    expect(b.status, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).backend).toBe('cpu');
    const r = kiln(['run', plan, '--fp16', '--output-dir', join(dir, 'out'), '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.skipIf(!hasBinding)('bench writes --exportTimes on the CPU backend, with 2 streams', () => {
    const times = join(dir, 'times.json');
    const r = kiln(['bench', model, '--shapes', 'x:2x4', '--iterations', '4', '--duration', '0', '--warmUp', '0', '--streams', '2', '--exportTimes', times, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.streams).toBe(2);
    expect(j.iterations).toBeGreaterThanOrEqual(8);
    const t = JSON.parse(readFileSync(times, 'utf8')) as Array<Record<string, number>>;
    expect(t.length).toBe(j.iterations);
    for (const it of t) {
      expect(it.h2dMs).toBe(0);
      expect(it.d2hMs).toBe(0);
      expect(it.computeMs).toBeGreaterThan(0);
    }
  });

  it.skipIf(!hasBinding)('bench --exportProfile/--dumpProfile: a layer table with the native loop, KILN_E_UNSUPPORTED without it', () => {
    const profile = join(dir, 'profile.json');
    const r = kiln(['bench', model, '--shapes', 'x:2x4', '--iterations', '3', '--duration', '0', '--warmUp', '0', '--dumpProfile', '--exportProfile', profile]);
    if (!hasNativeBenchmark) {
      expect(r.status).toBe(1);
      expect(r.lastErr).toMatch(/^kiln: KILN_E_UNSUPPORTED: per-layer profiles/);
      return;
    }
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/=== Profile \(\d+ layers/);
    const layers = JSON.parse(readFileSync(profile, 'utf8')) as Array<{ name: string; ms: number; percent: number }>;
    expect(layers.length).toBeGreaterThan(0);
    expect(layers[0]).toHaveProperty('ms');
  });

  it.skipIf(!hasBinding)('trtexec runs with the CUDA spellings on the CPU backend', () => {
    const times = join(dir, 'trt-times.json');
    const r = kiln(['trtexec', `--onnx=${model}`, '--shapes=x:2x4', '--fp16', '--noTF32', '--streams=2', '--iterations=2', '--duration=0', '--warmUp=0', '--useCudaGraph', '--noDataTransfers', `--exportTimes=${times}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[I\] Backend: cpu, batch: 2, iterations: \d+, streams: 2/);
    expect(r.stdout).toMatch(/^&&&& PASSED/m);
    expect(JSON.parse(readFileSync(times, 'utf8')).length).toBeGreaterThanOrEqual(4);
  });
});

describe('measure with the native timing loop (fake contexts)', () => {
  it('runs every stream concurrently, honours iterations, and profiles in a separate run', async () => {
    const { measure } = await import('../src/measure');
    const calls: Array<Record<string, unknown>> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const ctx = () => ({
      canBenchmark: true,
      async benchmark(_feeds: unknown, o: { iterations: number; warmup: number; profile?: boolean; useCudaGraph?: boolean }) {
        calls.push(o);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        const n = o.iterations;
        return {
          backend: 'cuda', iterations: n, h2dMs: Array(n).fill(0.1), computeMs: Array(n).fill(1), d2hMs: Array(n).fill(0.2), totalMs: Array(n).fill(1.3),
          cudaGraph: o.useCudaGraph === true,
          ...(o.profile ? { layers: [{ name: 'a', type: 'convolution', ms: 0.5 }] } : {}),
        };
      },
    });
    const engine = { createContext: () => ctx() } as never;
    const m = await measure(engine, {}, { iterations: 7, durationS: 0, warmUpMs: 10, streams: 3, threads: 0, useCudaGraph: true, noDataTransfers: true, profile: true });
    expect(m.timer).toBe('native');
    expect(m.iterations).toBe(21);
    expect(m.h2dMs).toHaveLength(21);
    expect(m.cudaGraph).toBe(true);
    expect(m.layers).toEqual([{ name: 'a', type: 'convolution', ms: 0.5 }]);
    expect(maxInFlight).toBe(3);
    // probe + warm-up + timed per stream, then one profiled run; only that one asks for a profile.
    expect(calls.filter((c) => c.profile)).toHaveLength(1);
    expect(calls.every((c) => c.noDataTransfers === true && c.useCudaGraph === true)).toBe(true);
    expect(calls.filter((c) => c.iterations === 7 && c.warmup === 0)).toHaveLength(3);
  });
});
