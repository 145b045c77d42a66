/**
 * The ONNX graph as calibration needs it: nodes by op type and tensor names (for entropy2's scale sharing and
 * the Q/DQ writer), which tensors carry run-time data (inputs and everything computed from them, as opposed to
 * weights and folded constants), and an augmented copy of the model that exposes those tensors as graph
 * outputs (calibration.md §6) for statistics gathered from ordinary inference.
 */
import { KilnError } from '@kiln/core';
import { num } from './long';
import { onnx, type IModelProto } from './proto';
import type { GraphNode } from './calibrators/share';

export interface CalibGraph {
  nodes: GraphNode[];
  /** Runtime graph inputs (not initializers), in model order. */
  inputs: string[];
  outputs: string[];
  initializers: Set<string>;
  /** Float tensors whose values depend on a runtime input (the tensors worth calibrating), in topological order. */
  dynamic: string[];
  /** Producing op type per dynamic tensor ('input' for graph inputs). */
  producer: Map<string, string>;
  opsetVersion: number;
}

export function decodeModelBytes(bytes: Uint8Array, source = 'model'): IModelProto {
  try {
    const m = onnx.ModelProto.decode(bytes);
    if (!m.graph) throw new Error('no graph');
    return m;
  } catch (e) {
    throw new KilnError('KILN_E_ONNX_INVALID', `${source}: not a readable ONNX model (${(e as Error).message})`);
  }
}

export function defaultOpset(model: IModelProto): number {
  const imp = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return imp ? num(imp.version ?? 1) : 1;
}

/** Ops whose outputs are never activations: shape/index computations and integer results. */
const NON_FLOAT_OPS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

export function calibGraph(model: IModelProto): CalibGraph {
  const g = model.graph!;
  const initializers = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  const floatInputs = new Set<string>();
  const inputs: string[] = [];
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (initializers.has(name)) continue;
    inputs.push(name);
    const elem = vi.type?.tensorType?.elemType ?? 0;
    // FLOAT, FLOAT16, DOUBLE, BFLOAT16
    if ([1, 10, 11, 16].includes(Number(elem))) floatInputs.add(name);
  }
  const nodes: GraphNode[] = (g.node ?? []).map((n, i) => ({
    opType: n.opType ?? '',
    name: n.name || `${n.opType ?? 'node'}_${i}`,
    inputs: (n.input ?? []).map(String),
    outputs: (n.output ?? []).map(String),
  }));
  const live = new Set<string>(inputs);
  const dynamic: string[] = [];
  const producer = new Map<string, string>();
  for (const name of inputs) {
    if (floatInputs.has(name)) {
      dynamic.push(name);
      producer.set(name, 'input');
    }
  }
  for (const n of nodes) {
    if (!n.inputs.some((i) => i && live.has(i))) continue;
    for (const [k, o] of n.outputs.entries()) {
      if (!o) continue;
      live.add(o);
      // Only the first output of multi-output ops is an activation here (Dropout's mask, TopK's indices…).
      if (NON_FLOAT_OPS.has(n.opType) || (k > 0 && n.opType !== 'Split')) continue;
      dynamic.push(o);
      producer.set(o, n.opType);
    }
  }
  return {
    nodes,
    inputs,
    outputs: (g.output ?? []).map((o) => o.name ?? ''),
    initializers,
    dynamic,
    producer,
    opsetVersion: defaultOpset(model),
  };
}
