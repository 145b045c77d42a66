/**
 * Typed access to a node's attributes with defaults. Old exporters sometimes leave `type` unset
 * (UNDEFINED), so values are found by the field that is actually present, not only by `type`.
 */
import { InvalidNodeError } from './errors';
import { toClampedNumber } from './long';
import { has, type IAttributeProto, type ITensorProto } from './proto';

/** AttributeProto.AttributeType numbers. */
const T = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11 } as const;

const decoder = new TextDecoder();

export class Attributes {
  private readonly map = new Map<string, IAttributeProto>();

  constructor(list: readonly IAttributeProto[] | null | undefined) {
    for (const a of list ?? []) if (a.name) this.map.set(a.name, a);
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  /** True when any attribute holds a subgraph (If/Loop/Scan bodies). */
  hasGraph(): boolean {
    for (const a of this.map.values()) if (a.type === T.GRAPH || a.type === T.GRAPHS || has(a, 'g') || (a.graphs?.length ?? 0) > 0) return true;
    return false;
  }

  private get(name: string): IAttributeProto | undefined {
    return this.map.get(name);
  }

  int(name: string, def: number): number {
    const a = this.get(name);
    if (!a) return def;
    if (a.type === T.INT || has(a, 'i')) return toClampedNumber(a.i ?? 0, `attribute '${name}'`);
    if (a.type === 0 || a.type === undefined) return 0; // type unset and no value: proto3 default
    throw new InvalidNodeError(`attribute '${name}' must be an INT`);
  }

  optInt(name: string): number | undefined {
    return this.has(name) ? this.int(name, 0) : undefined;
  }

  float(name: string, def: number): number {
    const a = this.get(name);
    if (!a) return def;
    if (a.type === T.FLOAT || has(a, 'f')) return Number(a.f ?? 0);
    // Some exporters write integral float attributes as INT.
    if (a.type === T.INT || has(a, 'i')) return toClampedNumber(a.i ?? 0, `attribute '${name}'`);
    if (a.type === 0 || a.type === undefined) return 0;
    throw new InvalidNodeError(`attribute '${name}' must be a FLOAT`);
  }

  optFloat(name: string): number | undefined {
    return this.has(name) ? this.float(name, 0) : undefined;
  }

  string(name: string, def: string): string {
    const a = this.get(name);
    if (!a) return def;
    if (a.type === T.STRING || has(a, 's')) return decoder.decode(a.s ?? new Uint8Array());
    if (a.type === 0 || a.type === undefined) return '';
    throw new InvalidNodeError(`attribute '${name}' must be a STRING`);
  }

  ints(name: string): number[] | undefined {
    const a = this.get(name);
    if (!a) return undefined;
    if (a.type === T.INTS || (a.ints?.length ?? 0) > 0 || a.type === 0 || a.type === undefined) {
      return (a.ints ?? []).map((v, i) => toClampedNumber(v, `attribute '${name}'[${i}]`));
    }
    if (a.type === T.INT) return [toClampedNumber(a.i ?? 0, `attribute '${name}'`)];
    throw new InvalidNodeError(`attribute '${name}' must be INTS`);
  }

  floats(name: string): number[] | undefined {
    const a = this.get(name);
    if (!a) return undefined;
    if (a.type === T.FLOATS || (a.floats?.length ?? 0) > 0 || a.type === 0 || a.type === undefined) return (a.floats ?? []).map(Number);
    if (a.type === T.FLOAT) return [Number(a.f ?? 0)];
    throw new InvalidNodeError(`attribute '${name}' must be FLOATS`);
  }

  strings(name: string): string[] | undefined {
    const a = this.get(name);
    if (!a) return undefined;
    return (a.strings ?? []).map((s) => decoder.decode(s));
  }

  tensor(name: string): ITensorProto | undefined {
    const a = this.get(name);
    if (!a) return undefined;
    if (a.type === T.TENSOR || has(a, 't')) {
      if (!a.t) throw new InvalidNodeError(`attribute '${name}' has no tensor value`);
      return a.t;
    }
    throw new InvalidNodeError(`attribute '${name}' must be a TENSOR`);
  }

  /** The raw attribute type number (for Constant's `value_*` dispatch). */
  typeOf(name: string): number | undefined {
    return this.get(name)?.type ?? undefined;
  }
}

export const AttributeType = T;
