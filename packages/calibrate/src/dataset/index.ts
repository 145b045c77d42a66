/**
 * Calibration datasets: per model input, a sorted list of files (.npy arrays, images through a preprocessing
 * spec, or raw binary with a given dtype and shape); each file is one whole batch (rank = the input's) or one
 * sample (rank = the input's − 1), decided per file; samples are stacked into batches of `batchSize`. Several
 * inputs: a folder per input name (or an explicit {name: dir|glob} map), zipped in sorted order. Iteration is
 * async and lazy: only one batch is in memory.
 */
import { closeSync, openSync, readFileSync, readSync, statSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { KilnError, Tensor, dataTypeSize, isDataType, type DataType, type TypedArray } from '@kiln/core';
import { readNpy, readNpyHeader } from '../npy';
import { convertData } from './convert';
import { listFiles, isGlob } from './files';
import { IMAGE_EXTENSIONS, checkPreprocessSpec, outputSize, imageSampleShape, readImage, type PreprocessSpec } from './images';

export { listFiles } from './files';
export { checkPreprocessSpec, readImage, type PreprocessSpec } from './images';

export interface InputSpec {
  name: string;
  dtype: DataType;
  /** -1 = dynamic. */
  dims: number[];
}

export interface RawSpec {
  dtype: DataType;
  /** Shape of one file (a sample or a whole batch, decided by rank like .npy). */
  shape: number[];
}

export interface DatasetOptions {
  /** Samples per batch (sample files are stacked). Default: the input's static batch dim, else 1. */
  batchSize?: number;
  /** Stop after this many batches. */
  maxBatches?: number;
  /** For image files. */
  preprocess?: PreprocessSpec;
  /** For files that are neither .npy nor images. */
  raw?: RawSpec;
}

type Kind = 'npy' | 'image' | 'raw';

interface Item {
  file: string;
  kind: Kind;
  /** Shape of what the file yields; its first dim counts samples when `batch`. */
  dims: number[];
  batch: boolean;
}

export interface Batch {
  index: number;
  feeds: Record<string, Tensor>;
  /** Files that went into this batch (first input's), for messages. */
  files: string[];
}

export interface Dataset extends AsyncIterable<Batch> {
  inputs: InputSpec[];
  /** Batches the iteration yields (after maxBatches). */
  numBatches: number;
  numSamples: number;
  /** Batch shape per input (the first batch's). */
  batchShapes: Record<string, number[]>;
  /** Iterates a sub-range of batches [start, end). */
  range(start: number, end?: number): AsyncIterable<Batch>;
}

function kindOf(file: string, options: DatasetOptions): Kind {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') return 'npy';
  if (IMAGE_EXTENSIONS.has(ext)) return 'image';
  if (options.raw) return 'raw';
  throw new KilnError('KILN_E_INVALID_INPUT', `${file}: unknown data file type '${ext}'; use .npy, JPEG/PNG images (with a preprocessing spec) or raw files with a dtype and shape`);
}

function headerOf(file: string): ReturnType<typeof readNpyHeader> {
  const fd = openSync(file, 'r');
  try {
    // Headers are small; 64 KiB covers any numpy writes for a reasonable rank, else read the whole file.
    const size = statSync(file).size;
    const buf = new Uint8Array(Math.min(size, 65536));
    readSync(fd, buf, 0, buf.length, 0);
    try {
      return readNpyHeader(buf, file);
    } catch (e) {
      if (size > buf.length) return readNpyHeader(readFileSync(file), file);
      throw e;
    }
  } finally {
    closeSync(fd);
  }
}

function sampleDimsOk(actual: number[], expected: number[]): boolean {
  return actual.length === expected.length && actual.every((d, i) => expected[i] < 0 || expected[i] === d);
}

function describe(dims: number[]): string {
  return `[${dims.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
}

function indexItem(file: string, input: InputSpec, options: DatasetOptions): Item {
  const kind = kindOf(file, options);
  let dims: number[];
  if (kind === 'npy') dims = headerOf(file).dims;
  else if (kind === 'raw') {
    const raw = options.raw!;
    dims = raw.shape;
    const need = raw.shape.reduce((a, b) => a * b, 1) * dataTypeSize(raw.dtype);
    const size = statSync(file).size;
    if (size !== need) throw new KilnError('KILN_E_INVALID_INPUT', `${file}: ${size} bytes, but raw shape ${describe(raw.shape)} of ${raw.dtype} needs ${need}`);
  } else {
    const spatial = (input.dims.length === 4 ? ((options.preprocess?.layout ?? 'NCHW') === 'NCHW' ? [input.dims[2], input.dims[3]] : [input.dims[1], input.dims[2]]) : undefined) as [number, number] | undefined;
    dims = imageSampleShape(options.preprocess ?? {}, outputSize(options.preprocess ?? {}, spatial, file));
  }
  const rank = input.dims.length;
  if (dims.length === rank && sampleDimsOk(dims, input.dims)) return { file, kind, dims, batch: true };
  if (dims.length === rank - 1 && sampleDimsOk(dims, input.dims.slice(1))) return { file, kind, dims, batch: false };
  throw new KilnError(
    'KILN_E_SHAPE_MISMATCH',
    `${file}: shape ${describe(dims)} fits input '${input.name}' ${describe(input.dims)} neither as a whole batch nor as one sample ${describe(input.dims.slice(1))}`,
  );
}

async function loadItem(item: Item, input: InputSpec, options: DatasetOptions): Promise<TypedArray> {
  if (item.kind === 'npy') {
    const a = readNpy(readFileSync(item.file), item.file);
    return convertData(a.data as TypedArray, a.dtype as DataType, input.dtype, item.file);
  }
  if (item.kind === 'raw') {
    const raw = options.raw!;
    const bytes = readFileSync(item.file);
    const t = Tensor.fromBytes(raw.dtype, bytes, raw.shape);
    return convertData(t.data, raw.dtype, input.dtype, item.file);
  }
  const spec = options.preprocess ?? {};
  const hw: [number, number] = (spec.layout ?? 'NCHW') === 'NCHW' ? [item.dims[1], item.dims[2]] : [item.dims[0], item.dims[1]];
  const img = await readImage(item.file, spec, hw, input.dtype);
  return convertData(img.data, spec.dtype ?? input.dtype, input.dtype, item.file);
}

/** A planned batch: for each input, the items (and sample ranges) that make it. */
interface PlannedBatch {
  parts: Item[][];
}

function plan(items: Item[][], inputs: InputSpec[], batchSize: number): PlannedBatch[] {
  const n = items[0].length;
  for (let k = 1; k < items.length; k++) {
    if (items[k].length !== n) {
      throw new KilnError('KILN_E_INVALID_INPUT', `input '${inputs[k].name}' has ${items[k].length} data files but '${inputs[0].name}' has ${n}; every input needs one file per sample or batch, matched in sorted order`);
    }
  }
  const batches: PlannedBatch[] = [];
  let pending: Item[][] = inputs.map(() => []);
  const flush = () => {
    if (pending[0].length > 0) batches.push({ parts: pending });
    pending = inputs.map(() => []);
  };
  for (let f = 0; f < n; f++) {
    const isBatch = items[0][f].batch;
    for (let k = 1; k < items.length; k++) {
      if (items[k][f].batch !== isBatch) throw new KilnError('KILN_E_INVALID_INPUT', `${items[k][f].file} and ${items[0][f].file} must both be whole batches or both single samples`);
    }
    if (isBatch) {
      flush();
      batches.push({ parts: items.map((list) => [list[f]]) });
      continue;
    }
    // Samples of one batch must share a shape (dynamic non-batch dims may differ between batches).
    if (pending[0].length > 0 && items.some((list, k) => list[f].dims.join() !== pending[k][0].dims.join())) flush();
    items.forEach((list, k) => pending[k].push(list[f]));
    if (pending[0].length === batchSize) flush();
  }
  flush();
  return batches;
}

/** Resolves where each input's files are. */
function sources(source: string | Record<string, string>, inputs: InputSpec[]): Record<string, string> {
  if (typeof source !== 'string') {
    for (const i of inputs) if (!(i.name in source)) throw new KilnError('KILN_E_INVALID_INPUT', `calibration data names no files for input '${i.name}'`);
    return source;
  }
  // A folder holding one sub-folder per input name.
  if (!isGlob(source) && existsSync(source) && statSync(source).isDirectory()) {
    const per = inputs.map((i) => path.join(source, i.name.replace(/[/\\:]/g, '_')));
    if (per.every((p) => existsSync(p) && statSync(p).isDirectory())) return Object.fromEntries(inputs.map((i, k) => [i.name, per[k]]));
  }
  if (inputs.length !== 1) {
    throw new KilnError('KILN_E_INVALID_INPUT', `the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}): give a folder with one sub-folder per input name, or a {name: folder|glob} map`);
  }
  return { [inputs[0].name]: source };
}

export function openDataset(source: string | Record<string, string>, inputs: InputSpec[], options: DatasetOptions = {}): Dataset {
  if (inputs.length === 0) throw new KilnError('KILN_E_INVALID_INPUT', 'the model has no runtime inputs to calibrate');
  for (const i of inputs) if (!isDataType(i.dtype)) throw new KilnError('KILN_E_UNSUPPORTED_DTYPE', `input '${i.name}' has unsupported dtype ${String(i.dtype)}`);
  if (options.preprocess) checkPreprocessSpec(options.preprocess);
  if (options.batchSize !== undefined && (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1)) {
    throw new KilnError('KILN_E_INVALID_VALUE', `batchSize must be a positive integer, got ${options.batchSize}`);
  }
  const where = sources(source, inputs);
  const items = inputs.map((input) => {
    const files = listFiles(where[input.name]);
    if (files.length === 0) throw new KilnError('KILN_E_INVALID_INPUT', `no calibration data files for input '${input.name}' in '${where[input.name]}'`);
    return files.map((f) => indexItem(f, input, options));
  });
  const staticBatch = inputs[0].dims[0] > 0 ? inputs[0].dims[0] : undefined;
  const batchSize = options.batchSize ?? staticBatch ?? 1;
  let planned = plan(items, inputs, batchSize);
  if (options.maxBatches !== undefined) planned = planned.slice(0, Math.max(0, options.maxBatches));
  const shapeOf = (b: PlannedBatch, k: number): number[] => {
    const first = b.parts[k][0];
    return first.batch ? [...first.dims] : [b.parts[k].length, ...first.dims];
  };
  const batchShapes: Record<string, number[]> = {};
  if (planned.length > 0) inputs.forEach((input, k) => (batchShapes[input.name] = shapeOf(planned[0], k)));
  let numSamples = 0;
  for (const b of planned) numSamples += shapeOf(b, 0)[0] ?? 1;

  async function* iterate(start: number, end: number): AsyncGenerator<Batch> {
    for (let bi = start; bi < Math.min(end, planned.length); bi++) {
      const b = planned[bi];
      const feeds: Record<string, Tensor> = {};
      for (const [k, input] of inputs.entries()) {
        const dims = shapeOf(b, k);
        const parts = await Promise.all(b.parts[k].map((item) => loadItem(item, input, options)));
        let data: TypedArray;
        if (parts.length === 1) data = parts[0];
        else {
          const per = parts[0].length;
          const Ctor = parts[0].constructor as new (n: number) => TypedArray;
          data = new Ctor(per * parts.length);
          parts.forEach((p, i) => (data as Float32Array).set(p as Float32Array, i * per));
        }
        feeds[input.name] = new Tensor(input.dtype, data, dims);
      }
      yield { index: bi, feeds, files: b.parts[0].map((i) => i.file) };
    }
  }
  return {
    inputs,
    numBatches: planned.length,
    numSamples,
    batchShapes,
    range: (start, end = planned.length) => ({ [Symbol.asyncIterator]: () => iterate(start, end) }),
    [Symbol.asyncIterator]: () => iterate(0, planned.length),
  };
}
