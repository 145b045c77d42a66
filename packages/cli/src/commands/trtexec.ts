/**
 * `kiln trtexec …`: trtexec's own syntax (`--flag=value`) for every flag Kiln supports, and a
 * trtexec-like report, so scripts written for trtexec run unchanged. Every other trtexec flag is
 * refused by name with the reason; flags trtexec does not have either are usage errors.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { numberOf } from '../args.js';
import { precisionFlagsOf } from '../precision-flags.js';
import { UsageError } from '../errors.js';
import { TRTEXEC_USAGE, parseTrtexecArgs } from './trtexec-flags.js';
import type { BackendName } from '../model.js';
import { requireFile } from '../paths.js';
import { formatBenchSummary, formatProfile, ms, out } from '../report.js';
import { runtimeShapeOf } from '../runtime-shapes.js';
import { BENCH_DEFAULTS, streamsOf } from './bench.js';
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
  const streams = streamsOf(v.streams, TRTEXEC_USAGE);
  const specs = loadInputSpecs(v.loadInputs);
  const flags = { shapes: v.shapes, minShapes: v.minShapes, optShapes: v.optShapes, maxShapes: v.maxShapes };
  const precision = precisionFlagsOf({ ...v, fp16: bools.has('fp16'), noTF32: bools.has('noTF32') }, TRTEXEC_USAGE);
  if (v.exportTimes === '' || v.exportProfile === '') throw new UsageError('--exportTimes/--exportProfile need a file path', TRTEXEC_USAGE);

  const { Engine } = await import('@kiln/core');
  const { buildFromOnnx, planProfile, describeBuildOptions } = await import('../model.js');
  const { loadFeeds } = await import('../inputs.js');
  const { measure, profileRows } = await import('../measure.js');
  const { summaryOf, writeExports } = await import('../bench-output.js');
  const cmd = `kiln trtexec ${argv.join(' ')}`;
  out(`&&&& RUNNING Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
  try {
    let plan: Uint8Array;
    let fromOnnx = false;
    let profile = {};
    if (v.onnx) {
      // trtexec keeps a timing cache only with --timingCacheFile; without it the build is cold, as in trtexec.
      const cache = v.timingCacheFile !== undefined || v.builderOptimizationLevel !== undefined
        ? { file: v.timingCacheFile, disabled: v.timingCacheFile === undefined, builderOptimizationLevel: optLevelOf(v.builderOptimizationLevel, TRTEXEC_USAGE) }
        : undefined;
      const given = describeBuildOptions(precision);
      if (given.length > 0) out(`[I] Precision/format flags: ${given.join(' ')}`);
      const built = await buildFromOnnx(v.onnx, (v.backend as BackendName | undefined) ?? 'cpu', flags, specs, cache, { ...precision, progress: true });
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
      const given = describeBuildOptions(precision);
      if (given.length > 0) out(`[W] ${given.join(', ')} ignored: --loadEngine takes a built engine (they apply with --onnx)`);
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
    out(`[I] Starting inference${streams > 1 ? ` on ${streams} streams` : ''}`);
    const wantProfile = bools.has('dumpProfile') || v.exportProfile !== undefined;
    const m = await measure(engine, feeds, {
      iterations, durationS, warmUpMs, streams, threads,
      useCudaGraph: bools.has('useCudaGraph'), noDataTransfers: bools.has('noDataTransfers'), profile: wantProfile,
    });
    if (m.timer === 'js' && (bools.has('useCudaGraph') || bools.has('noDataTransfers'))) {
      out('[W] --useCudaGraph/--noDataTransfers: this build of the native binding has no benchmark loop; timed plain runs instead');
    }
    // trtexec prints one line per group of avgRuns runs; fast CPU models run thousands of
    // groups, so the trace is capped (every run is in --exportTimes).
    const groups = Math.floor(m.totalMs.length / avgRuns);
    const MAX_GROUPS = 100;
    const avg = (a: number[], g: number) => a.slice(g * avgRuns, (g + 1) * avgRuns).reduce((x, y) => x + y, 0) / avgRuns;
    for (let g = 0; g < Math.min(groups, MAX_GROUPS); g++) {
      const gpu = m.timer === 'native' && info.backend === 'cuda' ? `GPU latency: ${ms(avg(m.computeMs, g))} ms - ` : '';
      out(`[I] Average on ${avgRuns} runs - ${gpu}Host latency: ${ms(avg(m.totalMs, g))} ms`);
    }
    if (groups > MAX_GROUPS) out(`[I] … ${groups - MAX_GROUPS} more groups of ${avgRuns} runs not shown (--exportTimes writes every run)`);
    for (const line of writeExports(m, { times: v.exportTimes, profile: v.exportProfile })) out(`[I] ${line}`);
    const first = info.inputs[0];
    const batch = first && feeds[first.name].dims.length > 0 ? feeds[first.name].dims[0] : 1;
    out('[I]');
    for (const line of formatBenchSummary(summaryOf(m, info.backend, batch), '[I] ')) out(line);
    if (bools.has('dumpProfile')) {
      out('[I]');
      for (const line of formatProfile(profileRows(m.layers ?? []), '[I] ')) out(line);
    }
    out(`&&&& PASSED Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
    return 0;
  } catch (e) {
    out(`&&&& FAILED Kiln.trtexec [Kiln v${VERSION}] # ${cmd}`);
    throw e;
  }
}
