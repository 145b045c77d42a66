/** `kiln build <model.onnx> -o <file.plan> [--backend] [--shapes…] [--int8 --calib <cache|json>] [--json]` */
import { readFileSync, writeFileSync } from 'node:fs';
import { COMMON_OPTIONS, SHAPE_OPTIONS, backendOf, onePositional, parse, shapeFlagsOf } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { isOnnxPath, requireFile } from '../paths.js';
import type { BuiltPlan } from '../model.js';
import type { ShapeFlags } from '../shapes.js';
import { formatBytes, note, out, printJson, setQuiet } from '../report.js';
import { PRECISION_OPTIONS, precisionFlagsOf, type PrecisionFlags } from '../precision-flags.js';
import { CACHE_OPTIONS, cacheFlagsOf, timingJson } from '../timing-cache-flags.js';

export const BUILD_USAGE = 'usage: kiln build <model.onnx> -o <file.plan> [--backend cpu|cuda] [--shapes|--minShapes|--optShapes|--maxShapes name:1x3x224x224,…] [--int8 --calib <calib.cache|ranges.json>] [--timingCacheFile F | --noTimingCache] [--builderOptimizationLevel 0..5] [--ignoreMismatch] [--fp16] [--noTF32] [--layerPrecisions name:fp32,…] [--inputIOFormats fp16:chw,…] [--outputIOFormats …] [--device N] [--quiet] [--json]';

export async function buildCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...COMMON_OPTIONS, ...SHAPE_OPTIONS, output: { type: 'string', short: 'o' }, int8: { type: 'boolean' }, calib: { type: 'string' }, ...CACHE_OPTIONS, ...PRECISION_OPTIONS },
    BUILD_USAGE,
  );
  if (values.help) {
    out(BUILD_USAGE);
    return 0;
  }
  const model = onePositional(positionals, 'model path', BUILD_USAGE);
  if (!isOnnxPath(model)) throw new UsageError(`build takes an .onnx model, got '${model}'`, BUILD_USAGE);
  const output = values.output ?? model.replace(/\.onnx$/i, '.plan');
  const backend = backendOf(values.backend, BUILD_USAGE) ?? 'cpu';
  if (values.int8 && !values.calib) throw new UsageError('--int8 needs --calib <calib.cache|ranges.json> (from kiln calibrate)', BUILD_USAGE);
  if (values.calib && !values.int8) throw new UsageError('--calib goes with --int8', BUILD_USAGE);
  const cache = cacheFlagsOf(values, BUILD_USAGE);
  const precision = precisionFlagsOf(values, BUILD_USAGE);
  if (values.quiet) setQuiet(true);
  // Native code loads only once the flags are known to be valid.
  const { buildFromOnnx } = await import('../model.js');
  const progress = !values.json && !values.quiet;
  const built = values.int8
    ? await buildInt8(model, backend, shapeFlagsOf(values), values.calib!, precision)
    : await buildFromOnnx(model, backend, shapeFlagsOf(values), [], cache, { ...precision, progress });
  try {
    writeFileSync(output, built.plan);
  } catch (e) {
    throw new CliError('KILN_E_INVALID_INPUT', `cannot write plan to '${output}': ${(e as Error).message}`);
  }
  note(`wrote ${output} (${formatBytes(built.plan.length)}) in ${built.buildMs.toFixed(0)} ms`);
  if (values.json) {
    // Loading the plan back gives the layer count and proves it is readable.
    const { Engine } = await import('@kiln/core');
    const info = (await Engine.load(built.plan)).info;
    printJson({
      plan: output,
      bytes: built.plan.length,
      backend,
      buildTimeMs: Math.round(built.buildMs * 1000) / 1000,
      profiles: Object.keys(built.profile).length ? [built.profile] : [],
      layers: info.layers.length,
      weightsBytes: info.weightsBytes,
      arenaBytes: info.arenaBytes,
      ...timingJson(built.timing),
    });
  } else {
    out(`Built ${output}: ${formatBytes(built.plan.length)}, backend ${backend}, ${built.buildMs.toFixed(0)} ms`);
  }
  return 0;
}

/**
 * `--int8 --calib`: reads a TensorRT calibration cache or Kiln ranges JSON into amax per tensor and builds an
 * INT8 engine (fake-quantized on the CPU backend). Mirrors buildFromOnnx, adding `int8: {ranges}`.
 */
async function buildInt8(model: string, backend: 'cpu' | 'cuda', flags: ShapeFlags, calibFile: string, precision: PrecisionFlags): Promise<BuiltPlan> {
  requireFile(calibFile, 'calibration file');
  requireFile(model, 'model');
  const { readRanges, int8Available } = await import('@kiln/calibrate');
  const { ranges, format, algorithm } = readRanges(readFileSync(calibFile, 'utf8'), calibFile);
  if (Object.keys(ranges).length === 0) throw new CliError('KILN_E_INVALID_INPUT', `calibration file '${calibFile}' holds no finite ranges`);
  if (!(await int8Available(backend))) {
    throw new CliError('KILN_E_UNSUPPORTED', `this build of the ${backend} backend cannot build INT8 engines (BuilderConfig.int8); build without --int8`);
  }
  const { parseOnnx } = await import('@kiln/onnx');
  const { Builder } = await import('@kiln/core');
  const { buildProfile } = await import('../shapes.js');
  note(`parsing ${model}`);
  const parsed = await parseOnnx(model);
  const { profile, defaulted } = buildProfile(parsed.inputs, flags);
  if (defaulted.length > 0) note(`no shapes given for dynamic input(s) ${defaulted.map((n) => `'${n}'`).join(', ')}: using 1 for every dynamic dim`);
  const missing = parsed.inputs.filter((i) => !(i.name in ranges)).map((i) => i.name);
  if (missing.length > 0) note(`no range for input(s) ${missing.join(', ')} in ${calibFile}: they stay in float`);
  note(`building INT8 plan for backend ${backend} from ${Object.keys(ranges).length} ranges (${format}, ${algorithm})`);
  const { precisionConfig } = await import('../model.js');
  const config: Record<string, unknown> = { backend, ...precisionConfig(precision), int8: { ranges } };
  if (Object.keys(profile).length > 0) config.profiles = [profile];
  const t0 = performance.now();
  const plan = await Builder.build(parsed.network, config as never);
  return { plan, profile, buildMs: performance.now() - t0 };
}
