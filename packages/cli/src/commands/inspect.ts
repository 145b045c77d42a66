/** `kiln inspect <model.onnx|file.plan> [--json]`: what the optimized plan contains and is bound to. */
import { COMMON_OPTIONS, SHAPE_OPTIONS, backendOf, onePositional, parse, shapeFlagsOf } from '../args.js';
import { formatPlanInfo, out, printJson } from '../report.js';

export const INSPECT_USAGE = 'usage: kiln inspect <model.onnx|file.plan> [--backend cpu|cuda] [--shapes|--minShapes|--optShapes|--maxShapes …] [--json]';

export async function inspectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, ...SHAPE_OPTIONS }, INSPECT_USAGE);
  if (values.help) {
    out(INSPECT_USAGE);
    return 0;
  }
  const model = onePositional(positionals, 'model or plan path', INSPECT_USAGE);
  const backend = backendOf(values.backend, INSPECT_USAGE);
  const { loadModel } = await import('../model.js');
  const loaded = await loadModel(model, backend, shapeFlagsOf(values));
  const info = loaded.engine.info;
  if (values.json) printJson(info);
  else for (const line of formatPlanInfo(info, loaded.fromOnnx ? `${model} (built in memory, ${loaded.plan.length} bytes)` : `${model} (${loaded.plan.length} bytes)`)) out(line);
  return 0;
}
