/**
 * Tensors as the JS side sees them: the same shape as onnxruntime's `Tensor` (type, data, dims, size), so code
 * written for onnxruntime-node reads the same with Kiln.
 */
import { KilnError } from './errors';

export type DataType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** The typed array class that holds each dtype (float16 is kept as raw IEEE half bits, bool as 0/1 bytes). */
const ARRAY_OF: { readonly [T in DataType]: TypedArrayConstructor } = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

export const DATA_TYPES: readonly DataType[] = Object.keys(ARRAY_OF) as DataType[];

/** Bytes per element of each dtype. */
export function dataTypeSize(type: DataType): number {
  return ARRAY_OF[type].BYTES_PER_ELEMENT;
}

export function isDataType(value: unknown): value is DataType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ARRAY_OF, value);
}

/** The typed array class that holds `type`'s elements. */
export function typedArrayFor(type: DataType): TypedArrayConstructor {
  return ARRAY_OF[type];
}

function isBigIntType(type: DataType): boolean {
  return type === 'int64' || type === 'uint64';
}

/** Number of elements of `dims`; throws a coded error on negative, fractional or unsafe dims. */
export function shapeSize(dims: readonly number[], what = 'tensor'): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new KilnError(
        'KILN_E_INVALID_INPUT',
        `${what}: dimension ${String(d)} in [${dims.join(', ')}] is not a non-negative integer`,
      );
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new KilnError('KILN_E_TENSOR_TOO_LARGE', `${what}: shape [${dims.join(', ')}] has too many elements`);
    }
  }
  return n;
}

export class Tensor {
  readonly type: DataType;
  readonly data: TypedArray;
  readonly dims: readonly number[];
  readonly size: number;

  /**
   * @param type element type
   * @param data a typed array of the dtype's class (used as is, not copied) or plain numbers/bigints (converted)
   * @param dims the shape; defaults to 1-D `[data.length]`
   */
  constructor(type: DataType, data: TypedArray | readonly number[] | readonly bigint[], dims?: readonly number[]) {
    if (!isDataType(type)) {
      throw new KilnError('KILN_E_UNSUPPORTED_DTYPE', `unknown tensor type '${String(type)}'; use one of ${DATA_TYPES.join(', ')}`);
    }
    const Ctor = ARRAY_OF[type];
    let array: TypedArray;
    if (Array.isArray(data)) {
      array = fromPlainArray(type, Ctor, data as readonly (number | bigint | boolean)[]);
    } else if (ArrayBuffer.isView(data)) {
      if (!(data instanceof Ctor)) {
        throw new KilnError(
          'KILN_E_INVALID_INPUT',
          `a ${type} tensor needs a ${Ctor.name}, got a ${(data as object).constructor.name}`,
        );
      }
      array = data;
    } else {
      throw new KilnError('KILN_E_INVALID_INPUT', `tensor data must be a typed array or an array of numbers/bigints`);
    }
    const shape = dims === undefined ? [array.length] : [...dims];
    const size = shapeSize(shape);
    if (size !== array.length) {
      throw new KilnError(
        'KILN_E_SHAPE_MISMATCH',
        `tensor data has ${array.length} elements but dims [${shape.join(', ')}] need ${size}`,
      );
    }
    this.type = type;
    this.data = array;
    this.dims = Object.freeze(shape);
    this.size = size;
  }

  /** The little-endian element bytes, viewing the tensor's own memory (no copy). */
  bytes(): Uint8Array {
    return new Uint8Array(this.data.buffer, this.data.byteOffset, this.data.byteLength);
  }

  /** Builds a tensor from little-endian element bytes (copied, so alignment never matters). */
  static fromBytes(type: DataType, bytes: Uint8Array, dims: readonly number[]): Tensor {
    if (!isDataType(type)) {
      throw new KilnError('KILN_E_UNSUPPORTED_DTYPE', `unknown tensor type '${String(type)}'`);
    }
    const Ctor = ARRAY_OF[type];
    const size = shapeSize(dims);
    if (bytes.byteLength !== size * Ctor.BYTES_PER_ELEMENT) {
      throw new KilnError(
        'KILN_E_SHAPE_MISMATCH',
        `${type} tensor of dims [${dims.join(', ')}] needs ${size * Ctor.BYTES_PER_ELEMENT} bytes, got ${bytes.byteLength}`,
      );
    }
    const buffer = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(buffer).set(bytes);
    return new Tensor(type, new Ctor(buffer) as TypedArray, dims);
  }
}

function fromPlainArray(type: DataType, Ctor: TypedArrayConstructor, values: readonly (number | bigint | boolean)[]): TypedArray {
  if (isBigIntType(type)) {
    const out = new (Ctor as BigInt64ArrayConstructor | BigUint64ArrayConstructor)(values.length);
    values.forEach((v, i) => {
      if (typeof v === 'bigint') out[i] = v;
      else if (typeof v === 'number' && Number.isInteger(v)) out[i] = BigInt(v);
      else throw new KilnError('KILN_E_INVALID_INPUT', `${type} tensor: element ${i} (${String(v)}) is not an integer`);
    });
    return out;
  }
  const out = new (Ctor as Exclude<TypedArrayConstructor, BigInt64ArrayConstructor | BigUint64ArrayConstructor>)(values.length);
  values.forEach((v, i) => {
    if (typeof v === 'bigint') out[i] = Number(v);
    else if (typeof v === 'boolean') out[i] = v ? 1 : 0;
    else if (typeof v === 'number') out[i] = type === 'bool' ? (v !== 0 ? 1 : 0) : v;
    else throw new KilnError('KILN_E_INVALID_INPUT', `${type} tensor: element ${i} is not a number`);
  });
  return out;
}
