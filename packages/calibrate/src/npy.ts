/**
 * NumPy `.npy` reader/writer (the one implementation, shared by @kiln/calibrate's datasets and the CLI) (format versions 1.0, 2.0 and 3.0; C order; little-endian).
 * Spec: numpy/lib/format.py. The header is a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, padded with spaces and a final
 * newline so that the data starts on a 64-byte boundary.
 */
/**
 * A coded error without importing @kiln/core: this module is also the CLI's npy reader (`@kiln/calibrate/npy`),
 * which must load without the native addon. `code` follows the KILN_E_… vocabulary.
 */
export class NpyError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'NpyError';
    this.code = code;
  }
}

const INVALID_INPUT = 'KILN_E_INVALID_INPUT';

export type NpyDType =
  | 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16'
  | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

export type NpyData =
  | Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array | Int16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface NpyArray {
  dtype: NpyDType;
  dims: number[];
  data: NpyData;
}

interface DTypeInfo {
  descr: string;
  size: number;
  make: (buf: ArrayBuffer, count: number) => NpyData;
}

const DTYPES: Record<NpyDType, DTypeInfo> = {
  float32: { descr: '<f4', size: 4, make: (b, n) => new Float32Array(b, 0, n) },
  float64: { descr: '<f8', size: 8, make: (b, n) => new Float64Array(b, 0, n) },
  float16: { descr: '<f2', size: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  int8: { descr: '|i1', size: 1, make: (b, n) => new Int8Array(b, 0, n) },
  uint8: { descr: '|u1', size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  int16: { descr: '<i2', size: 2, make: (b, n) => new Int16Array(b, 0, n) },
  uint16: { descr: '<u2', size: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  int32: { descr: '<i4', size: 4, make: (b, n) => new Int32Array(b, 0, n) },
  uint32: { descr: '<u4', size: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  int64: { descr: '<i8', size: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  uint64: { descr: '<u8', size: 8, make: (b, n) => new BigUint64Array(b, 0, n) },
  bool: { descr: '|b1', size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Maps a descr string to a dtype. '|' and '<' (and '=' , native on every platform Kiln runs on)
 * are accepted for one-byte types because writers differ; '>' (big-endian) is refused. */
function dtypeOfDescr(descr: string, where: string): NpyDType {
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) {
    throw new NpyError(INVALID_INPUT, `${where}: unsupported .npy dtype '${descr}' (Kiln reads numeric and bool arrays only)`);
  }
  const [, order, kind, size] = m;
  if (order === '>' && size !== '1') {
    throw new NpyError(INVALID_INPUT, `${where}: big-endian .npy dtype '${descr}' is not supported; save it little-endian, e.g. arr.astype('<${kind}${size}')`);
  }
  const key = `${kind}${size}`;
  const found = (Object.keys(DTYPES) as NpyDType[]).find((d) => DTYPES[d].descr.slice(1) === key);
  if (!found) {
    throw new NpyError(INVALID_INPUT, `${where}: unsupported .npy dtype '${descr}'; supported: ${Object.values(DTYPES).map((d) => d.descr).join(' ')}`);
  }
  return found;
}

/** Parses the header dict. Only the three keys numpy writes are read; anything else is refused
 * rather than guessed at. */
function parseHeader(text: string, where: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape || !/^\s*\{[\s\S]*\}\s*$/.test(text)) {
    throw new NpyError(INVALID_INPUT, `${where}: malformed .npy header ${JSON.stringify(text.trim())}; expected {'descr': …, 'fortran_order': …, 'shape': (…)}`);
  }
  const dims: number[] = [];
  for (const part of shape[1].split(',')) {
    const p = part.trim().replace(/L$/, ''); // Python 2 writers append L to longs
    if (p === '') continue;
    if (!/^\d+$/.test(p)) throw new NpyError(INVALID_INPUT, `${where}: malformed .npy shape '(${shape[1]})'`);
    const d = Number(p);
    if (!Number.isSafeInteger(d)) throw new NpyError(INVALID_INPUT, `${where}: .npy dimension ${p} is too large`);
    dims.push(d);
  }
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

/** What a `.npy` header says: element type, shape and where the data starts. */
export interface NpyHeader {
  dtype: NpyDType;
  dims: number[];
  dataOffset: number;
  /** Bytes of element data the shape needs. */
  dataBytes: number;
}

/**
 * Parses only the header (the first bytes of the file are enough: 10/12 + header length), so datasets can be
 * indexed without reading every array.
 */
export function readNpyHeader(bytes: Uint8Array, where = '.npy'): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NpyError(INVALID_INPUT, `${where}: not a .npy file (missing \\x93NUMPY magic)`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyError(INVALID_INPUT, `${where}: truncated .npy header`);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new NpyError(INVALID_INPUT, `${where}: unsupported .npy format version ${major}.${bytes[7]} (1.0, 2.0 and 3.0 are supported)`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) throw new NpyError(INVALID_INPUT, `${where}: truncated .npy header`);
  // v1/v2 headers are latin1, v3 headers utf8 (the only difference between v2 and v3).
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const header = parseHeader(text, where);
  if (header.fortran) {
    throw new NpyError(INVALID_INPUT, `${where}: fortran_order arrays are not supported; save a C-ordered array (np.ascontiguousarray(arr))`);
  }
  const dtype = dtypeOfDescr(header.descr, where);
  let count = 1;
  for (const d of header.shape) count *= d;
  const dataBytes = count * DTYPES[dtype].size;
  if (!Number.isSafeInteger(dataBytes)) throw new NpyError(INVALID_INPUT, `${where}: .npy shape (${header.shape.join(', ')}) is too large`);
  return { dtype, dims: header.shape, dataOffset: dataStart, dataBytes };
}

/** Reads a `.npy` file's bytes. `where` (usually the file path) prefixes every error message. */
export function readNpy(bytes: Uint8Array, where = '.npy'): NpyArray {
  const { dtype, dims, dataOffset, dataBytes } = readNpyHeader(bytes, where);
  const info = DTYPES[dtype];
  const have = bytes.length - dataOffset;
  if (have !== dataBytes) {
    throw new NpyError(INVALID_INPUT, `${where}: .npy data is ${have} bytes but shape (${dims.join(', ')}) of ${info.descr} needs ${dataBytes}`);
  }
  // Copy into a fresh buffer: the data offset is rarely aligned to the element size.
  const buf = new ArrayBuffer(dataBytes);
  new Uint8Array(buf).set(bytes.subarray(dataOffset));
  return { dtype, dims, data: info.make(buf, dataBytes / info.size) };
}

/** Writes a C-ordered little-endian `.npy` (version 1.0, or 2.0 when the header needs it). */
export function writeNpy(arr: NpyArray): Uint8Array {
  const info = DTYPES[arr.dtype];
  if (!info) throw new NpyError(INVALID_INPUT, `cannot write dtype '${arr.dtype}' to .npy`);
  let count = 1;
  for (const d of arr.dims) count *= d;
  if (arr.data.length !== count) {
    throw new NpyError(INVALID_INPUT, `cannot write .npy: ${arr.data.length} elements do not fill shape [${arr.dims.join(', ')}]`);
  }
  const shape = arr.dims.length === 1 ? `(${arr.dims[0]},)` : `(${arr.dims.join(', ')})`;
  const dict = `{'descr': '${info.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const encoded = new TextEncoder().encode(dict);
  let major = 1;
  let prefix = 10;
  if (encoded.length + 1 + prefix > 0xffff) {
    major = 2;
    prefix = 12;
  }
  const total = Math.ceil((prefix + encoded.length + 1) / 64) * 64;
  const headerLen = total - prefix;
  const out = new Uint8Array(total + count * info.size);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  out.set(encoded, prefix);
  out.fill(0x20, prefix + encoded.length, total - 1);
  out[total - 1] = 0x0a;
  // Every platform Kiln runs on is little-endian, so typed-array bytes are already '<'.
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, count * info.size), total);
  return out;
}
