/** `kiln bench <model.onnx|file.plan> [--iterations N] [--duration S] [--warmUp MS] [--shapes …] [--threads N] [--json]` */
import { COMMON_OPTIONS, SHAPE_OPTIONS, backendOf, numberOf, onePositional, parse, shapeFlagsOf } from '../args.js';
import { formatBenchSummary, note, out } from '../report.js';
import { runtimeShapeOf } from '../runtime-shapes.js';
import { latencyStats } from '../stats.js';

export const BENCH_USAGE = 'usage: kiln bench <model.onnx|file.plan> [--backend cpu|cuda] [--iterations N] [--duration S] [--warmUp MS] [--shapes …] [--input name=file]… [--threads N] [--json]';

/** trtexec's defaults: at least 10 iterations and 3 s, after 200 ms of warm-up. */
export const BENCH_DEFAULTS = { iterations: 10, durationS: 3, warmUpMs: 200 };

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    ...SHAPE_OPTIONS,
    iterations: { type: 'string' },
    duration: { type: 'string' },
    warmUp: { type: 'string' },
    threads: { type: 'string' },
    input: { type: 'string', multiple: true },
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
  const flags = shapeFlagsOf(values);
  const backend = backendOf(values.backend, BENCH_USAGE);
  const { loadModel } = await import('../model.js');
  const { loadFeeds } = await import('../inputs.js');
  const { benchmark } = await import('../bench-loop.js');
  const loaded = await loadModel(model, backend, flags, values.input ?? []);
  const info = loaded.engine.info;
  const { feeds, generated } = loadFeeds(info.inputs, values.input ?? [], runtimeShapeOf(info.inputs, loaded.profile, flags, loaded.fromOnnx));
  if (generated.length > 0) note(`using deterministic generated values for input(s) ${generated.join(', ')}`);
  const ctx = loaded.engine.createContext({ numThreads: threads });
  note(`benchmarking: warm-up ${warmUpMs} ms, then at least ${iterations} iterations and ${durationS} s`);
  const r = await benchmark(ctx, feeds, { iterations, durationS, warmUpMs });
  const latency = latencyStats(r.latenciesMs);
  const first = info.inputs[0];
  const batch = first && feeds[first.name].dims.length > 0 ? feeds[first.name].dims[0] : 1;
  const throughput = r.latenciesMs.length / (r.totalWallMs / 1000);
  if (values.json) {
    // Exactly the documented keys: other tools parse this.
    process.stdout.write(`${JSON.stringify({
      backend: info.backend,
      batch,
      throughput_qps: throughput,
      latency_ms: { min: latency.min, mean: latency.mean, median: latency.median, p90: latency.p90, p95: latency.p95, p99: latency.p99, max: latency.max },
    })}\n`);
  } else {
    for (const line of formatBenchSummary({ backend: info.backend, batch, iterations: r.latenciesMs.length, totalWallMs: r.totalWallMs, throughputQps: throughput, latency })) out(line);
  }
  return 0;
}
