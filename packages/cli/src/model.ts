/**
 * Turns the model argument of build/run/bench/inspect into a plan and an engine: a `.onnx` file is
 * parsed and built in memory with the profile from the shape flags; anything else is read as a
 * plan (the core refuses non-plans with KILN_E_CORRUPT_PLAN).
 */
import { readFileSync } from 'node:fs';
import { Builder, Engine, type BuilderConfig } from '@kiln/core';
import { parseOnnx } from '@kiln/onnx';
import { CliError } from './errors.js';
import { isOnnxPath, requireFile } from './paths.js';
import { buildProfile, type ShapeFlags, type ShapeRange } from './shapes.js';
import { note } from './report.js';
import { inputFileShapes } from './inputs.js';
import { buildNetwork, type CacheFlags, type TimingSummary } from './timing-cache.js';
import type { PrecisionFlags } from './precision-flags.js';
import { buildProgress } from './progress.js';

export type BackendName = 'cpu' | 'cuda';


/** Precision/format/device flags for the builder, and whether to show the progress bar (stderr TTY only). */
export interface BuildOptions extends PrecisionFlags {
  progress?: boolean;
}

/** The flags that were given, for notes and for the plan-path warning. */
export function describeBuildOptions(o: BuildOptions): string[] {
  const out: string[] = [];
  if (o.fp16) out.push('--fp16');
  if (o.tf32 === false) out.push('--noTF32');
  if (o.layerPrecisions) out.push('--layerPrecisions');
  if (o.inputIOFormats) out.push('--inputIOFormats');
  if (o.outputIOFormats) out.push('--outputIOFormats');
  if (o.device !== undefined) out.push('--device');
  return out;
}

export interface BuiltPlan {
  plan: Uint8Array;
  profile: Record<string, ShapeRange>;
  buildMs: number;
  /** Timing-cache figures when the build used the timing cache. */
  timing?: TimingSummary | null;
}

/** Parses an ONNX model and builds a plan for it (the shape flags become the one profile). */
/** `inputSpecs` (`name=file`): inputs that no shape flag names are built for their file's shape. */
/** `cache`: build with the timing cache (kiln build / trtexec flags); absent, a plain build. */
export async function buildFromOnnx(path: string, backend: BackendName, flags: ShapeFlags, inputSpecs: readonly string[] = [], cache?: CacheFlags, options: BuildOptions = {}): Promise<BuiltPlan> {
  requireFile(path, 'model');
  note(`parsing ${path}`);
  const model = await parseOnnx(path);
  const fileShapes = inputFileShapes(model.inputs.map((i) => i.name), inputSpecs);
  const { profile, defaulted, fromFiles } = buildProfile(model.inputs, flags, fileShapes);
  if (fromFiles.length > 0) {
    note(`building for the shapes of the input file(s): ${fromFiles.map((n) => `${n}:${profile[n].opt.join('x')}`).join(', ')}`);
  }
  if (defaulted.length > 0) {
    note(`no shapes given for dynamic input(s) ${defaulted.map((n) => `'${n}'`).join(', ')}: using 1 for every dynamic dim (set --shapes or --minShapes/--optShapes/--maxShapes to change)`);
  }
  const config: BuilderConfig = { backend, ...precisionConfig(options) };
  if (Object.keys(profile).length > 0) config.profiles = [profile];
  const given = describeBuildOptions(options);
  note(`building plan for backend ${backend}${given.length ? ` (${given.join(' ')})` : ''}`);
  const bar = await buildProgress(options.progress === true);
  if (bar.onProgress) config.onProgress = bar.onProgress;
  const t0 = performance.now();
  try {
    const { plan, timing } = await buildNetwork(model.network, config, cache);
    return { plan, profile, buildMs: performance.now() - t0, timing };
  } finally {
    bar.stop();
  }
}

/** The BuilderConfig fields of the precision flags (nothing for flags not given: native defaults apply). */
export function precisionConfig(o: BuildOptions): Partial<BuilderConfig> {
  const c: Partial<BuilderConfig> = {};
  if (o.fp16 !== undefined) c.fp16 = o.fp16;
  if (o.tf32 !== undefined) c.tf32 = o.tf32;
  if (o.layerPrecisions !== undefined) c.layerPrecisions = o.layerPrecisions;
  if (o.inputIOFormats !== undefined) c.inputIOFormats = o.inputIOFormats;
  if (o.outputIOFormats !== undefined) c.outputIOFormats = o.outputIOFormats;
  if (o.device !== undefined) c.device = o.device;
  return c;
}

export interface LoadedModel {
  engine: Engine;
  plan: Uint8Array;
  /** Profile the plan was built with here, or rebuilt from the plan's own input info. */
  profile: Record<string, ShapeRange>;
  fromOnnx: boolean;
}

/** The first profile recorded in a plan, as ranges by input name. */
export function planProfile(engine: Engine): Record<string, ShapeRange> {
  const out: Record<string, ShapeRange> = {};
  for (const io of engine.info.inputs) {
    const p = io.profiles?.[0];
    if (p) out[io.name] = { min: [...p[0]], opt: [...p[1]], max: [...p[2]] };
  }
  return out;
}

export async function loadModel(path: string, backend: BackendName | undefined, flags: ShapeFlags, inputSpecs: readonly string[] = [], options: BuildOptions = {}): Promise<LoadedModel> {
  if (isOnnxPath(path)) {
    const built = await buildFromOnnx(path, backend ?? 'cpu', flags, inputSpecs, undefined, options);
    const engine = await Engine.load(built.plan);
    return { engine, plan: built.plan, profile: built.profile, fromOnnx: true };
  }
  requireFile(path, 'plan');
  const given = describeBuildOptions(options);
  // A plan's precision and formats were fixed when it was built.
  if (given.length > 0) note(`${given.join(', ')} ignored: '${path}' is a built plan (they apply when building from an .onnx)`);
  const plan = new Uint8Array(readFileSync(path));
  const engine = await Engine.load(plan);
  if (backend !== undefined && engine.info.backend !== backend) {
    throw new CliError('KILN_E_PLAN_MISMATCH', `plan '${path}' was built for backend '${engine.info.backend}' but --backend ${backend} was given; rebuild it from the .onnx with --backend ${backend}`);
  }
  return { engine, plan, profile: planProfile(engine), fromOnnx: false };
}
