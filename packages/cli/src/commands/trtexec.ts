/**
 * `kiln trtexec …`: trtexec's own syntax (`--flag=value`) for every flag Kiln supports, and a
 * trtexec-like report, so scripts written for trtexec run unchanged. Every other trtexec flag is
 * refused by name with the reason; flags trtexec does not have either are usage errors.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { numberOf } from '../args.js';
import { UsageError } from '../errors.js';
import { TRTEXEC_USAGE, parseTrtexecArgs } from './trtexec-flags.js';
import type { BackendName } from '../model.js';
import { requireFile } from '../paths.js';
import { formatBenchSummary, ms, note, out } from '../report.js';
import { runtimeShapeOf } from '../runtime-shapes.js';
import { latencyStats } from '../stats.js';
import { BENCH_DEFAULTS } from './bench.js';
import { optLevelOf } from '../timing-cache-flags.js';
import { VERSION } from '../version.js';

/** trtexec's `--loadInputs='in0':a.bin,in1:b.bin` → kiln's `name=file` specs (split on the last ':'). */
function loadInputSpecs(v: string | undefined): string[] {
  if (v === undefined) return [];
  return v.split(',').filter((s) => s !== '').map((entry) => {
    const colon = entry.lastIndexOf(':');
    if (colon <= 0) throw new UsageError(`--loadInputs entry '${entry}' is not name:file`, TRTEXEC_USAGE);
    const name = entry.slice(0, colon).replace(/^'(.*)'$/, '$1');
    return `${name}=${entry.slice(colon + 1)}`;
  });
}

export async function trtexecCommand(argv: string[]): Promise<number> {
  const { values: v, bools } = parseTrtexecArgs(argv);
  if (bools.has('help')) {
    out(TRTEXEC_USAGE);
    return 0;
  }
  if (!v.onnx && !v.loadEngine) throw new UsageError('give --onnx=<model.onnx> or --loadEngine=<file.plan>', TRTEXEC_USAGE);
  if (v.onnx && v.loadEngine) throw new UsageError('--onnx and --loadEngine cannot be used together', TRTEXEC_USAGE);
  if (v.backend !== undefined && v.backend !== 'cpu' && v.backend !== 'cuda') throw new UsageError(`--backend must be cpu or cuda, got '${v.backend}'`, TRTEXEC_USAGE);
  const iterations = Math.max(1, numberOf('--iterations', v.iterations, BENCH_DEFAULTS.iterations, TRTEXEC_USAGE, true));
  const durationS = numberOf('--duration', v.duration, BENCH_DEFAULTS.durationS, TRTEXEC_USAGE);
  const warmUpMs = numberOf('--warmUp', v.warmUp, BENCH_DEFAULTS.warmUpMs, TRTEXEC_USAGE);
  const avgRuns = Math.max(1, numberOf('--avgRuns', v.avgRuns, 10, TRTEXEC_USAGE, true));
  const threads = numberOf('--threads', v.threads, 0, TRTEXEC_USAGE, true);
  const specs = loadInputSpecs(v.loadInputs);
  const flags = { shapes: v.shapes, minShapes: v.minShapes, optShapes: v.optShapes, maxShapes: v.maxShapes };

  const { Engine } = await import('@kiln/core');
  const { buildFromOnnx, planProfile } = await import('../model.js');
  const { loadFeeds } = await import('../inputs.js');
  const { benchmark } = await import('../bench-loop.js');
  const cmd = `kiln trtexec ${argv.join(' ')}`;
  out(`&&&& RUNNING Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
  try {
    if (bools.has('noTF32')) note('--noTF32: nothing to do, Kiln computes in full FP32 (no TF32)');
    let plan: Uint8Array;
    let fromOnnx = false;
    let profile = {};
    if (v.onnx) {
      // trtexec keeps a timing cache only with --timingCacheFile; without it the build is cold, as in trtexec.
      const cache = v.timingCacheFile !== undefined || v.builderOptimizationLevel !== undefined
        ? { file: v.timingCacheFile, disabled: v.timingCacheFile === undefined, builderOptimizationLevel: optLevelOf(v.builderOptimizationLevel, TRTEXEC_USAGE) }
        : undefined;
      const built = await buildFromOnnx(v.onnx, (v.backend as BackendName | undefined) ?? 'cpu', flags, specs, cache);
      if (built.timing) out(`[I] Timing cache: ${built.timing.timingCache.path ?? 'none'}, ${built.timing.timingCache.hits} hits, ${built.timing.timingCache.misses} misses, ${built.timing.tacticTimeMs.toFixed(2)} ms timing tactics`);
      out(`[I] Engine built in ${(built.buildMs / 1000).toFixed(4)} sec.`);
      plan = built.plan;
      profile = built.profile;
      fromOnnx = true;
      if (v.saveEngine) {
        writeFileSync(v.saveEngine, plan);
        out(`[I] Engine saved to ${v.saveEngine} (${plan.length} bytes)`);
      }
    } else {
      requireFile(v.loadEngine as string, 'engine');
      plan = new Uint8Array(readFileSync(v.loadEngine as string));
      out(`[I] Engine loaded from ${v.loadEngine} (${plan.length} bytes)`);
    }
    if (bools.has('skipInference')) {
      out(`[I] Skipped inference phase since --skipInference is added.`);
      out(`&&&& PASSED Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
      return 0;
    }
    const engine = await Engine.load(plan);
    const info = engine.info;
    if (!fromOnnx) profile = planProfile(engine);
    const { feeds, generated } = loadFeeds(info.inputs, specs, runtimeShapeOf(info.inputs, profile, flags, fromOnnx));
    for (const io of info.inputs) {
      out(`[I] Input '${io.name}': ${feeds[io.name].dims.join('x') || 'scalar'} (${generated.includes(io.name) ? 'generated' : 'loaded'})`);
    }
    const ctx = engine.createContext({ numThreads: threads });
    out(`[I] Starting inference`);
    const r = await benchmark(ctx, feeds, { iterations, durationS, warmUpMs });
    // trtexec prints one line per group of avgRuns runs; fast CPU models run thousands of
    // groups, so the trace is capped (every run is in --exportTimes).
    const groups = Math.floor(r.latenciesMs.length / avgRuns);
    const MAX_GROUPS = 100;
    for (let g = 0; g < Math.min(groups, MAX_GROUPS); g++) {
      const mean = r.latenciesMs.slice(g * avgRuns, (g + 1) * avgRuns).reduce((a, b) => a + b, 0) / avgRuns;
      out(`[I] Average on ${avgRuns} runs - Host latency: ${ms(mean)} ms`);
    }
    if (groups > MAX_GROUPS) out(`[I] … ${groups - MAX_GROUPS} more groups of ${avgRuns} runs not shown (--exportTimes writes every run)`);
    if (v.exportTimes) {
      writeFileSync(v.exportTimes, JSON.stringify(r.latenciesMs.map((l, i) => ({ startMs: r.startsMs[i], endMs: r.startsMs[i] + l, latencyMs: l })), null, 2));
      out(`[I] Times exported to ${v.exportTimes}`);
    }
    const latency = latencyStats(r.latenciesMs);
    const first = info.inputs[0];
    const batch = first && feeds[first.name].dims.length > 0 ? feeds[first.name].dims[0] : 1;
    out('[I]');
    const summary = formatBenchSummary({ backend: info.backend, batch, iterations: r.latenciesMs.length, totalWallMs: r.totalWallMs, throughputQps: r.latenciesMs.length / (r.totalWallMs / 1000), latency }, '[I] ');
    for (const line of summary) out(line);
    out(`&&&& PASSED Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
    return 0;
  } catch (e) {
    out(`&&&& FAILED Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
    throw e;
  }
}
