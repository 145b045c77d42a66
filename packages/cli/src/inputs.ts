/**
 * Feeds for `run`/`bench`/`trtexec`: loaded from `.npy`/`.pb` files given as `name=file`, or
 * generated deterministically (seeded) for inputs no file was given for.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Tensor, type DataType, type IoInfo } from '@kiln/core';
import { readTensorProto } from '@kiln/onnx';
import { CliError, INVALID_INPUT } from './errors.js';
import { readNpy } from './npy.js';
import { toHalfBits } from './half.js';
import { requireFile } from './paths.js';

export interface InputSpec {
  name: string | undefined; // undefined: the model's only input
  file: string;
}

/** Splits `name=file`. Input names may themselves contain '=', so a known input name that prefixes
 * the spec wins; otherwise the first '=' splits. A bare path is allowed for one-input models. */
export function parseInputSpec(spec: string, inputNames: readonly string[]): InputSpec {
  const match = [...inputNames]
    .sort((a, b) => b.length - a.length)
    .find((n) => spec.startsWith(`${n}=`) && spec.length > n.length + 1);
  if (match) return { name: match, file: spec.slice(match.length + 1) };
  const eq = spec.indexOf('=');
  if (eq > 0) return { name: spec.slice(0, eq), file: spec.slice(eq + 1) };
  return { name: undefined, file: spec };
}

const fileCache = new Map<string, { name?: string; tensor: Tensor }>();

/** Reads a `.npy`/`.pb` tensor; cached, since a build may read a file for its shape before the run. */
export function readTensorFile(file: string): { name?: string; tensor: Tensor } {
  const cached = fileCache.get(file);
  if (cached) return cached;
  const loaded = readTensorFileUncached(file);
  fileCache.set(file, loaded);
  return loaded;
}

function readTensorFileUncached(file: string): { name?: string; tensor: Tensor } {
  requireFile(file, 'input file');
  const bytes = new Uint8Array(readFileSync(file));
  const ext = extname(file).toLowerCase();
  if (ext === '.npy') {
    const a = readNpy(bytes, file);
    return { tensor: new Tensor(a.dtype, a.data, a.dims) };
  }
  if (ext === '.pb') {
    const { name, tensor } = readTensorProto(bytes);
    return { name: name || undefined, tensor };
  }
  throw new CliError(INVALID_INPUT, `input file '${file}': unknown format '${ext || '(no extension)'}'; use .npy (NumPy) or .pb (ONNX TensorProto)`);
}

/** mulberry32: small, fast, and identical on every platform, so generated feeds are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(name: string): number {
  // FNV-1a over the name: each input gets its own stream whatever the input order.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Floats uniform in [-1, 1); integers in [0, 4) (valid as small indices and counts); bools 0/1. */
export function generateTensor(name: string, dtype: DataType, dims: readonly number[]): Tensor {
  let n = 1;
  for (const d of dims) n *= d;
  if (!Number.isSafeInteger(n) || n > 2 ** 31) {
    throw new CliError('KILN_E_TENSOR_TOO_LARGE', `cannot generate input '${name}' of shape [${dims.join(', ')}]: too many elements`);
  }
  const r = rng(seedOf(name));
  const float = () => r() * 2 - 1;
  const small = () => Math.floor(r() * 4);
  switch (dtype) {
    case 'float32': return new Tensor(dtype, Float32Array.from({ length: n }, float), dims);
    case 'float64': return new Tensor(dtype, Float64Array.from({ length: n }, float), dims);
    case 'float16': return new Tensor(dtype, Uint16Array.from({ length: n }, () => toHalfBits(float())), dims);
    case 'int8': return new Tensor(dtype, Int8Array.from({ length: n }, small), dims);
    case 'uint8': return new Tensor(dtype, Uint8Array.from({ length: n }, small), dims);
    case 'int16': return new Tensor(dtype, Int16Array.from({ length: n }, small), dims);
    case 'uint16': return new Tensor(dtype, Uint16Array.from({ length: n }, small), dims);
    case 'int32': return new Tensor(dtype, Int32Array.from({ length: n }, small), dims);
    case 'uint32': return new Tensor(dtype, Uint32Array.from({ length: n }, small), dims);
    case 'int64': return new Tensor(dtype, BigInt64Array.from({ length: n }, () => BigInt(small())), dims);
    case 'uint64': return new Tensor(dtype, BigUint64Array.from({ length: n }, () => BigInt(small())), dims);
    case 'bool': return new Tensor(dtype, Uint8Array.from({ length: n }, () => (r() < 0.5 ? 0 : 1)), dims);
    default:
      throw new CliError('KILN_E_UNSUPPORTED_DTYPE', `cannot generate input '${name}' of dtype '${String(dtype)}'`);
  }
}

/** Shapes of the `--input` files by input name (for building a profile that fits them). */
export function inputFileShapes(inputNames: readonly string[], specs: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const raw of specs) {
    const spec = parseInputSpec(raw, inputNames);
    const name = spec.name ?? (inputNames.length === 1 ? inputNames[0] : undefined);
    if (name === undefined || !inputNames.includes(name)) continue; // loadFeeds reports these
    out.set(name, [...readTensorFile(spec.file).tensor.dims]);
  }
  return out;
}

export interface Feeds {
  feeds: Record<string, Tensor>;
  sources: Record<string, string>; // input name -> file path or 'generated'
  generated: string[];
}

/**
 * Loads every `--input` and generates the rest at `shapeOf(input)`. Errors name the input and
 * file; dtype/shape checks against the plan are left to ExecutionContext, which reports them
 * with KILN_E_INVALID_INPUT before anything runs.
 */
export function loadFeeds(inputs: readonly IoInfo[], specs: readonly string[], shapeOf: (io: IoInfo) => number[]): Feeds {
  const names = inputs.map((i) => i.name);
  const feeds: Record<string, Tensor> = {};
  const sources: Record<string, string> = {};
  for (const raw of specs) {
    const spec = parseInputSpec(raw, names);
    if (spec.name === undefined && names.length !== 1) {
      throw new CliError(INVALID_INPUT, `--input '${raw}': the model has ${names.length} inputs (${names.join(', ')}); write --input name=file`);
    }
    const name: string = spec.name ?? names[0];
    if (!names.includes(name)) {
      throw new CliError(INVALID_INPUT, `--input '${raw}': the model has no input '${name}'; its inputs are: ${names.join(', ')}`);
    }
    if (name in feeds) throw new CliError(INVALID_INPUT, `--input: input '${name}' is given twice`);
    feeds[name] = readTensorFile(spec.file).tensor;
    sources[name] = spec.file;
  }
  const generated: string[] = [];
  for (const io of inputs) {
    if (io.name in feeds) continue;
    feeds[io.name] = generateTensor(io.name, io.dtype, shapeOf(io));
    sources[io.name] = 'generated';
    generated.push(io.name);
  }
  return { feeds, sources, generated };
}
