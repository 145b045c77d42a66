/**
 * `kiln calibrate <model.onnx> --data <dir|glob> …`: INT8 post-training calibration on the user's samples.
 * Writes a TensorRT calibration cache (-o, needs --trt-version), Kiln ranges JSON, Q/DQ ONNX, and reports INT8
 * vs FP32 accuracy on held-out batches. Progress (with ETA) goes to stderr; results to stdout (or --json).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { COMMON_OPTIONS, backendOf, numberOf, onePositional, parse } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { isOnnxPath, requireFile } from '../paths.js';
import { note, out, printJson } from '../report.js';

export const CALIBRATE_USAGE =
  'usage: kiln calibrate <model.onnx> --data <dir|glob> [--preprocess spec.json] [--raw-dtype float32 --raw-shape 3x224x224] --algo entropy2|entropy|minmax|percentile [--percentile 99.99] [--batch N] [--max-batches N] [-o calib.cache --trt-version X.Y.Z] [--ranges-json out.json] [--qdq-onnx out.onnx] [--backend cpu|cuda] [--threads N] [--holdout N] [--json]';

const ALGOS = ['entropy2', 'entropy', 'minmax', 'percentile'] as const;
type Algo = (typeof ALGOS)[number];

function write(file: string, data: string | Uint8Array, what: string): void {
  try {
    writeFileSync(file, data);
  } catch (e) {
    throw new CliError('KILN_E_INVALID_INPUT', `cannot write ${what} to '${file}': ${(e as Error).message}`);
  }
}

function positive(flag: string, v: string | undefined, usage: string): number | undefined {
  if (v === undefined) return undefined;
  const n = numberOf(flag, v, 0, usage, true);
  if (n < 1) throw new UsageError(`${flag} must be at least 1, got '${v}'`, usage);
  return n;
}

/** A stderr progress bar with ETA (cli-progress), or plain notes when stderr is not a terminal. */
async function progressBar(total: number, quiet: boolean): Promise<{ update(done: number): void; stop(): void }> {
  if (quiet || !process.stderr.isTTY) {
    let last = 0;
    return {
      update(done) {
        // Non-interactive: a line every ~10 % keeps logs readable.
        if (!quiet && (done === total || done - last >= Math.max(1, Math.ceil(total / 10)))) {
          last = done;
          note(`calibration batch ${done}/${total}`);
        }
      },
      stop() {},
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'kiln: calibrating [{bar}] {value}/{total} batches | {percentage}% | ETA {eta_formatted} | {duration_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (done) => bar.update(done), stop: () => bar.stop() };
}

export async function calibrateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...COMMON_OPTIONS,
      data: { type: 'string' },
      preprocess: { type: 'string' },
      'raw-dtype': { type: 'string' },
      'raw-shape': { type: 'string' },
      algo: { type: 'string' },
      percentile: { type: 'string' },
      batch: { type: 'string' },
      'max-batches': { type: 'string' },
      output: { type: 'string', short: 'o' },
      'trt-version': { type: 'string' },
      'ranges-json': { type: 'string' },
      'qdq-onnx': { type: 'string' },
      holdout: { type: 'string' },
      threads: { type: 'string' },
    },
    CALIBRATE_USAGE,
  );
  if (values.help) {
    out(CALIBRATE_USAGE);
    return 0;
  }
  const model = onePositional(positionals, 'model path', CALIBRATE_USAGE);
  if (!isOnnxPath(model)) throw new UsageError(`calibrate takes an .onnx model, got '${model}'`, CALIBRATE_USAGE);
  if (!values.data) throw new UsageError('missing --data <dir|glob>', CALIBRATE_USAGE);
  const algo = (values.algo ?? 'entropy2') as Algo;
  if (!ALGOS.includes(algo)) throw new UsageError(`--algo must be one of ${ALGOS.join(', ')}, got '${values.algo}'`, CALIBRATE_USAGE);
  const percentile = values.percentile === undefined ? undefined : numberOf('--percentile', values.percentile, 0, CALIBRATE_USAGE);
  if (percentile !== undefined && !(percentile > 0 && percentile <= 100)) throw new UsageError(`--percentile must be in (0, 100], got '${values.percentile}'`, CALIBRATE_USAGE);
  if (percentile !== undefined && algo !== 'percentile') throw new UsageError('--percentile needs --algo percentile', CALIBRATE_USAGE);
  const batchSize = positive('--batch', values.batch, CALIBRATE_USAGE);
  const maxBatches = positive('--max-batches', values['max-batches'], CALIBRATE_USAGE);
  const holdout = values.holdout === undefined ? 0 : numberOf('--holdout', values.holdout, 0, CALIBRATE_USAGE, true);
  const threads = numberOf('--threads', values.threads, 0, CALIBRATE_USAGE, true);
  const backend = backendOf(values.backend, CALIBRATE_USAGE) ?? 'cpu';
  if (values.output && !values['trt-version']) {
    throw new UsageError('-o writes a TensorRT calibration cache, which needs --trt-version X.Y.Z (TensorRT rejects caches of other versions)', CALIBRATE_USAGE);
  }
  if ((values['raw-dtype'] === undefined) !== (values['raw-shape'] === undefined)) throw new UsageError('--raw-dtype and --raw-shape go together', CALIBRATE_USAGE);
  let rawShape: number[] | undefined;
  if (values['raw-shape'] !== undefined) {
    rawShape = values['raw-shape'].split(/[x,]/).map(Number);
    if (rawShape.some((d) => !Number.isSafeInteger(d) || d < 1)) throw new UsageError(`--raw-shape must look like 3x224x224, got '${values['raw-shape']}'`, CALIBRATE_USAGE);
  }
  requireFile(model, 'model');
  let preprocess: unknown;
  if (values.preprocess) {
    requireFile(values.preprocess, 'preprocessing spec');
    try {
      preprocess = JSON.parse(readFileSync(values.preprocess, 'utf8'));
    } catch (e) {
      throw new CliError('KILN_E_INVALID_INPUT', `preprocessing spec '${values.preprocess}' is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (values.json) (await import('../report.js')).setQuiet(true);

  // Native code loads only once the flags are known to be valid.
  const cal = await import('@kiln/calibrate');
  const { parseOnnx } = await import('@kiln/onnx');
  const { isDataType } = await import('@kiln/core');
  if (values['raw-dtype'] !== undefined && !isDataType(values['raw-dtype'])) throw new UsageError(`--raw-dtype '${values['raw-dtype']}' is not a Kiln dtype`, CALIBRATE_USAGE);
  const spec = preprocess === undefined ? undefined : cal.checkPreprocessSpec(preprocess);
  const bytes = new Uint8Array(readFileSync(model));
  const baseDir = path.dirname(path.resolve(model));
  const parsed = await parseOnnx(bytes, { baseDir });
  const dataset = cal.openDataset(values.data, parsed.inputs, {
    batchSize,
    preprocess: spec,
    raw: rawShape ? { dtype: values['raw-dtype'] as never, shape: rawShape } : undefined,
  });
  // Calibration batches first, the held-out ones after them (never the same batches unless there are too few).
  const available = dataset.numBatches;
  if (available === 0) throw new CliError('KILN_E_INVALID_INPUT', `no calibration batches in '${values.data}'`);
  let calibCount = Math.min(maxBatches ?? available, holdout > 0 && available > holdout ? available - holdout : available);
  if (calibCount < 1) calibCount = available;
  const heldOut = holdout > 0 && available > calibCount;
  note(`calibrating ${model} with ${algo} on ${calibCount} batch(es) of ${Object.entries(dataset.batchShapes).map(([n, s]) => `${n}:${s.join('x')}`).join(', ')}, backend ${backend}`);

  const t0 = performance.now();
  const bar = await progressBar(calibCount, Boolean(values.json));
  let collected;
  try {
    collected = await cal.collectStats(bytes, dataset, {
      backend,
      numThreads: threads,
      baseDir,
      batches: dataset.range(0, calibCount),
      onBatch: (done) => bar.update(done),
    });
  } finally {
    bar.stop();
  }
  const ranges = cal.computeRanges(collected.stats, algo, { percentile, graph: collected.graph.nodes });
  const calibMs = performance.now() - t0;
  note(`collected statistics of ${collected.stats.length} tensors in ${(calibMs / 1000).toFixed(2)} s (engine calibration mode)`);

  const written: Record<string, string> = {};
  if (values.output) {
    write(values.output, cal.writeCalibrationCache(ranges, { trtVersion: values['trt-version']!, algorithm: algo }), 'calibration cache');
    written.cache = values.output;
    note(`wrote ${values.output} (${cal.CACHE_ALGO[algo]}${algo === 'percentile' ? ', the label trtexec accepts: TensorRT has no percentile calibrator' : ''})`);
  }
  if (values['ranges-json']) {
    write(values['ranges-json'], cal.writeRangesJson(ranges, algo), 'ranges JSON');
    written.rangesJson = values['ranges-json'];
    note(`wrote ${values['ranges-json']}`);
  }
  let qdq: { activations: number; weights: number; skipped: Array<{ tensor: string; reason: string }> } | undefined;
  if (values['qdq-onnx']) {
    const r = cal.writeQdqOnnx(bytes, ranges);
    write(values['qdq-onnx'], r.bytes, 'Q/DQ ONNX');
    written.qdqOnnx = values['qdq-onnx'];
    qdq = { activations: r.activations.length, weights: Object.keys(r.weights).length, skipped: r.skipped };
    note(`wrote ${values['qdq-onnx']} (${r.activations.length} activation and ${qdq.weights} per-channel weight Q/DQ pairs${r.opsetFrom < 13 ? `, opset ${r.opsetFrom} → 13` : ''})`);
  }

  let accuracy: unknown;
  let accuracyNote: string | undefined;
  if (holdout > 0) {
    if (!(await cal.int8Available(backend))) {
      accuracyNote = 'this build of the engine cannot build INT8 engines (BuilderConfig.int8); no accuracy report';
      note(accuracyNote);
    } else {
      const batches = heldOut ? dataset.range(calibCount, Math.min(available, calibCount + holdout)) : dataset.range(0, Math.min(holdout, available));
      if (!heldOut) {
        accuracyNote = `only ${available} batch(es): the accuracy report reuses calibration batches`;
        note(accuracyNote);
      }
      const report = await cal.accuracyReport(bytes, ranges, batches, { backend, baseDir, batchShapes: dataset.batchShapes, numThreads: threads });
      accuracy = report;
      if (!values.json) out(cal.formatAccuracy(report));
    }
  }

  if (values.json) {
    printJson({
      model,
      algorithm: algo,
      ...(percentile !== undefined ? { percentile } : {}),
      backend,
      batches: collected.batches,
      calibrationTimeMs: Math.round(calibMs),
      tensors: Object.keys(ranges).length,
      ranges,
      written,
      ...(qdq ? { qdq } : {}),
      ...(accuracy ? { accuracy } : {}),
      ...(accuracyNote ? { accuracyNote } : {}),
    });
  } else {
    out(`Calibrated ${Object.keys(ranges).length} tensors of ${model} with ${algo} on ${collected.batches} batch(es) in ${(calibMs / 1000).toFixed(2)} s`);
    for (const [k, v] of Object.entries(written)) out(`  ${k}: ${v}`);
  }
  return 0;
}
