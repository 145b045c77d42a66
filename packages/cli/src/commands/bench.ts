/**
 * `kiln bench <model.onnx|file.plan> [--iterations N] [--duration S] [--warmUp MS] [--streams N] [--useCudaGraph]
 * [--noDataTransfers] [--dumpProfile] [--exportTimes F] [--exportProfile F] [precision flags] [--json]`
 */
import { COMMON_OPTIONS, SHAPE_OPTIONS, backendOf, numberOf, onePositional, parse, shapeFlagsOf } from '../args.js';
import { UsageError } from '../errors.js';
import { PRECISION_OPTIONS, precisionFlagsOf } from '../precision-flags.js';
import { formatBenchSummary, formatProfile, note, out, setQuiet } from '../report.js';
import { runtimeShapeOf } from '../runtime-shapes.js';

export const BENCH_USAGE = 'usage: kiln bench <model.onnx|file.plan> [--backend cpu|cuda] [--iterations N] [--duration S] [--warmUp MS] [--streams N] [--useCudaGraph] [--noDataTransfers] [--dumpProfile] [--exportTimes F] [--exportProfile F] [--fp16] [--noTF32] [--layerPrecisions name:fp32,…] [--inputIOFormats fp16:chw,…] [--outputIOFormats …] [--device N] [--shapes …] [--input name=file]… [--threads N] [--quiet] [--json]';

/** trtexec's defaults: at least 10 iterations and 3 s, after 200 ms of warm-up. */
export const BENCH_DEFAULTS = { iterations: 10, durationS: 3, warmUpMs: 200 };

export function streamsOf(v: string | undefined, usage: string): number {
  const n = numberOf('--streams', v, 1, usage, true);
  if (n < 1) throw new UsageError(`--streams must be at least 1, got '${v}'`, usage);
  return n;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    ...SHAPE_OPTIONS,
    ...PRECISION_OPTIONS,
    iterations: { type: 'string' },
    duration: { type: 'string' },
    warmUp: { type: 'string' },
    threads: { type: 'string' },
    input: { type: 'string', multiple: true },
    streams: { type: 'string' },
    useCudaGraph: { type: 'boolean' },
    noDataTransfers: { type: 'boolean' },
    dumpProfile: { type: 'boolean' },
    exportTimes: { type: 'string' },
    exportProfile: { type: 'string' },
  }, BENCH_USAGE);
  if (values.help) {
    out(BENCH_USAGE);
    return 0;
  }
  const model = onePositional(positionals, 'model or plan path', BENCH_USAGE);
  const iterations = Math.max(1, numberOf('--iterations', values.iterations, BENCH_DEFAULTS.iterations, BENCH_USAGE, true));
  const durationS = numberOf('--duration', values.duration, BENCH_DEFAULTS.durationS, BENCH_USAGE);
  const warmUpMs = numberOf('--warmUp', values.warmUp, BENCH_DEFAULTS.warmUpMs, BENCH_USAGE);
  const threads = numberOf('--threads', values.threads, 0, BENCH_USAGE, true);
  const streams = streamsOf(values.streams, BENCH_USAGE);
  if (values.exportTimes === '' || values.exportProfile === '') throw new UsageError('--exportTimes/--exportProfile need a file path', BENCH_USAGE);
  const flags = shapeFlagsOf(values);
  const backend = backendOf(values.backend, BENCH_USAGE);
  const precision = precisionFlagsOf(values, BENCH_USAGE);
  if (values.quiet) setQuiet(true);
  const { loadModel } = await import('../model.js');
  const { loadFeeds } = await import('../inputs.js');
  const { measure, profileRows } = await import('../measure.js');
  const { benchJson, summaryOf, writeExports } = await import('../bench-output.js');
  const loaded = await loadModel(model, backend, flags, values.input ?? [], { ...precision, progress: !values.json && !values.quiet });
  const info = loaded.engine.info;
  const { feeds, generated } = loadFeeds(info.inputs, values.input ?? [], runtimeShapeOf(info.inputs, loaded.profile, flags, loaded.fromOnnx));
  if (generated.length > 0) note(`using deterministic generated values for input(s) ${generated.join(', ')}`);
  note(`benchmarking: warm-up ${warmUpMs} ms, then at least ${iterations} iterations and ${durationS} s${streams > 1 ? ` on each of ${streams} streams` : ''}`);
  const profile = values.dumpProfile === true || values.exportProfile !== undefined;
  const m = await measure(loaded.engine, feeds, {
    iterations, durationS, warmUpMs, streams, threads,
    useCudaGraph: values.useCudaGraph === true, noDataTransfers: values.noDataTransfers === true, profile,
  });
  if (m.timer === 'js' && (values.useCudaGraph || values.noDataTransfers)) note('--useCudaGraph/--noDataTransfers: this build of the native binding has no benchmark loop; timed plain runs instead');
  const first = info.inputs[0];
  const batch = first && feeds[first.name].dims.length > 0 ? feeds[first.name].dims[0] : 1;
  for (const line of writeExports(m, { times: values.exportTimes, profile: values.exportProfile })) note(line);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(benchJson(m, info.backend, batch))}\n`);
  } else {
    for (const line of formatBenchSummary(summaryOf(m, info.backend, batch))) out(line);
    if (values.dumpProfile) {
      out();
      for (const line of formatProfile(profileRows(m.layers ?? []))) out(line);
    }
  }
  return 0;
}
