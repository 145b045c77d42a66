/**
 * TensorProto → Kiln `Tensor`, for every dtype Kiln has and every storage form: raw_data (little-endian,
 * often at an unaligned offset of the file buffer, so always copied), the typed repeated fields
 * (float_data, int32_data — which also carries int8/uint8/int16/uint16/bool and float16 bit patterns —,
 * int64_data, double_data, uint64_data) and external data files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tensor, type DataType, type TypedArray } from '@kiln/core';
import { dtypeFromOnnx, ELEMENT_SIZE, onnxTypeName } from './dtypes';
import { InvalidNodeError, OnnxError, UnsupportedNodeError } from './errors';
import { toBigInt, toSafeNumber } from './long';
import { has, type ITensorProto } from './proto';

/** Refuse absurd element counts before allocating (protects against mutated dims). */
const MAX_ELEMENTS = 2 ** 31;

export interface TensorDecodeOptions {
  /** Folder that external data `location`s are relative to (the model's folder). */
  baseDir?: string | undefined;
}

/** The dims of a TensorProto as numbers (checked non-negative, product bounded). */
export function tensorDims(tp: ITensorProto, what: string): { dims: number[]; size: number } {
  const dims = (tp.dims ?? []).map((d, i) => {
    const n = toSafeNumber(d, `${what}: dims[${i}]`);
    if (n < 0) throw new InvalidNodeError(`${what}: dims[${i}] = ${n} is negative`);
    return n;
  });
  let size = 1;
  for (const d of dims) size *= d;
  if (size > MAX_ELEMENTS) throw new InvalidNodeError(`${what}: ${size} elements (dims [${dims.join(', ')}]) exceeds Kiln's limit of ${MAX_ELEMENTS}`);
  return { dims, size };
}

/** Decodes one TensorProto. `what` names it in errors (e.g. "initializer 'conv1.weight'"). */
export function decodeTensorProto(tp: ITensorProto, what: string, options: TensorDecodeOptions = {}): Tensor {
  const onnxType = tp.dataType ?? 0;
  const dtype = dtypeFromOnnx(onnxType);
  if (!dtype) throw new UnsupportedNodeError(`${what} has element type ${onnxTypeName(onnxType)}, which Kiln does not support`);
  const { dims, size } = tensorDims(tp, what);
  if (has(tp, 'segment')) throw new UnsupportedNodeError(`${what} is a segment of a larger tensor (TensorProto.segment), which Kiln does not support`);

  if (tp.dataLocation === 1) {
    return Tensor.fromBytes(dtype, readExternal(tp, what, size * ELEMENT_SIZE[dtype], options.baseDir), dims);
  }
  if (has(tp, 'rawData') && (tp.rawData!.length > 0 || size === 0)) {
    const raw = tp.rawData!;
    const want = size * ELEMENT_SIZE[dtype];
    if (raw.length !== want) {
      throw new InvalidNodeError(`${what}: raw_data has ${raw.length} bytes but ${dtype} dims [${dims.join(', ')}] need ${want}`);
    }
    // Tensor.fromBytes copies into a fresh buffer: raw_data views are usually unaligned.
    return Tensor.fromBytes(dtype, raw, dims);
  }
  return new Tensor(dtype, fromTypedField(tp, dtype, size, what), dims);
}

function checkCount(n: number, size: number, field: string, what: string): void {
  if (n !== size) throw new InvalidNodeError(`${what}: ${field} has ${n} elements but the dims need ${size}`);
}

function fromTypedField(tp: ITensorProto, dtype: DataType, size: number, what: string): TypedArray {
  switch (dtype) {
    case 'float32': {
      const src = tp.floatData ?? [];
      checkCount(src.length, size, 'float_data', what);
      return Float32Array.from(src, Number);
    }
    case 'float64': {
      const src = tp.doubleData ?? [];
      checkCount(src.length, size, 'double_data', what);
      return Float64Array.from(src, Number);
    }
    case 'int32': case 'int16': case 'int8': case 'uint16': case 'uint8': case 'bool': case 'float16': {
      // int32_data carries every narrow type, one element per int32 (float16 as its 16-bit pattern).
      const src = tp.int32Data ?? [];
      checkCount(src.length, size, 'int32_data', what);
      const out =
        dtype === 'int32' ? new Int32Array(size) : dtype === 'int16' ? new Int16Array(size) : dtype === 'int8' ? new Int8Array(size)
        : dtype === 'uint16' || dtype === 'float16' ? new Uint16Array(size) : new Uint8Array(size);
      for (let i = 0; i < size; i++) {
        const v = Number(src[i]);
        out[i] = dtype === 'bool' ? (v !== 0 ? 1 : 0) : v;
      }
      return out;
    }
    case 'int64': {
      const src = tp.int64Data ?? [];
      checkCount(src.length, size, 'int64_data', what);
      const out = new BigInt64Array(size);
      for (let i = 0; i < size; i++) out[i] = BigInt.asIntN(64, toBigInt(src[i], `${what}: int64_data[${i}]`));
      return out;
    }
    case 'uint32': case 'uint64': {
      const src = tp.uint64Data ?? [];
      checkCount(src.length, size, 'uint64_data', what);
      if (dtype === 'uint32') return Uint32Array.from(src, (v, i) => Number(BigInt.asUintN(32, toBigInt(v, `${what}: uint64_data[${i}]`))));
      const out = new BigUint64Array(size);
      for (let i = 0; i < size; i++) out[i] = BigInt.asUintN(64, toBigInt(src[i], `${what}: uint64_data[${i}]`));
      return out;
    }
  }
}

function externalError(what: string, message: string, cause?: unknown): OnnxError {
  return new OnnxError('KILN_E_ONNX_EXTERNAL_DATA', `${what}: ${message}`, cause === undefined ? undefined : { cause });
}

function parseDecimal(v: string | undefined, key: string, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) {
    throw externalError(what, `external data '${key}' must be a non-negative decimal integer, got '${v}'`);
  }
  return Number(v);
}

/**
 * Reads external tensor bytes with a positioned read (no whole-file load: external files are often
 * larger than Node's 2 GiB readFile limit). The location must stay inside `baseDir`, after
 * resolving `..` and symbolic links.
 */
function readExternal(tp: ITensorProto, what: string, want: number, baseDir: string | undefined): Uint8Array {
  const kv = new Map<string, string>();
  for (const e of tp.externalData ?? []) if (e.key) kv.set(e.key, e.value ?? '');
  const location = kv.get('location');
  if (!location) throw externalError(what, "external data has no 'location' entry");
  if (baseDir === undefined) {
    throw externalError(what, `uses external data '${location}', but the model was given as bytes: pass options.baseDir (the model's folder)`);
  }
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || location.includes('\0')) {
    throw externalError(what, `external data location '${location}' is absolute; ONNX requires a path relative to the model's folder`);
  }
  const root = path.resolve(baseDir);
  const file = path.resolve(root, location);
  const escapes = (p: string, r: string) => {
    const rel = path.relative(r, p);
    return rel === '' || rel.startsWith('..') || path.isAbsolute(rel);
  };
  if (escapes(file, root)) throw externalError(what, `external data location '${location}' escapes the model folder '${root}'`);
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (e) {
    throw externalError(what, `external data file '${location}' not found in '${root}'`, e);
  }
  if (escapes(real, fs.realpathSync(root))) throw externalError(what, `external data location '${location}' resolves (through a link) outside the model folder`);

  const offset = parseDecimal(kv.get('offset'), 'offset', what) ?? 0;
  const length = parseDecimal(kv.get('length'), 'length', what);
  if (length !== undefined && length !== want) {
    throw externalError(what, `external data length ${length} does not match the ${want} bytes the tensor's dtype and dims need`);
  }
  let fd: number | undefined;
  try {
    fd = fs.openSync(real, 'r');
    const fileSize = fs.fstatSync(fd).size;
    if (offset + want > fileSize) {
      throw externalError(what, `external data '${location}' has ${fileSize} bytes; the tensor needs ${want} bytes at offset ${offset}`);
    }
    const out = new Uint8Array(want);
    let done = 0;
    while (done < want) {
      const n = fs.readSync(fd, out, done, want - done, offset + done);
      if (n <= 0) throw externalError(what, `external data '${location}' ended early`);
      done += n;
    }
    return out;
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    throw externalError(what, `cannot read external data '${location}': ${(e as Error).message}`, e);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
