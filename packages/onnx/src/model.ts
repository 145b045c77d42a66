/**
 * Decoding with onnx-proto and normalising into a small IR the rest of the front end uses: numbers
 * instead of Long, arrays instead of null, the default-domain opset resolved, dims as numbers (-1 dynamic).
 */
import { Attributes } from './attributes';
import { InvalidNodeError, OnnxError } from './errors';
import { toClampedNumber, toSafeNumber } from './long';
import { has, onnx, type IGraphProto, type ITensorProto, type IValueInfoProto } from './proto';

export interface OnnxValueInfo {
  name: string;
  /** ONNX element type number; 0 when unknown or not a tensor. */
  elemType: number;
  /** false for sequence/map/optional types. */
  isTensor: boolean;
  /** null when the rank is unknown; -1 for each dynamic dim (dim_param or neither value nor param). */
  dims: number[] | null;
}

export interface OnnxNode {
  index: number;
  name: string;
  opType: string;
  /** '' for the default domain ('ai.onnx' is normalised to ''). */
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Attributes;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: Map<string, ITensorProto>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface DecodedModel {
  irVersion: number;
  producer: string;
  /** Imported opset per domain ('' = default). */
  opsets: Map<string, number>;
  /** Opset of the default domain. */
  opsetVersion: number;
  graph: OnnxGraph;
}

export function normalizeDomain(d: string | null | undefined): string {
  return !d || d === 'ai.onnx' ? '' : d;
}

function valueInfo(v: IValueInfoProto, what: string): OnnxValueInfo {
  const name = v.name ?? '';
  const tt = v.type?.tensorType;
  if (!tt) return { name, elemType: 0, isTensor: !v.type || !(v.type.sequenceType || v.type.mapType || v.type.optionalType), dims: null };
  const shape = tt.shape;
  const dims = shape
    ? (shape.dim ?? []).map((d, i) => {
        if (has(d, 'dimValue')) {
          const n = toSafeNumber(d.dimValue, `${what} '${name}': dim ${i}`);
          return n < 0 ? -1 : n;
        }
        return -1;
      })
    : null;
  return { name, elemType: tt.elemType ?? 0, isTensor: true, dims };
}

function normalizeGraph(g: IGraphProto, source: string): OnnxGraph {
  const initializers = new Map<string, ITensorProto>();
  for (const t of g.initializer ?? []) {
    if (!t.name) throw new OnnxError('KILN_E_ONNX_INVALID', `${source}: an initializer has no name`);
    initializers.set(t.name, t);
  }
  if ((g.sparseInitializer?.length ?? 0) > 0) {
    for (const s of g.sparseInitializer!) {
      const n = s.values?.name ?? '';
      // Recorded as an unsupported placeholder: the importer reports it only if a node uses it.
      initializers.set(n, { name: n, dataType: -1 } as ITensorProto);
    }
  }
  const nodes = (g.node ?? []).map((n, index) => ({
    index,
    name: n.name ?? '',
    opType: n.opType ?? '',
    domain: normalizeDomain(n.domain),
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attrs: new Attributes(n.attribute),
  }));
  return {
    name: g.name ?? '',
    nodes,
    initializers,
    inputs: (g.input ?? []).map((v) => valueInfo(v, 'graph input')),
    outputs: (g.output ?? []).map((v) => valueInfo(v, 'graph output')),
  };
}

/** Decodes and normalises a model. `source` names the file (or "<bytes>") in errors. */
export function decodeModel(bytes: Uint8Array, source: string): DecodedModel {
  let m: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxError('KILN_E_ONNX_INVALID', `${source}: not a readable ONNX model (protobuf decode failed: ${(e as Error).message})`, { cause: e });
  }
  if (!m.graph) throw new OnnxError('KILN_E_ONNX_INVALID', `${source}: the model has no graph (is this an ONNX model file?)`);
  try {
    const opsets = new Map<string, number>();
    for (const o of m.opsetImport ?? []) opsets.set(normalizeDomain(o.domain), toClampedNumber(o.version ?? 0, 'opset_import version'));
    // ONNX: a model that imports no default-domain opset (IR < 3) uses opset 1.
    const opsetVersion = opsets.get('') ?? 1;
    return {
      irVersion: toClampedNumber(m.irVersion ?? 0, 'ir_version'),
      producer: [m.producerName ?? '', m.producerVersion ?? ''].filter(Boolean).join(' '),
      opsets,
      opsetVersion,
      graph: normalizeGraph(m.graph, source),
    };
  } catch (e) {
    if (e instanceof OnnxError) throw e;
    if (e instanceof InvalidNodeError) throw new OnnxError('KILN_E_ONNX_INVALID', `${source}: ${e.message}`, { cause: e });
    throw new OnnxError('KILN_E_ONNX_INVALID', `${source}: malformed model: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}
