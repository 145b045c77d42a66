/** Element conversion from what a data file holds to the model input's dtype (numbers only, checked). */
import { KilnError, Tensor, type DataType, type TypedArray } from '@kiln/core';

const FLOATS = new Set<DataType>(['float32', 'float64']);
const INTS = new Set<DataType>(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32']);

/** Copies `data` (of `from`) into a typed array of `to`; float16 is converted through numbers, bigints through Number. */
export function convertData(data: TypedArray, from: DataType, to: DataType, where: string): TypedArray {
  if (from === to) return data;
  const ok = (FLOATS.has(to) && (FLOATS.has(from) || INTS.has(from) || from === 'bool')) || (INTS.has(to) && INTS.has(from));
  if (!ok) {
    throw new KilnError('KILN_E_UNSUPPORTED_DTYPE', `${where}: holds ${from} but the model input is ${to}; convert the data (e.g. arr.astype(...)) before calibrating`);
  }
  const out = new Tensor(to, new Array<number>(data.length).fill(0)).data as Exclude<TypedArray, BigInt64Array | BigUint64Array>;
  const src = data as ArrayLike<number>;
  for (let i = 0; i < out.length; i++) out[i] = src[i];
  if (INTS.has(to)) {
    for (let i = 0; i < out.length; i++) {
      if (out[i] !== src[i]) throw new KilnError('KILN_E_INVALID_VALUE', `${where}: value ${src[i]} does not fit the model input's ${to}`);
    }
  }
  return out;
}
