/** `kiln build <model.onnx> -o <file.plan> [--backend] [--shapes…] [--json]` */
import { writeFileSync } from 'node:fs';
import { COMMON_OPTIONS, SHAPE_OPTIONS, backendOf, onePositional, parse, shapeFlagsOf } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { isOnnxPath } from '../paths.js';
import { formatBytes, note, out, printJson } from '../report.js';

export const BUILD_USAGE = 'usage: kiln build <model.onnx> -o <file.plan> [--backend cpu|cuda] [--shapes|--minShapes|--optShapes|--maxShapes name:1x3x224x224,…] [--json]';

export async function buildCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, ...SHAPE_OPTIONS, output: { type: 'string', short: 'o' } }, BUILD_USAGE);
  if (values.help) {
    out(BUILD_USAGE);
    return 0;
  }
  const model = onePositional(positionals, 'model path', BUILD_USAGE);
  if (!isOnnxPath(model)) throw new UsageError(`build takes an .onnx model, got '${model}'`, BUILD_USAGE);
  const output = values.output ?? model.replace(/\.onnx$/i, '.plan');
  const backend = backendOf(values.backend, BUILD_USAGE) ?? 'cpu';
  // Native code loads only once the flags are known to be valid.
  const { buildFromOnnx } = await import('../model.js');
  const built = await buildFromOnnx(model, backend, shapeFlagsOf(values));
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
    });
  } else {
    out(`Built ${output}: ${formatBytes(built.plan.length)}, backend ${backend}, ${built.buildMs.toFixed(0)} ms`);
  }
  return 0;
}
