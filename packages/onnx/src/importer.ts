/**
 * The graph walk: graph inputs → network inputs, initializers → constants (lazily, when a node uses
 * them; an initializer also listed as a graph input is a constant), nodes → layers through the op
 * registry, graph outputs → marked outputs with their ONNX names. Every unsupported node is collected
 * and reported at once; a node fed by an unsupported one is skipped silently (its cause is reported).
 */
import { KilnError, Network, type DataType, type NetworkTensor } from '@kiln/core';
import { dtypeFromOnnx, onnxTypeName } from './dtypes';
import { InvalidNodeError, OnnxError, UnsupportedNodeError, type UnsupportedNode } from './errors';
import type { DecodedModel, OnnxNode } from './model';
import { OpContext } from './ops/context';
import { OPS } from './ops/index';
import { decodeTensorProto } from './tensor-proto';
import { tryFold } from './fold';
import { errorMessage } from './errors';

export interface ImportOptions {
  /** Folder that external data locations are relative to. */
  baseDir?: string | undefined;
  /** Names the model in error messages (its path, or "<bytes>"). */
  source: string;
  /** Build into this network instead of a new one (tests substitute a fake native network). */
  network?: Network | undefined;
}

export interface ImportedModel {
  network: Network;
  inputs: Array<{ name: string; dtype: DataType; dims: number[] }>;
  outputs: Array<{ name: string; dtype: DataType; dims: number[] }>;
}

/** Marks values that could not be imported (their producer is reported as unsupported). */
const POISON = Symbol('unsupported');
type Value = NetworkTensor | typeof POISON;

export function importModel(model: DecodedModel, options: ImportOptions): ImportedModel {
  return new Importer(model, options).run();
}

class Importer {
  private readonly net: Network;
  private readonly values = new Map<string, Value>();
  private readonly unsupported: UnsupportedNode[] = [];
  /** Every value name of the graph: internal layer names avoid them, so ONNX names stay free for their tensors. */
  private readonly reserved = new Set<string>();
  private readonly usedLayerNames = new Set<string>();
  /** Tensors that are graph inputs or constants (a graph output on one of them needs an Identity layer). */
  private readonly sourceIds = new Set<number>();
  /** Tensors that are graph inputs. */
  private readonly inputIds = new Set<number>();
  /** Tensors already carrying an ONNX value name. */
  private readonly namedIds = new Set<number>();
  private readonly source: string;
  private readonly opset: number;

  constructor(private readonly model: DecodedModel, private readonly options: ImportOptions) {
    this.net = options.network ?? new Network();
    this.source = options.source;
    this.opset = model.opsetVersion;
  }

  run(): ImportedModel {
    const g = this.model.graph;
    for (const v of g.inputs) this.reserved.add(v.name);
    for (const name of g.initializers.keys()) this.reserved.add(name);
    for (const n of g.nodes) for (const o of n.outputs) if (o) this.reserved.add(o);

    const inputs: ImportedModel['inputs'] = [];
    for (const v of g.inputs) {
      if (g.initializers.has(v.name)) continue; // an overridable default: imported as a constant
      if (!v.name) throw this.invalid('a graph input has no name');
      const dtype = v.isTensor ? dtypeFromOnnx(v.elemType) : null;
      const why = !v.isTensor
        ? 'only tensor inputs are supported (not sequence/map/optional)'
        : !dtype
          ? `element type ${onnxTypeName(v.elemType)} is not supported`
          : v.dims === null
            ? 'its rank is unknown (the model gives no shape); Kiln needs at least the rank'
            : null;
      if (why) {
        this.unsupported.push({ name: v.name, opType: '(graph input)', domain: '', opset: this.opset, reason: why });
        this.values.set(v.name, POISON);
        continue;
      }
      const t = this.net.addInput(v.name, dtype!, v.dims!);
      this.sourceIds.add(t.id);
      this.inputIds.add(t.id);
      this.namedIds.add(t.id);
      this.values.set(v.name, t);
      inputs.push({ name: v.name, dtype: dtype!, dims: [...v.dims!] });
    }

    for (const node of g.nodes) this.importNode(node);
    if (this.unsupported.length > 0) throw OnnxError.unsupported(this.unsupported, this.source);

    const outputs: ImportedModel['outputs'] = [];
    for (const o of g.outputs) {
      if (!o.name) throw this.invalid('a graph output has no name');
      const v = this.lookup(o.name, '(graph output)');
      if (v === undefined) throw this.invalid(`graph output '${o.name}' is not produced by any node, input or initializer`);
      if (v === POISON) continue; // unreachable: poison implies a reported unsupported node
      let t = v;
      if (this.sourceIds.has(t.id) && t.name === o.name) {
        if (this.inputIds.has(t.id)) {
          throw OnnxError.unsupported(
            [{ name: o.name, opType: '(graph output)', domain: '', opset: this.opset, reason: 'it is also a graph input of the same name; Kiln needs distinct input and output names' }],
            this.source,
          );
        }
        // A constant's own name is not semantic: free it for the output's Identity layer.
        t = this.net.setTensorName(t, this.layerName(`${o.name}/value`));
      }
      if (this.sourceIds.has(t.id) || outputs.some((x) => x.name !== o.name && this.values.get(x.name) === t)) {
        // A graph output that is an input or constant (or duplicates another output) gets its own layer.
        t = this.net.addIdentity(t, { name: this.layerName(`${o.name}/identity`) });
      }
      const marked = this.net.markOutput(t, o.name);
      outputs.push({ name: o.name, dtype: marked.dtype, dims: [...marked.dims] });
    }
    return { network: this.net, inputs, outputs };
  }

  private invalid(message: string, cause?: unknown): OnnxError {
    return new OnnxError('KILN_E_ONNX_INVALID', `${this.source}: ${message}`, cause === undefined ? undefined : { cause });
  }

  /** A value by ONNX name: an imported tensor, an initializer (imported now), or undefined. */
  private lookup(name: string, user: string): Value | undefined {
    const v = this.values.get(name);
    if (v !== undefined) return v;
    const init = this.model.graph.initializers.get(name);
    if (!init) return undefined;
    try {
      const tensor = decodeTensorProto(init, `initializer '${name}'`, { baseDir: this.options.baseDir });
      const t = this.net.addConstant(tensor, name);
      this.sourceIds.add(t.id);
      this.namedIds.add(t.id);
      this.values.set(name, t);
      return t;
    } catch (e) {
      if (e instanceof UnsupportedNodeError) {
        this.unsupported.push({ name, opType: '(initializer)', domain: '', opset: this.opset, reason: e.message });
        this.values.set(name, POISON);
        return POISON;
      }
      if (e instanceof InvalidNodeError) throw this.invalid(`${e.message} (used by ${user})`, e);
      throw e;
    }
  }

  private layerName(wanted: string): string {
    let name = wanted;
    for (let i = 1; this.reserved.has(name) || this.usedLayerNames.has(name); i++) name = `${wanted}#${i}`;
    this.usedLayerNames.add(name);
    return name;
  }

  private importNode(node: OnnxNode): void {
    const label = node.name || `${node.opType}_${node.index}`;
    const where = `node '${label}' (${node.opType})`;
    const poisonOutputs = () => {
      for (const o of node.outputs) if (o) this.values.set(o, POISON);
    };
    const report = (reason: string) => {
      this.unsupported.push({ name: label, opType: node.opType, domain: node.domain, opset: this.model.opsets.get(node.domain) ?? this.opset, reason });
      poisonOutputs();
    };

    if (node.domain !== '') return report(`domain '${node.domain}' is not supported (Kiln maps only the default ONNX domain)`);
    const mapper = OPS[node.opType];
    if (!mapper) {
      return report(node.attrs.hasGraph() ? 'control flow / subgraph ops are not supported' : `op '${node.opType}' is not supported by Kiln`);
    }
    const inputs: (NetworkTensor | null)[] = [];
    let poisoned = false;
    for (const name of node.inputs) {
      if (name === '') {
        inputs.push(null);
        continue;
      }
      const v = this.lookup(name, where);
      if (v === undefined) throw this.invalid(`${where}: input '${name}' is not a graph input, initializer or earlier node output`);
      if (v === POISON) poisoned = true;
      else inputs.push(v);
    }
    if (poisoned) return poisonOutputs();

    const folded = tryFold(node, this.opset, this.net, inputs);
    if (folded) {
      const t = this.net.addConstant(folded, node.outputs[0]);
      this.sourceIds.add(t.id);
      this.namedIds.add(t.id);
      this.values.set(node.outputs[0]!, t);
      return;
    }
    const ctx = new OpContext(this.net, node, this.opset, inputs, this.layerName(label), this.options.baseDir);
    let results: Array<NetworkTensor | null>;
    try {
      results = mapper(ctx);
    } catch (e) {
      if (e instanceof UnsupportedNodeError) return report(e.message);
      if (e instanceof InvalidNodeError) throw this.invalid(`${where}: ${e.message}`, e);
      if (e instanceof OnnxError) throw e;
      if (e instanceof KilnError) {
        // Layer kinds or dtypes the core does not implement are unsupported nodes, reported with the others.
        if (e.code === 'KILN_E_UNSUPPORTED' || e.code === 'KILN_E_UNSUPPORTED_DTYPE') return report(e.message);
        throw new KilnError(e.code, `${this.source}: ${where}: ${e.message}`, { cause: e });
      }
      throw this.invalid(`${where}: ${errorMessage(e)}`, e);
    }

    node.outputs.forEach((name, i) => {
      if (!name) return;
      let t = results[i];
      if (!t) throw this.invalid(`${where}: output ${i} ('${name}') is not produced by Kiln's mapping of this op`);
      if (this.namedIds.has(t.id)) t = this.net.addIdentity(t, { name: this.layerName(`${label}/${name}`) });
      if (t.name !== name) {
        try {
          t = this.net.setTensorName(t, name);
        } catch {
          // Intermediate names are cosmetic (graph outputs are renamed, and checked, by markOutput).
        }
      }
      this.namedIds.add(t.id);
      // Constant nodes yield constants, not layer outputs: a graph output on one needs an Identity too.
      if (node.opType === 'Constant') this.sourceIds.add(t.id);
      this.values.set(name, t);
    });
  }
}
