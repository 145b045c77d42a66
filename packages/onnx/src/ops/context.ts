/** What an op mapper gets: the node, its resolved inputs, and helpers over the public Network API. */
import { Tensor, type DataType, type Network, type NetworkTensor } from '@kiln/core';
import type { Attributes } from '../attributes';
import { float32ToFloat16Bits } from '../dtypes';
import { InvalidNodeError, UnsupportedNodeError } from '../errors';
import type { OnnxNode } from '../model';

export class OpContext {
  private subCount = 0;

  constructor(
    readonly net: Network,
    readonly node: OnnxNode,
    /** Opset of the node's domain (the default domain for every op Kiln maps). */
    readonly opset: number,
    /** Resolved inputs, aligned with node.inputs; null for empty (omitted optional) names. */
    readonly inputs: readonly (NetworkTensor | null)[],
    /** Unique base name for this node's layers. */
    readonly name: string,
    /** The model's folder, for external data of Constant attributes. */
    readonly baseDir?: string,
  ) {}

  get attrs(): Attributes {
    return this.node.attrs;
  }

  /** Required input `i`. */
  input(i: number): NetworkTensor {
    const t = this.inputs[i];
    if (!t) throw new InvalidNodeError(`input ${i} is required but ${i < this.node.inputs.length ? 'empty' : 'missing'}`);
    return t;
  }

  /** Optional input `i` (null when absent or empty). */
  optInput(i: number): NetworkTensor | null {
    return this.inputs[i] ?? null;
  }

  /** Number of node outputs the model actually uses (non-empty names). */
  outputWanted(i: number): boolean {
    return (this.node.outputs[i] ?? '') !== '';
  }

  /** A unique layer/constant name for a helper of this node. */
  sub(what: string): string {
    this.subCount++;
    return `${this.name}/${what}${this.subCount > 1 ? `_${this.subCount}` : ''}`;
  }

  unsupported(reason: string): never {
    throw new UnsupportedNodeError(reason);
  }

  invalid(message: string): never {
    throw new InvalidNodeError(message);
  }

  /** The build-time value of `t`, or null when it is only known at run time. */
  constValue(t: NetworkTensor | null): Tensor | null {
    return t ? this.net.constantValue(t) : null;
  }

  /** Input `i` as integers when it is a build-time constant; null when absent; unsupported when computed at run time. */
  constInts(i: number, what: string): number[] | null {
    const t = this.optInput(i);
    if (!t) return null;
    const v = this.net.constantValue(t);
    if (!v) this.unsupported(`${what} (input ${i}) must be a build-time constant (an initializer or Constant node), but it is computed at run time`);
    return Array.from(v.data as ArrayLike<number | bigint>, (x) => {
      const n = Number(x);
      if (!Number.isFinite(n)) this.invalid(`${what} holds a non-finite value`);
      return Math.trunc(n);
    });
  }

  /** Input `i` as numbers when constant (floats allowed); null when absent or computed at run time. */
  constNumbers(i: number): number[] | null {
    const t = this.optInput(i);
    const v = t ? this.net.constantValue(t) : null;
    if (!v) return null;
    if (v.type === 'float16') return Array.from(v.data as Uint16Array, halfToNumber);
    return Array.from(v.data as ArrayLike<number | bigint>, Number);
  }

  /** A scalar (or given dims) constant of `dtype`. */
  scalar(value: number, dtype: DataType, what: string, dims: number[] = []): NetworkTensor {
    return this.net.addConstant(makeFilled(dtype, value, dims), this.sub(what));
  }

  /** An int64 1-D constant. */
  int64s(values: readonly number[], what: string): NetworkTensor {
    return this.net.addConstant(new Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), [values.length]), this.sub(what));
  }

  /** Layer options naming the node's main layer. */
  get main(): { name: string } {
    return { name: this.name };
  }
}

/** A tensor of `dims` filled with `value` converted to `dtype`. */
export function makeFilled(dtype: DataType, value: number, dims: number[]): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  switch (dtype) {
    case 'int64': return new Tensor(dtype, new BigInt64Array(n).fill(BigInt(Math.trunc(value))), dims);
    case 'uint64': return new Tensor(dtype, new BigUint64Array(n).fill(BigInt(Math.max(0, Math.trunc(value)))), dims);
    case 'float16': return new Tensor(dtype, new Uint16Array(n).fill(float32ToFloat16Bits(value)), dims);
    case 'bool': return new Tensor(dtype, new Uint8Array(n).fill(value !== 0 ? 1 : 0), dims);
    default: {
      const t = new Tensor(dtype, new Array<number>(n).fill(0), dims);
      (t.data as Float32Array).fill(value);
      return t;
    }
  }
}

/** IEEE half bits → number. */
export function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A mapper returns one tensor (or null for unused outputs) per node output. */
export type OpMapper = (ctx: OpContext) => Array<NetworkTensor | null>;
export type OpTable = Record<string, OpMapper>;
