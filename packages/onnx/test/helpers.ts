/** Test helpers: tiny ONNX models encoded with onnx-proto, and a fake native network that records layers. */
import { vi } from 'vitest';
import { onnx, type IAttributeProto, type ITensorProto, type IValueInfoProto } from '../src/proto';

// The real addon may not be built where unit tests run; the Network class only needs this surface.
vi.mock('@kiln/binding', () => ({ NativeNetwork: class {} }));

export const T = onnx.TensorProto.DataType;

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, number | number[] | string | { floats: number[] } | { float: number } | ITensorProto>;
}

export function attr(name: string, v: NonNullable<NodeSpec['attrs']>[string]): IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: A.INT, i: v } : { name, type: A.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if ('floats' in v) return { name, type: A.FLOATS, floats: (v as { floats: number[] }).floats };
  if ('float' in v) return { name, type: A.FLOAT, f: (v as { float: number }).float };
  return { name, type: A.TENSOR, t: v as ITensorProto };
}

export function valueInfo(name: string, elemType: number, dims: Array<number | string | null>): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) },
      },
    },
  };
}

export function makeModel(spec: {
  opset?: number;
  nodes: NodeSpec[];
  inputs: IValueInfoProto[];
  outputs: IValueInfoProto[];
  initializers?: ITensorProto[];
  extraOpsets?: Array<{ domain: string; version: number }>;
}): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'kiln-test',
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }, ...(spec.extraOpsets ?? [])],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `n${i}`,
        opType: n.op,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v)),
      })),
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface RecordedLayer {
  name: string;
  kind: Record<string, unknown>;
  inputs: Array<number | null>;
  outputs: number[];
}

interface FakeTensor {
  name: string;
  dtype: string;
  dims: number[];
  data?: Uint8Array;
}

/**
 * Records layers; "infers" each output as a copy of input 0's dtype/dims (enough for the importer,
 * which only reads ranks and channel counts), with a few dtype rules the tests rely on.
 */
export class FakeNative {
  tensors: FakeTensor[] = [];
  layers: RecordedLayer[] = [];
  outputs: number[] = [];

  get numLayers(): number { return this.layers.length; }
  get numTensors(): number { return this.tensors.length; }

  addInput(name: string, dtype: string, dims: number[]): number {
    this.tensors.push({ name, dtype, dims });
    return this.tensors.length - 1;
  }
  addConstant(name: string, dtype: string, dims: number[], data: Uint8Array): number {
    this.tensors.push({ name, dtype, dims, data: new Uint8Array(data) });
    return this.tensors.length - 1;
  }
  addLayer(name: string, kindJson: string, inputs: Array<number | null>): number[] {
    const kind = JSON.parse(kindJson) as Record<string, unknown>;
    const first = inputs[0] != null ? this.tensors[inputs[0]!]! : { dtype: 'float32', dims: [] };
    const n = kind.type === 'split' ? (kind.numOutputs as number) : kind.type === 'topK' ? 2 : 1;
    const outputs: number[] = [];
    for (let i = 0; i < n; i++) {
      let dtype = first.dtype;
      if (kind.type === 'cast') dtype = kind.to as string;
      if (kind.type === 'shape' || kind.type === 'argMinMax' || (kind.type === 'topK' && i === 1)) dtype = 'int64';
      if (kind.type === 'fill') dtype = kind.dtype as string;
      this.tensors.push({ name: i === 0 ? name : `${name}:${i}`, dtype, dims: [...first.dims] });
      outputs.push(this.tensors.length - 1);
    }
    this.layers.push({ name, kind, inputs, outputs });
    return outputs;
  }
  tensorInfo(id: number) {
    const t = this.tensors[id]!;
    return { name: t.name, dtype: t.dtype, dims: t.dims, isConstant: t.data !== undefined };
  }
  constantValue(id: number) {
    const t = this.tensors[id]!;
    return t.data ? { dtype: t.dtype, dims: t.dims, data: Buffer.from(t.data) } : null;
  }
  setTensorName(id: number, name: string): void {
    if (this.tensors.some((t, i) => t.name === name && i !== id)) throw Object.assign(new Error(`a tensor named '${name}' already exists`), { code: 'KILN_E_INVALID_NETWORK' });
    this.tensors[id]!.name = name;
  }
  markOutput(id: number): void {
    this.outputs.push(id);
  }
  /** The layer types in order. */
  types(): string[] {
    return this.layers.map((l) => l.kind.type as string);
  }
}

export function floatTensor(name: string, dims: number[], values: number[]): ITensorProto {
  return { name, dataType: T.FLOAT, dims, floatData: values };
}

export function int64Tensor(name: string, values: number[], dims: number[] = [values.length]): ITensorProto {
  return { name, dataType: T.INT64, dims, int64Data: values };
}
