/** The one place `@kiln/core` touches the native binding besides `network.ts`: tensor conversion and errors. */
import * as binding from '@kiln/binding';
import type { NativeTensor } from '@kiln/binding';
import { Tensor, isDataType, typedArrayFor, type TypedArray } from './tensor';
import { KilnError } from './errors';

export { binding };

/** A tensor as the binding takes it: the Buffer views the tensor's memory (no copy). */
export function toNative(name: string, t: Tensor): NativeTensor {
  const d = t.data;
  return { name, dtype: t.type, dims: [...t.dims], data: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
}

/** A binding output as a `Tensor`; views the bytes when aligned for the element type, copies otherwise. */
export function fromNative(t: { dtype: string; dims: number[]; data: Uint8Array }): Tensor {
  if (!isDataType(t.dtype)) {
    throw new KilnError('KILN_E_INTERNAL', `the native binding returned an unknown dtype '${t.dtype}'`);
  }
  const Ctor = typedArrayFor(t.dtype);
  const { data } = t;
  if (data.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 && data.byteLength % Ctor.BYTES_PER_ELEMENT === 0) {
    const view = new Ctor(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength / Ctor.BYTES_PER_ELEMENT) as TypedArray;
    return new Tensor(t.dtype, view, t.dims);
  }
  return Tensor.fromBytes(t.dtype, data, t.dims);
}
