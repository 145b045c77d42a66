/**
 * CPU benchmark, not a test: Kiln's CPU backend vs onnxruntime-node on the ONNX corpus's light ResNet-50
 * and light Inception v1 at batch 1, same thread count for both (Kiln numThreads = onnxruntime
 * intraOpNumThreads = os.availableParallelism() unless --threads). Each engine is warmed up, then timed
 * for N sequential runs; prints median latencies and the ratio Kiln/onnxruntime per model.
 *
 *   pnpm bench:cpu [--threads N] [--iterations N] [--warmup N] [--models resnet50,inception_v1] [--json]
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Builder, Engine, ensureCorpus, lightInputs, ort, parseOnnx, readBytes } from '../packages/conformance/src/bench-deps.js';

interface Stats { median: number; min: number; p90: number; mean: number }

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], p90: at(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function time(run: () => Promise<unknown>, warmup: number, iterations: number): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await run();
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    await run();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(ms);
}

async function main(): Promise<void> {
  // `pnpm <script> -- --flag` forwards a literal `--`; drop it so the flags still parse.
  const argv = process.argv.slice(2);
  if (argv[0] === '--') argv.shift();
  const { values } = parseArgs({
    args: argv,
    options: {
      threads: { type: 'string' },
      iterations: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      models: { type: 'string', default: 'resnet50,inception_v1' },
      json: { type: 'boolean', default: false },
    },
  });
  const threads = values.threads ? Number(values.threads) : availableParallelism();
  const iterations = Number(values.iterations);
  const warmup = Number(values.warmup);
  if (!(threads >= 1 && iterations >= 1 && warmup >= 0)) throw new Error('--threads and --iterations must be >= 1, --warmup >= 0');
  const corpus = await ensureCorpus();
  const rows: Row[] = [];
  const errors: Array<{ model: string; error: string }> = [];

  for (const net of values.models.split(',').map((s) => s.trim()).filter(Boolean)) {
    try {
      rows.push(await benchModel(corpus, net, threads, warmup, iterations));
    } catch (e) {
      // One model Kiln cannot run yet must not hide the other's numbers.
      const error = e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e);
      process.stderr.write(`bench: ${net}: failed: ${error}\n`);
      errors.push({ model: `light_${net}`, error });
    }
  }
  report(rows, errors, { threads, warmup, iterations, json: values.json });
  if (errors.length) process.exitCode = 1;
}

type Row = { model: string; kiln: Stats; onnxruntime: Stats; ratio: number; buildMs: number };

async function benchModel(corpus: string, net: string, threads: number, warmup: number, iterations: number): Promise<Row> {
  const path = join(corpus, 'light', `light_${net}.onnx`);
  const feeds = lightInputs(readBytes(path));
  process.stderr.write(`bench: ${net}: building Kiln plan…\n`);
  const t0 = Date.now();
  const model = await parseOnnx(path);
  const plan = await Builder.build(model.network, { backend: 'cpu' });
  const buildMs = Date.now() - t0;
  const ctx = (await Engine.load(plan)).createContext({ numThreads: threads });
  process.stderr.write(`bench: ${net}: Kiln (${threads} threads)…\n`);
  const kiln = await time(() => ctx.run(feeds), warmup, iterations);

  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'], logSeverityLevel: 3, intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor('float32', t.data as Float32Array, [...t.dims]);
  process.stderr.write(`bench: ${net}: onnxruntime-node (${threads} threads)…\n`);
  const onnxruntime = await time(() => session.run(ortFeeds), warmup, iterations);
  await session.release();
  return { model: `light_${net}`, kiln, onnxruntime, ratio: kiln.median / onnxruntime.median, buildMs };
}

function report(rows: Row[], errors: Array<{ model: string; error: string }>, o: { threads: number; warmup: number; iterations: number; json: boolean }): void {
  const { threads, warmup, iterations } = o;
  if (o.json) {
    console.log(JSON.stringify({ threads, iterations, warmup, results: rows, errors }, null, 2));
    return;
  }
  console.log(`Kiln CPU vs onnxruntime-node, batch 1, ${threads} thread(s), ${warmup} warm-up + ${iterations} timed runs`);
  console.log('model                  kiln median   ort median   kiln/ort   (kiln build)');
  for (const r of rows) {
    console.log(`${r.model.padEnd(22)} ${r.kiln.median.toFixed(2).padStart(9)} ms ${r.onnxruntime.median.toFixed(2).padStart(9)} ms ${r.ratio.toFixed(2).padStart(9)}x   (${(r.buildMs / 1000).toFixed(1)} s)`);
  }
  for (const e of errors) console.log(`${e.model.padEnd(22)} failed: ${e.error}`);
}

main().catch((e) => {
  console.error(`bench:cpu: ${e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e)}`);
  process.exitCode = 1;
});
