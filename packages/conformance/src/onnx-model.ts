/**
 * Independent look at an ONNX model through onnx-proto (not through Kiln's parser), so the runner can
 * classify tests (which ops they use, which inputs are Sequence/Optional) even when Kiln rejects them.
 */
import onnxProto from 'onnx-proto';
import type { DataType } from '@kiln/core';

const { onnx } = onnxProto;

export type ValueKind = 'tensor' | 'sequence' | 'optional' | 'map' | 'sparse' | 'unknown';

export interface ValueSummary {
  name: string;
  kind: ValueKind;
  /** Kiln dtype of a tensor value, or null when Kiln has no such dtype (string, bfloat16, float8, int4, complex…). */
  dtype: DataType | null;
  /** ONNX element type name (for messages). */
  elemType: string;
  /** dim_value, or -1 for a symbolic/unknown dim; null when the rank is unknown. */
  dims: number[] | null;
}

export interface ModelSummary {
  /** `op` for the default domain, `domain:op` otherwise; includes ops inside subgraphs (If/Loop/Scan bodies). */
  ops: string[];
  /** Op of each top-level node in order. */
  topLevelOps: string[];
  /** Graph inputs that are not initializers, in order (the `input_<k>.pb` order). */
  inputs: ValueSummary[];
  outputs: ValueSummary[];
}

/** ONNX TensorProto.DataType → Kiln dtype (null: Kiln lacks it). */
const ELEM_TYPES: Record<number, [string, DataType | null]> = {
  1: ['FLOAT', 'float32'], 2: ['UINT8', 'uint8'], 3: ['INT8', 'int8'], 4: ['UINT16', 'uint16'], 5: ['INT16', 'int16'],
  6: ['INT32', 'int32'], 7: ['INT64', 'int64'], 8: ['STRING', null], 9: ['BOOL', 'bool'], 10: ['FLOAT16', 'float16'],
  11: ['DOUBLE', 'float64'], 12: ['UINT32', 'uint32'], 13: ['UINT64', 'uint64'], 14: ['COMPLEX64', null], 15: ['COMPLEX128', null],
  16: ['BFLOAT16', null], 17: ['FLOAT8E4M3FN', null], 18: ['FLOAT8E4M3FNUZ', null], 19: ['FLOAT8E5M2', null],
  20: ['FLOAT8E5M2FNUZ', null], 21: ['UINT4', null], 22: ['INT4', null], 23: ['FLOAT4E2M1', null], 24: ['FLOAT8E8M0', null],
  25: ['UINT2', null], 26: ['INT2', null],
};

export function elemTypeInfo(code: number): [string, DataType | null] {
  return ELEM_TYPES[code] ?? [`elem_type ${code}`, null];
}

function summarizeValue(v: onnxProto.onnx.IValueInfoProto): ValueSummary {
  const t = v.type ?? {};
  const name = v.name ?? '';
  if (t.tensorType) {
    const [elemType, dtype] = elemTypeInfo(t.tensorType.elemType ?? 0);
    const dims = t.tensorType.shape
      ? (t.tensorType.shape.dim ?? []).map((d) => (d.dimValue != null && d.dimParam == null ? Number(d.dimValue) : -1))
      : null;
    return { name, kind: 'tensor', dtype, elemType, dims };
  }
  const kind: ValueKind = t.sequenceType ? 'sequence' : t.optionalType ? 'optional' : t.mapType ? 'map' : t.sparseTensorType ? 'sparse' : 'unknown';
  return { name, kind, dtype: null, elemType: kind, dims: null };
}

function collectOps(graph: onnxProto.onnx.IGraphProto, out: Set<string>): void {
  for (const node of graph.node ?? []) {
    const domain = node.domain && node.domain !== 'ai.onnx' ? node.domain : '';
    out.add(domain ? `${domain}:${node.opType}` : String(node.opType));
    for (const attr of node.attribute ?? []) {
      if (attr.g) collectOps(attr.g, out);
      for (const g of attr.graphs ?? []) collectOps(g, out);
    }
  }
}

export function summarizeModel(bytes: Uint8Array): ModelSummary {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph ?? {};
  const inits = new Set((graph.initializer ?? []).map((i) => i.name ?? ''));
  const ops = new Set<string>();
  collectOps(graph, ops);
  return {
    ops: [...ops].sort(),
    topLevelOps: (graph.node ?? []).map((n) => String(n.opType)),
    inputs: (graph.input ?? []).filter((i) => !inits.has(i.name ?? '')).map(summarizeValue),
    outputs: (graph.output ?? []).map(summarizeValue),
  };
}
