/**
 * trtexec flag parsing, kept free of native imports so refusals and usage errors need no addon.
 * Supported flags take `--flag=value`; every other trtexec flag is refused by name with why.
 */
import { CliError, UNSUPPORTED, UsageError } from '../errors.js';

export const TRTEXEC_USAGE = 'usage: kiln trtexec (--onnx=<model.onnx> [--saveEngine=<file.plan>] | --loadEngine=<file.plan>) [--shapes=…] [--minShapes=…] [--optShapes=…] [--maxShapes=…] [--loadInputs=name:file.npy,…] [--iterations=N] [--warmUp=MS] [--duration=S] [--avgRuns=N] [--threads=N] [--exportTimes=file.json] [--timingCacheFile=F] [--builderOptimizationLevel=0..5] [--skipInference] [--fp16] [--noTF32] [--layerPrecisions=name:fp32,…] [--inputIOFormats=fp16:chw,…] [--outputIOFormats=…] [--device=N] [--streams=N] [--useCudaGraph] [--noDataTransfers] [--dumpProfile] [--separateProfileRun] [--exportProfile=file.json]';

export const VALUE_FLAGS = [
  'onnx', 'saveEngine', 'loadEngine', 'shapes', 'minShapes', 'optShapes', 'maxShapes', 'loadInputs', 'iterations', 'warmUp', 'duration',
  'avgRuns', 'threads', 'exportTimes', 'backend', 'timingCacheFile', 'builderOptimizationLevel',
  'layerPrecisions', 'inputIOFormats', 'outputIOFormats', 'device', 'streams', 'exportProfile', 'profilingVerbosity',
] as const;
export const BOOL_FLAGS = ['skipInference', 'fp16', 'noTF32', 'useCudaGraph', 'noDataTransfers', 'dumpProfile', 'separateProfileRun', 'verbose', 'help'] as const;

/** trtexec flags Kiln refuses, with why. */
export const REFUSED: Record<string, string> = {
  bf16: `BF16 precision is not implemented in Kiln; use --fp16`,
  fp8: `FP8 precision is not implemented in Kiln; use --fp16`,
  int4: `INT4 weight quantization is not implemented in Kiln`,
  int8: `INT8 builds need a calibration file, which trtexec mode does not take in this build; use 'kiln calibrate' then 'kiln build --int8 --calib <file>'`,
  best: `enables INT8 as well as FP16, which trtexec mode cannot build without a calibration file; use --fp16`,
  calib: `INT8 builds from a calibration cache go through 'kiln build --int8 --calib <file>'`,
  stronglyTyped: `strongly typed networks are not implemented; the builder picks precisions (--fp16, --layerPrecisions)`,
  precisionConstraints: `--layerPrecisions is always obeyed in Kiln, so there is nothing to constrain; drop the flag`,
  layerOutputTypes: `per-layer output types are not implemented; use --layerPrecisions`,
  layerDeviceTypes: `DLA devices do not exist in Kiln`,
  infStreams: `one stream per inference context is not implemented; use --streams=N`,
  useSpinWait: `spin-waiting on CUDA events is not implemented in Kiln`,
  useManagedMemory: `CUDA managed memory is not used by Kiln (one device arena per context)`,
  exposeDMA: `serialized DMA transfers are not implemented in Kiln`,
  useDLACore: `DLA cores do not exist in Kiln`,
  allowGPUFallback: `DLA cores do not exist in Kiln`,
  noCompilationCache: `Kiln has no compilation cache (plans carry their compiled kernels); use --timingCacheFile for the timing cache`,
  tacticSources: `choosing tactic sources (cuBLAS, cuDNN) is not implemented; the builder times all of them`,
  memPoolSize: `memory pool limits are not implemented; Kiln's arena size is reported by 'kiln inspect'`,
  workspace: `memory pool limits are not implemented; Kiln's arena size is reported by 'kiln inspect'`,
  sparsity: `structured sparsity is not implemented in Kiln`,
  refit: `refittable engines are not implemented in Kiln`,
  versionCompatible: `version-compatible plans are not implemented; plans are bound to one Kiln version`,
  vc: `version-compatible plans are not implemented; plans are bound to one Kiln version`,
  hardwareCompatibilityLevel: `hardware compatibility levels are not implemented; plans are bound to one device`,
  plugins: `plugins are not supported by Kiln`,
  staticPlugins: `plugins are not supported by Kiln`,
  dynamicPlugins: `plugins are not supported by Kiln`,
  setPluginsToSerialize: `plugins are not supported by Kiln`,
  safe: `the safety runtime is TensorRT-specific`,
  consistency: `the safety runtime is TensorRT-specific`,
  restricted: `the safety runtime is TensorRT-specific`,
  dumpLayerInfo: `use 'kiln inspect' to see the layers of a plan`,
  exportLayerInfo: `use 'kiln inspect --json' to export the layers of a plan`,
  dumpOutput: `use 'kiln run' to write outputs as .npy files`,
  exportOutput: `use 'kiln run --json' to export outputs`,
  maxBatch: `implicit-batch networks do not exist in Kiln; use --shapes`,
  batch: `implicit-batch networks do not exist in Kiln; use --shapes`,
  explicitBatch: `every Kiln network is explicit-batch; the flag is obsolete (drop it)`,
  uff: `only ONNX models are supported (UFF was removed from TensorRT too)`,
  uffInput: `only ONNX models are supported (UFF was removed from TensorRT too)`,
  deploy: `only ONNX models are supported (Caffe was removed from TensorRT too)`,
  model: `only ONNX models are supported (Caffe was removed from TensorRT too)`,
  output: `ONNX models name their own outputs; --output applies to Caffe/UFF models only`,
  calibProfile: `INT8 calibration is not supported in this build`,
  getPlanVersionOnly: `use 'kiln inspect' to see what a plan is bound to`,
  idleTime: `not implemented in Kiln`,
};

export interface TrtexecArgs {
  values: Partial<Record<(typeof VALUE_FLAGS)[number], string>>;
  bools: Set<(typeof BOOL_FLAGS)[number]>;
}

export function parseTrtexecArgs(argv: string[]): TrtexecArgs {
  const values: TrtexecArgs['values'] = {};
  const bools: TrtexecArgs['bools'] = new Set();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      bools.add('help');
      continue;
    }
    if (arg === '-v') {
      bools.add('verbose');
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (trtexec flags are written --flag=value)`, TRTEXEC_USAGE);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (name in REFUSED) throw new CliError(UNSUPPORTED, `--${name}: ${REFUSED[name]}`);
    if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      let v = inline;
      // trtexec requires '='; taking the next word as well is a convenience that cannot misparse.
      if (v === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value (--${name}=…)`, TRTEXEC_USAGE);
        v = argv[++i];
      }
      values[name as (typeof VALUE_FLAGS)[number]] = v;
    } else if ((BOOL_FLAGS as readonly string[]).includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`, TRTEXEC_USAGE);
      bools.add(name as (typeof BOOL_FLAGS)[number]);
    } else {
      throw new UsageError(`unknown flag --${name}`, TRTEXEC_USAGE);
    }
  }
  return { values, bools };
}

