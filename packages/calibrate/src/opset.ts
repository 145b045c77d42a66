/**
 * Raising a model's default-domain opset to 13 (what per-axis QuantizeLinear/DequantizeLinear need), rewriting
 * the nodes whose signature changed on the way: attributes that became inputs (Clip, Pad, Slice, TopK,
 * Squeeze/Unsqueeze, ReduceSum, Split), Dropout (ratio became an input: inference Identity), the Softmax family's
 * coerce-to-2-D semantics before 13 (made explicit with Flatten → op → Reshape). Ops whose old semantics cannot be
 * expressed locally (Upsample, Resize-10, legacy broadcast attributes, string Cast) are refused by name.
 */
import { KilnError } from '@kiln/core';
import { num } from './long';
import { onnx, type IAttributeProto, type IModelProto, type INodeProto, type ITensorProto } from './proto';

export const TARGET_OPSET = 13;

function attr(node: INodeProto, name: string): IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function dropAttrs(node: INodeProto, ...names: string[]): void {
  node.attribute = (node.attribute ?? []).filter((a) => !names.includes(a.name ?? ''));
}

function ints(a: IAttributeProto | undefined): number[] | undefined {
  return a?.ints?.map((v) => num(v));
}

export interface Rewriter {
  /** A fresh tensor name based on `base`. */
  fresh(base: string): string;
  addInitializer(t: ITensorProto): void;
  /** Whether a tensor is read by some node or is a graph output. */
  isConsumed(name: string): boolean;
}

export function int64Tensor(name: string, values: number[], dims: number[] = [values.length]): ITensorProto {
  return onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.INT64, dims: dims.map((d) => d), int64Data: values.map((v) => v) });
}

export function floatTensor(name: string, values: number[], dims: number[] = [values.length]): ITensorProto {
  return onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: dims.map((d) => d), floatData: values });
}

function unsupported(node: INodeProto, from: number, why: string): KilnError {
  return new KilnError('KILN_E_UNSUPPORTED', `cannot raise the model from opset ${from} to ${TARGET_OPSET} for Q/DQ: node '${node.name || node.output?.[0]}' (${node.opType}) ${why}`);
}

/** Rewrites one node for opset 13; returns the replacement node list (usually [node]). */
function upgradeNode(node: INodeProto, from: number, rw: Rewriter): INodeProto[] {
  const op = node.opType ?? '';
  const name = node.name || node.output?.[0] || op;
  const attrToInput = (attrName: string, position: number, make: (v: number[]) => ITensorProto | undefined): void => {
    const a = attr(node, attrName);
    if (!a) return;
    const v = ints(a) ?? [];
    dropAttrs(node, attrName);
    const t = make(v);
    if (!t) return;
    rw.addInitializer(t);
    const inputs = [...(node.input ?? [])];
    while (inputs.length < position) inputs.push('');
    inputs[position] = t.name!;
    node.input = inputs;
  };
  switch (op) {
    case 'Dropout':
      if ((node.output ?? []).length > 1 && node.output![1] && rw.isConsumed(node.output![1])) throw unsupported(node, from, 'uses its mask output');
      return [onnx.NodeProto.create({ name, opType: 'Identity', input: [node.input![0]], output: [node.output![0]] })];
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      if (from >= 13) return [node];
      const axis = num(attr(node, 'axis')?.i ?? 1);
      const x = node.input![0];
      const flat = rw.fresh(`${name}_flat`);
      const shape = rw.fresh(`${name}_shape`);
      const y2 = rw.fresh(`${name}_2d`);
      return [
        onnx.NodeProto.create({ name: `${name}_flatten`, opType: 'Flatten', input: [x], output: [flat], attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis })] }),
        onnx.NodeProto.create({ name, opType: op, input: [flat], output: [y2], attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })] }),
        onnx.NodeProto.create({ name: `${name}_shapeof`, opType: 'Shape', input: [x], output: [shape] }),
        onnx.NodeProto.create({ name: `${name}_reshape`, opType: 'Reshape', input: [y2, shape], output: [node.output![0]] }),
      ];
    }
    case 'Clip':
      if (from < 11) {
        const min = attr(node, 'min');
        const max = attr(node, 'max');
        dropAttrs(node, 'min', 'max');
        const inputs = [node.input![0], '', ''];
        if (min) rw.addInitializer(floatTensor((inputs[1] = rw.fresh(`${name}_min`)), [Number(min.f)], []));
        if (max) rw.addInitializer(floatTensor((inputs[2] = rw.fresh(`${name}_max`)), [Number(max.f)], []));
        node.input = inputs;
      }
      return [node];
    case 'Pad':
      if (from < 11) {
        const value = attr(node, 'value');
        attrToInput('pads', 1, (v) => int64Tensor(rw.fresh(`${name}_pads`), v));
        attrToInput('paddings', 1, (v) => int64Tensor(rw.fresh(`${name}_pads`), v));
        dropAttrs(node, 'value');
        if (value) {
          const t = floatTensor(rw.fresh(`${name}_value`), [Number(value.f)], []);
          rw.addInitializer(t);
          node.input = [node.input![0], node.input![1], t.name!];
        }
      }
      return [node];
    case 'Slice':
      if (from < 10) {
        const axes = ints(attr(node, 'axes'));
        attrToInput('starts', 1, (v) => int64Tensor(rw.fresh(`${name}_starts`), v));
        attrToInput('ends', 2, (v) => int64Tensor(rw.fresh(`${name}_ends`), v));
        dropAttrs(node, 'axes');
        if (axes) {
          const t = int64Tensor(rw.fresh(`${name}_axes`), axes);
          rw.addInitializer(t);
          node.input = [...node.input!, t.name!];
        }
      }
      return [node];
    case 'TopK':
      if (from < 10) {
        const k = num(attr(node, 'k')?.i ?? 1);
        dropAttrs(node, 'k');
        const t = int64Tensor(rw.fresh(`${name}_k`), [k]);
        rw.addInitializer(t);
        node.input = [node.input![0], t.name!];
      }
      return [node];
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum':
      attrToInput('axes', 1, (v) => int64Tensor(rw.fresh(`${name}_axes`), v));
      return [node];
    case 'Split':
      attrToInput('split', 1, (v) => (v.length ? int64Tensor(rw.fresh(`${name}_split`), v) : undefined));
      return [node];
    case 'BatchNormalization':
      dropAttrs(node, 'is_test', 'spatial', 'consumed_inputs');
      return [node];
    case 'Concat':
      if (!attr(node, 'axis')) node.attribute = [...(node.attribute ?? []), onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })];
      return [node];
    case 'Upsample':
      throw unsupported(node, from, 'is removed in opset 10 and has no local rewrite; export the model with opset ≥ 11');
    case 'Resize':
      if (from < 11) throw unsupported(node, from, 'changed its coordinate semantics in opset 11; export the model with opset ≥ 11');
      return [node];
    case 'Cast':
      if (attr(node, 'to')?.s) throw unsupported(node, from, "uses the string 'to' of opset < 6");
      return [node];
    default:
      if (attr(node, 'broadcast') || (attr(node, 'axis') && ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less', 'PRelu'].includes(op))) {
        if (attr(node, 'axis')) throw unsupported(node, from, 'uses legacy broadcasting with an axis (opset < 7)');
        dropAttrs(node, 'broadcast');
      }
      dropAttrs(node, 'consumed_inputs');
      return [node];
  }
}

/** Raises the default-domain opset to ≥ 13 in place (IR version ≥ 7). No-op for models already there. */
export function upgradeOpset(model: IModelProto, rw: Rewriter): number {
  const imports = model.opsetImport ?? [];
  let imp = imports.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!imp) {
    imp = onnx.OperatorSetIdProto.create({ domain: '', version: 1 });
    imports.push(imp);
    model.opsetImport = imports;
  }
  const from = num(imp.version ?? 1);
  if (from >= TARGET_OPSET) return from;
  const g = model.graph!;
  const nodes: INodeProto[] = [];
  for (const node of g.node ?? []) {
    if (node.domain && node.domain !== 'ai.onnx') nodes.push(node);
    else nodes.push(...upgradeNode(node, from, rw));
  }
  g.node = nodes;
  imp.version = TARGET_OPSET;
  if (num(model.irVersion ?? 0) < 7) model.irVersion = 7;
  return from;
}
