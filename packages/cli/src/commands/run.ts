/** `kiln run <model.onnx|file.plan> [--input name=file.npy|file.pb]… [--output-dir DIR] [--json]` */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '@kiln/core';
import { COMMON_OPTIONS, SHAPE_OPTIONS, backendOf, numberOf, onePositional, parse, shapeFlagsOf } from '../args.js';
import { CliError, INVALID_INPUT } from '../errors.js';
import { fromHalfBits } from '../half.js';
import { writeNpy } from '../npy.js';
import { dimsText, ms, note, out, printJson, setQuiet } from '../report.js';
import { PRECISION_OPTIONS, precisionFlagsOf } from '../precision-flags.js';
import { runtimeShapeOf } from '../runtime-shapes.js';
import { valueStats, type ValueStats } from '../stats.js';

export const RUN_USAGE = 'usage: kiln run <model.onnx|file.plan> [--backend cpu|cuda] [--input name=file.npy|file.pb]… [--output-dir DIR] [--shapes …] [--threads N] [--fp16] [--noTF32] [--layerPrecisions name:fp32,…] [--inputIOFormats fp16:chw,…] [--outputIOFormats …] [--device N] [--quiet] [--json]';

/** Output file name: every character outside [A-Za-z0-9._-] becomes '_'. */
export function outputFileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.npy`;
}

function statsOf(t: Tensor): ValueStats {
  if (t.type === 'float16') return valueStats(Array.from(t.data as Uint16Array, fromHalfBits));
  return valueStats(t.data as ArrayLike<number | bigint>);
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...COMMON_OPTIONS,
    ...SHAPE_OPTIONS,
    ...PRECISION_OPTIONS,
    input: { type: 'string', multiple: true },
    'output-dir': { type: 'string' },
    threads: { type: 'string' },
  }, RUN_USAGE);
  if (values.help) {
    out(RUN_USAGE);
    return 0;
  }
  const model = onePositional(positionals, 'model or plan path', RUN_USAGE);
  const threads = numberOf('--threads', values.threads, 0, RUN_USAGE, true);
  const outDir = values['output-dir'] ?? '.';
  const flags = shapeFlagsOf(values);
  const backend = backendOf(values.backend, RUN_USAGE);
  const precision = precisionFlagsOf(values, RUN_USAGE);
  if (values.quiet) setQuiet(true);
  const { loadModel } = await import('../model.js');
  const { loadFeeds } = await import('../inputs.js');
  const loaded = await loadModel(model, backend, flags, values.input ?? [], { ...precision, progress: !values.json && !values.quiet });
  const info = loaded.engine.info;
  const { feeds, sources, generated } = loadFeeds(info.inputs, values.input ?? [], runtimeShapeOf(info.inputs, loaded.profile, flags, loaded.fromOnnx));
  if (generated.length > 0) {
    note(`no --input for ${generated.map((n) => `'${n}' [${dimsText(feeds[n].dims)}]`).join(', ')}: using deterministic generated values (floats in [-1, 1), integers in [0, 4))`);
  }
  const ctx = loaded.engine.createContext({ numThreads: threads });
  const t0 = performance.now();
  const results = await ctx.run(feeds);
  const latencyMs = performance.now() - t0;

  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new CliError(INVALID_INPUT, `cannot create output directory '${outDir}': ${(e as Error).message}`);
  }
  const used = new Set<string>();
  const outputs = [];
  for (const name of loaded.engine.outputNames) {
    const t = results[name];
    if (!t) continue;
    let file = join(outDir, outputFileName(name));
    // Two names can map to one file after replacement ('a:b', 'a_b'): keep both, say so.
    for (let k = 2; used.has(file); k++) file = join(outDir, outputFileName(`${name}_${k}`));
    if (file !== join(outDir, outputFileName(name))) note(`output '${name}' written to ${file} (its name collides with another output's)`);
    used.add(file);
    try {
      writeFileSync(file, writeNpy({ dtype: t.type, dims: [...t.dims], data: t.data }));
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(INVALID_INPUT, `cannot write output '${name}' to '${file}': ${(e as Error).message}`);
    }
    outputs.push({ name, dtype: t.type, dims: [...t.dims], file, stats: statsOf(t) });
  }
  if (values.json) {
    printJson({
      backend: info.backend,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      inputs: info.inputs.map((io) => ({ name: io.name, dtype: feeds[io.name].type, dims: [...feeds[io.name].dims], source: sources[io.name] })),
      outputs,
    });
  } else {
    out(`Ran ${model} on ${info.backend} in ${ms(latencyMs)} ms`);
    for (const o of outputs) {
      const s = o.stats;
      out(`  ${o.name}: ${o.dtype} [${dimsText(o.dims)}] -> ${o.file}  min ${s.min.toPrecision(6)}, max ${s.max.toPrecision(6)}, mean ${s.mean.toPrecision(6)}${s.nonFinite ? `, ${s.nonFinite} non-finite` : ''}`);
    }
  }
  return 0;
}
